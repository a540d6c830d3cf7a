"""Executors: where the independent tasks of a run (folds, clips) run.

``local`` (:mod:`mertk.execution.local`) runs them in this process or in a pool of worker
processes on this machine; ``ray`` (:mod:`mertk.execution.ray_cluster`) on a Ray cluster, or on
a Ray started on this machine. Both are registered through the ``register_executors`` hook
like a third-party executor would be; the contract is :class:`mertk.api.Executor`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from mertk.api import ClosableExecutor
from mertk.registry import Components

__all__ = ["open_executor"]


@contextlib.contextmanager
def open_executor(components: Components, spec: Any, *, file: str = "<config>") -> Iterator[Any]:
    """Build the config's ``executor`` spec, and close it (its optional ``close()``) when done."""
    executor = components.build("executor", spec, file=file, key="executor")
    try:
        yield executor
    finally:
        if isinstance(executor, ClosableExecutor):
            executor.close()
