"""The ``ray`` executor: tasks as Ray tasks, on a Ray cluster or a Ray started on this machine.

Needs the optional extra (``pip install "mertk[ray]"``); ``ray`` is imported on first use.
``shared`` is put into Ray's object store once per :meth:`RayExecutor.map`; every task gets a
reference to it, so a node fetches it once and its workers read it from shared memory. Each
task asks Ray for ``num_cpus`` and ``num_gpus``; Ray places it on a node that has them (and sets
``CUDA_VISIBLE_DEVICES`` for it). Results come back as tasks finish.

A task whose worker process or node dies is submitted again, up to ``max_retries`` times, by
this executor rather than by Ray (whose own retries the driver never sees), so that each retry
reaches the run log as a :class:`~mertk.api.TaskRetry`; then it comes back as a
:class:`~mertk.api.TaskFailure` with Ray's error and traceback. A task that raises is not
retried (``retry_exceptions=False``) and comes back as a :class:`~mertk.api.TaskFailure`.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import pydantic

from mertk.api import TaskFailure, TaskRetry
from mertk.cpus import available_cpus
from mertk.errors import MertkError
from mertk.execution.tasks import call, first_sentence, prepare_worker
from mertk.interrupts import keep_signal_handlers

__all__ = ["RayExecutor"]


def _run_task(function: Callable[[Any, Any], Any], shared: Any, task: Any, threads: int) -> Any:
    """The body of every Ray task (Ray resolves ``shared`` from the object store)."""
    prepare_worker(threads)
    return call(function, shared, task)


@functools.cache
def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MertkError("executor 'ray' needs the ray package: pip install \"mertk[ray]\" "
                         "(or set executor.name=local)") from None
    return ray


class RayExecutor:
    """Runs tasks on a Ray cluster (or a Ray started on this machine).

    Args:
        address: The cluster: ``auto`` (the one ``ray start`` runs on this node),
            ``ray://HOST:10001`` (Ray Client), ``HOST:6379``; unset: start a Ray on this machine
            for the command, with the cores this process may use (CPU affinity and quota), or
            use the Ray this process already connected to.
        num_cpus: CPU cores Ray reserves for each task.
        num_gpus: GPUs Ray reserves for each task (a fraction shares a GPU).
        threads: Intra-op threads of each task (0: ``num_cpus``, at least 1).
        max_retries: How many times Ray runs a task again when its worker or node died.
    """

    def __init__(self, address: str | None = None, num_cpus: Annotated[float, pydantic.Field(gt=0)] = 1,
                 num_gpus: Annotated[float, pydantic.Field(ge=0)] = 0,
                 threads: Annotated[int, pydantic.Field(ge=0)] = 0,
                 max_retries: Annotated[int, pydantic.Field(ge=0)] = 3) -> None:
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.threads = threads or max(1, int(num_cpus))
        self.max_retries = max_retries
        self._started = self._node_lost = False

    def describe(self) -> str:
        """One line for the run log."""
        where = self.address or "a Ray on this machine"
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return f"ray: {where}, {self.num_cpus:g} CPU{gpus} and {self.threads} thread{'s' * (self.threads > 1)} per task"

    def _connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            where = ({"address": self.address} if self.address
                     else {"address": "local", "num_cpus": available_cpus().count})
            try:
                with keep_signal_handlers():  # ray.init makes SIGTERM exit silently (status 15)
                    ray.init(**where, include_dashboard=False, logging_level="WARNING")
            except (ConnectionError, RuntimeError) as exc:
                raise MertkError(f"executor 'ray': cannot connect to {self.address or 'a new local Ray'}: {exc}. "
                                 "Fix: start the cluster (ray start --head) or correct executor.address") from None
            self._started = True
        return ray

    def map(self, function: Callable[[Any, Any], Any], shared: Any,
            tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """See :meth:`mertk.api.Executor.map`. A task whose worker or node died is submitted again
        (and a :class:`~mertk.api.TaskRetry` yielded) up to ``max_retries`` times."""
        ray = self._connect()
        remote = ray.remote(_run_task).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                               max_retries=0, retry_exceptions=False)
        shared_ref = ray.put(shared)

        def submit(i: int) -> Any:
            return remote.remote(function, shared_ref, tasks[i], self.threads)

        pending = {submit(i): i for i in range(len(tasks))}
        retries = dict.fromkeys(range(len(tasks)), 0)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.LocalRayletDiedError as exc:  # no task can run from here any more
                        self._node_lost = True
                        raise MertkError(f"executor 'ray': the Ray node this process is connected to died "
                                         f"({type(exc).__name__}: {first_sentence(exc)})") from exc
                    except (ray.exceptions.RayTaskError, ray.exceptions.TaskCancelledError) as exc:
                        result = TaskFailure(type(exc).__name__, first_sentence(exc), traceback.format_exc())
                    except ray.exceptions.RayError as exc:  # the worker process or its node died
                        if retries[i] < self.max_retries:
                            retries[i] += 1
                            pending[submit(i)] = i
                            cause = f"{type(exc).__name__}: {first_sentence(exc)}"
                            yield i, TaskRetry(retries[i], self.max_retries, cause)
                            continue
                        result = TaskFailure(type(exc).__name__, f"{first_sentence(exc)} (after {self.max_retries} "
                                             "retries, executor.max_retries)", traceback.format_exc())
                    yield i, result
        finally:
            for ref in pending:  # stopped early: nothing more is computed for this map
                ray.cancel(ref, force=True)

    def close(self) -> None:
        """Shut down the Ray this executor started (a cluster it connected to keeps running)."""
        if self._started and not self._node_lost:  # else Ray's exit handler cleans up, once the error is shown
            _ray().shutdown()
            self._started = False
