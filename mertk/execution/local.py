"""The ``local`` executor: tasks in this process, in order, or in a pool of worker processes.

``workers: 1`` calls every task here, one after another, with the threads the run configured
(``train.threads``). ``workers: N`` starts N worker processes (``spawn``: fresh interpreters,
so no thread pool or CUDA state is inherited from the driver), all at once, and hands out tasks
as workers become free. Each worker uses ``threads`` intra-op threads, by default the available
cores divided by N. :meth:`LocalExecutor.start` starts them before the tasks exist (mertk calls
it before a run's data loads), so their imports overlap the driver's work; else :meth:`map`
starts them. ``shared`` does not exist yet when they start: :meth:`map` pickles it once to a
temporary file, which each worker reads before its first task of that call.

A worker that dies (killed, out of memory) breaks the pool: the tasks that had not finished
run again in a new pool, at most ``max_retries`` times per run of :meth:`LocalExecutor.map`.
Each worker notes in shared memory which task it is running, so the driver can say which task's
worker died and how (:class:`~mertk.api.TaskRetry`, then a :class:`~mertk.api.TaskFailure` whose
traceback lists every worker's exit status).
Workers end on their own when the driver dies.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic

from mertk.api import TaskFailure, TaskRetry
from mertk.execution.cpus import default_threads
from mertk.execution.tasks import call, failure, prepare_worker
from mertk.interrupts import signals_deferred

__all__ = ["LocalExecutor"]

_SHARED: tuple[str, Any] = ("", None)  # (the file map() pickled it to, what it holds) in this worker process
_SLOT = -1  # this worker's place in the pool's shared arrays
_RUNNING: Any = None  # shared with the driver: worker slot -> 1 + position of the task it runs (0: none)
_SIGMASK = hasattr(signal, "pthread_sigmask")  # not on Windows


def _start_worker(threads: int, prepare: Callable[[], Any] | None, slots: Any, pids: Any, running: Any) -> None:
    global _SLOT, _RUNNING
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal: the driver stops the pool
    if _SIGMASK:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])  # blocked while the driver started this process
    with slots.get_lock():
        _SLOT = slots.value
        slots.value += 1
    pids[_SLOT], _RUNNING = os.getpid(), running
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    prepare_worker(threads)
    if prepare is not None:
        try:
            prepare()
        except Exception:  # only a head start: the first task meets the same error and reports it
            pass


def _exit_with_parent(parent: int) -> None:
    """End this worker when the driver is gone (``kill -9`` gives it no chance to stop its pool)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _started() -> None:
    """A task that does nothing: submitting one starts a worker process."""


def _run_task(function: Callable[[Any, Any], Any], shared_file: str, position: int, task: Any) -> Any:
    global _SHARED
    _RUNNING[_SLOT] = position + 1  # if this process dies, the driver knows which task it was running
    if _SHARED[0] != shared_file:
        try:
            with open(shared_file, "rb") as f:
                _SHARED = (shared_file, pickle.load(f))
        except Exception as exc:
            return failure(exc)
    return call(function, _SHARED[1], task)


@dataclass
class _Pool:
    """Started worker processes, and which task each one is running (see :func:`_open_pool`)."""

    executor: cf.ProcessPoolExecutor
    pids: Any  # worker slot -> pid
    running: Any  # worker slot -> 1 + position of the task it runs (0: none)


