"""The ``local`` executor: tasks in this process, in order, or in a pool of worker processes.

``workers: 1`` calls every task here, one after another, with the threads the run configured
(``train.threads``). ``workers: N`` starts N worker processes (``spawn``: fresh interpreters,
so no thread pool or CUDA state is inherited from the driver), sends them ``shared`` once each
when they start, and hands out tasks as workers become free. Each worker uses ``threads``
intra-op threads, by default the available cores divided by N.

A worker that dies (killed, out of memory) breaks the pool: the tasks that had not finished
run again in a new pool, at most ``max_retries`` times per run of :meth:`LocalExecutor.map`.
Each worker notes in shared memory which task it took, so the driver can say which task's worker
died and how (:class:`~mertk.api.TaskRetry`, then a :class:`~mertk.api.TaskFailure` whose
traceback lists every worker's exit status).
Workers end on their own when the driver dies.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Any

import pydantic

from mertk.api import TaskFailure, TaskRetry
from mertk.execution.cpus import default_threads
from mertk.execution.tasks import call, failure, prepare_worker

__all__ = ["LocalExecutor"]

_SHARED: Any = None  # what map() sent to this worker process
_TAKEN: Any = None  # shared with the driver: task position -> pid of the worker that took it


def _start_worker(shared: Any, threads: int, taken: Any) -> None:
    global _SHARED, _TAKEN
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal: the driver stops the pool
    prepare_worker(threads)
    _SHARED, _TAKEN = shared, taken
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker when the driver is gone (``kill -9`` gives it no chance to stop its pool)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _run_task(function: Callable[[Any, Any], Any], position: int, task: Any) -> Any:
    _TAKEN[position] = os.getpid()  # if this process dies, the driver knows which task it was running
    return call(function, _SHARED, task)


class LocalExecutor:
    """Runs tasks on this machine: in this process (``workers: 1``) or in N worker processes.

    Args:
        workers: Worker processes; 1 runs every task in this process, in order. The default, 2,
            measured fastest for the bundled configs' full-length runs on a 2-core machine; a run
            of a few epochs is faster with 1, which starts no worker processes
            (``benchmarks/executor.py``, docs page "Running on a cluster").
        threads: Intra-op threads per worker process (0: the available cores divided by
            ``workers``, at most ``OMP_NUM_THREADS``). With ``workers: 1``, 0 keeps the
            threads the run set (``train.threads``).
        max_retries: How many times the unfinished tasks are run again after a worker died.
    """

    #: Runs only on this machine: mertk preprocesses with its own forked workers
    #: (``preprocess.workers``) rather than through :meth:`map`.
    local = True

    def __init__(self, workers: Annotated[int, pydantic.Field(ge=1)] = 2,
                 threads: Annotated[int, pydantic.Field(ge=0)] = 0,
                 max_retries: Annotated[int, pydantic.Field(ge=0)] = 3) -> None:
        self.workers, self.max_retries = workers, max_retries
        self.threads = threads or (default_threads(workers) if workers > 1 else 0)

    def describe(self) -> str:
        """One line for the run log."""
        if self.workers == 1:
            threads = f", {self.threads} thread{'s' * (self.threads > 1)}" if self.threads else ""
            return "local: this process" + threads
        return f"local: {self.workers} worker processes x {self.threads} thread{'s' * (self.threads > 1)}"

    def map(self, function: Callable[[Any, Any], Any], shared: Any,
            tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """See :meth:`mertk.api.Executor.map`."""
        if self.workers == 1:
            return self._here(function, shared, tasks)
        return self._in_pool(function, shared, tasks)

    def _here(self, function: Callable[[Any, Any], Any], shared: Any,
              tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        import torch

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            for i, task in enumerate(tasks):
                yield i, call(function, shared, task)
        finally:
            torch.set_num_threads(before)

    def _in_pool(self, function: Callable[[Any, Any], Any], shared: Any,
                 tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        todo = dict(enumerate(tasks))
        deaths = 0
        context = multiprocessing.get_context("spawn")
        while todo:
            taken = context.RawArray("q", len(tasks))  # task position -> pid of the worker that took it
            pool = cf.ProcessPoolExecutor(min(self.workers, len(todo)), mp_context=context,
                                          initializer=_start_worker, initargs=(shared, self.threads, taken))
            try:
                futures: dict[cf.Future, int] = {}
                broken: BrokenProcessPool | None = None
                try:
                    for i, task in todo.items():
                        futures[pool.submit(_run_task, function, i, task)] = i
                except BrokenProcessPool as exc:  # a worker died before every task was handed out
                    broken = exc
                processes = list((getattr(pool, "_processes", None) or {}).values())  # started with the first task
                for future in () if broken else cf.as_completed(futures):
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken = future.exception()
                        break
                    i = futures[future]
                    del todo[i]
                    yield i, _outcome(future)
                if broken is not None:  # results that arrived before the pool broke are kept
                    for future, i in futures.items():
                        if i in todo and future.done() and not isinstance(future.exception(), BrokenProcessPool):
                            del todo[i]
                            yield i, _outcome(future)
                    _stop(pool)  # every worker has ended: their exit statuses say which one died
                    deaths += 1
                    died = _died(processes, taken, todo)
                    if deaths > self.max_retries:
                        trace = "".join(traceback.format_exception(broken)) + "".join(
                            f"worker process {p.pid}: {_exit_status(p.exitcode)}\n" for p in processes)
                        how = "; ".join(sorted(set(died.values()))) or "a worker process died"
                        for i in sorted(todo, key=lambda i: (i not in died, i)):  # the dead worker's task first
                            cause = died.get(i, f"its pool broke when another worker died ({how})")
                            yield i, TaskFailure("WorkerDied", f"{cause}; a worker process died {deaths} time"
                                                 f"{'s' * (deaths > 1)} in this run, {self.max_retries} "
                                                 f"retr{'ies' if self.max_retries != 1 else 'y'} allowed "
                                                 "(executor.max_retries). If memory ran out, lower executor.workers "
                                                 "or the batch size", trace)
                        return
                    for i, cause in sorted(died.items()):
                        yield i, TaskRetry(deaths, self.max_retries, cause)
            finally:
                if todo:  # stopped early (a failed fold, an interrupt) or broken: end the workers now
                    _stop(pool)
                else:  # every task is in: a clean shutdown, so no queue's semaphore outlives the pool
                    pool.shutdown(wait=True)


def _died(processes: Sequence[Any], taken: Sequence[int], todo: Mapping[int, Any]) -> dict[int, str]:
    """The unfinished tasks whose worker died on its own, with how (``processes`` have ended).

    The pool terminates its other workers (SIGTERM) once one has died, so a worker that ended
    otherwise is the one that died. When that cannot be told apart (it was itself sent a
    SIGTERM), every unfinished task a worker had taken is named.
    """
    pids = {i: taken[i] for i in todo if taken[i]}
    ended = {p.pid: p.exitcode for p in processes}
    died = {i: _exit_status(ended[pid]) for i, pid in pids.items()
            if ended.get(pid) is not None and ended[pid] != -signal.SIGTERM}
    return died or {i: f"its worker process was stopped ({_exit_status(ended.get(pid))})" for i, pid in pids.items()}


def _exit_status(code: int | None) -> str:
    """A worker process's exit status in words: ``"killed by SIGKILL"``, ``"exited with status 1"``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (", as by kill -9 or the out-of-memory killer" if code == -signal.SIGKILL else "")
    return f"exited with status {code}"


def _outcome(future: cf.Future) -> Any:
    """A finished future's result, or a :class:`TaskFailure` (e.g. a result that could not be pickled)."""
    exc = future.exception()
    if exc is None:
        return future.result()
    try:
        raise exc
    except Exception as raised:
        return failure(raised)


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Stop ``pool`` at once: queued tasks are cancelled and running ones end with their process."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()
