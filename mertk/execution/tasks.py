"""What every executor does around a task in a worker: calling it, and turning an error into a result."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from mertk.api import TaskFailure
from mertk.errors import MertkError
from mertk.progress import quiet_process

__all__ = ["call", "failure", "first_sentence", "prepare_worker"]


def failure(exc: BaseException) -> TaskFailure:
    """A :class:`TaskFailure` describing ``exc`` (call inside the ``except`` block, for the traceback)."""
    return TaskFailure(type(exc).__name__, str(exc), traceback.format_exc(), isinstance(exc, MertkError))


def first_sentence(exc: BaseException) -> str:
    """The first sentence of ``exc``'s message, for one line of a log (Ray's errors go on for a
    paragraph); its type's name when it has no message."""
    lines = str(exc).strip().splitlines()
    return lines[0].split(". ")[0].rstrip(".") if lines else type(exc).__name__


def call(function: Callable[[Any, Any], Any], shared: Any, task: Any) -> Any:
    """``function(shared, task)``, or a :class:`TaskFailure` when it raises an ``Exception``."""
    try:
        return function(shared, task)
    except Exception as exc:
        return failure(exc)


def prepare_worker(threads: int) -> None:
    """Set up a worker process: ``threads`` torch intra-op threads, no progress bars (the driver
    reports each finished task) and no inter-process lock for them (:func:`mertk.progress.quiet_process`)."""
    import torch

    quiet_process()
    if threads > 0:
        torch.set_num_threads(threads)