def _open_pool(workers: int, threads: int, prepare: Callable[[], Any] | None) -> _Pool:
    """Start ``workers`` spawned worker processes at once (each submit of a no-op starts one).

    A worker starts with SIGINT blocked (a blocked signal stays blocked across ``exec``) until its
    initializer ignores it: a Ctrl-C in the terminal, which reaches every process, stops the
    driver, which stops the pool, and prints no traceback from a worker still starting. In the
    driver a Ctrl-C or SIGTERM waits until every worker has been sent its start data
    (:func:`mertk.interrupts.signals_deferred`): cut in between, a worker would die reading it.
    """
    context = multiprocessing.get_context("spawn")
    slots, pids, running = context.Value("i", 0), context.RawArray("q", workers), context.RawArray("q", workers)
    pool = cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                  initargs=(threads, prepare, slots, pids, running))
    try:
        with signals_deferred():
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT]) if _SIGMASK else None
            try:
                for _ in range(workers):
                    pool.submit(_started)
            except BrokenProcessPool:  # a worker died at once: map() finds the pool broken and retries
                pass
            finally:
                if mask is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    except BaseException:  # the held Ctrl-C or SIGTERM: nobody else holds this pool yet
        _stop(pool)
        raise
    return _Pool(pool, pids, running)


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
        self._prepare: Callable[[], Any] | None = None
        self._started: _Pool | None = None  # started by start(), not yet used by map()

    def describe(self) -> str:
        """One line for the run log."""
        if self.workers == 1:
            threads = f", {self.threads} thread{'s' * (self.threads > 1)}" if self.threads else ""
            return "local: this process" + threads
        return f"local: {self.workers} worker processes x {self.threads} thread{'s' * (self.threads > 1)}"

    def start(self, prepare: Callable[[], Any] | None = None) -> None:
        """Start the worker processes now (none with ``workers: 1``), each calling ``prepare`` once
        it has set its threads; the next :meth:`map` uses them. See :class:`mertk.api.StartableExecutor`."""
        self._prepare = prepare
        if self.workers > 1 and self._started is None:
            self._started = _open_pool(self.workers, self.threads, prepare)

    def close(self) -> None:
        """Stop workers that :meth:`start` started and no :meth:`map` used (a run refused on its data)."""
        started, self._started = self._started, None
        if started is not None:
            _stop(started.executor)

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
        with tempfile.NamedTemporaryFile(prefix="mertk-shared-", suffix=".pickle") as file:
            pickle.dump(shared, file, protocol=pickle.HIGHEST_PROTOCOL)  # once, whatever the number of workers
            file.flush()
            while todo:
                started, self._started = self._started, None
                workers = started or _open_pool(min(self.workers, len(todo)), self.threads, self._prepare)
                pool = workers.executor
                try:
                    futures: dict[cf.Future, int] = {}
                    broken: BrokenProcessPool | None = None
                    try:
                        for i, task in todo.items():
                            futures[pool.submit(_run_task, function, file.name, i, task)] = i
                    except BrokenProcessPool as exc:  # a worker died before every task was handed out
                        broken = exc
                    processes = list((getattr(pool, "_processes", None) or {}).values())
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
                        died = _died(processes, workers, todo)
                        if deaths > self.max_retries:
                            trace = "".join(traceback.format_exception(broken)) + "".join(
                                f"worker process {p.pid}: {_exit_status(p.exitcode)}\n" for p in processes)
                            how = "; ".join(sorted(set(died.values()))) or "a worker process died"
                            for i in sorted(todo, key=lambda i: (i not in died, i)):  # the dead worker's task first
                                cause = died.get(i, f"its pool broke when another worker died ({how})")
                                yield i, TaskFailure("WorkerDied", f"{cause}; a worker process died {deaths} time"
                                                     f"{'s' * (deaths > 1)} in this run, {self.max_retries} "
                                                     f"retr{'ies' if self.max_retries != 1 else 'y'} allowed "
                                                     "(executor.max_retries). If memory ran out, lower "
                                                     "executor.workers or the batch size", trace)
                            return
                        for i, cause in sorted(died.items()):
                            yield i, TaskRetry(deaths, self.max_retries, cause)
                finally:
                    if todo:  # stopped early (a failed fold, an interrupt) or broken: end the workers now
                        _stop(pool)
                    else:  # every task is in: a clean shutdown, so no queue's semaphore outlives the pool
                        pool.shutdown(wait=True)


def _died(processes: Sequence[Any], workers: _Pool, todo: Mapping[int, Any]) -> dict[int, str]:
    """The unfinished tasks whose worker died on its own, with how (``processes`` have ended).

    The pool terminates its other workers (SIGTERM) once one has died, so a worker that ended
    otherwise is the one that died. When that cannot be told apart (it was itself sent a
    SIGTERM), every unfinished task a worker was running is named.
    """
    pids = {workers.running[slot] - 1: pid for slot, pid in enumerate(workers.pids)
            if pid and workers.running[slot] - 1 in todo}
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
    # the pool's manager thread joins the workers too: two threads waiting for one process race (the loser
    # sees no child and returns while it still runs), so wait for that thread before joining them here
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    if manager is not None:
        manager.join()
    for process in processes:
        process.join()
