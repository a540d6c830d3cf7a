"""Turn the problems a dataset adapter collected into the run's ``on_error`` behaviour."""

from __future__ import annotations

from typing import Literal

from mertk.api import DatasetLoad
from mertk.errors import MertkError

__all__ = ["apply_on_error"]

_SHOWN = 20


def apply_on_error(load: DatasetLoad, on_error: Literal["stop", "skip"]) -> DatasetLoad:
    """Stop on fatal data problems, or go on without the affected samples.

    Adapters already leave samples with fatal problems out of ``load.samples`` and keep every
    problem in ``load.problems`` (for the run report), so ``"skip"`` returns ``load`` unchanged.

    Raises:
        MertkError: ``on_error == "stop"`` and at least one problem is fatal; the message lists
            them with file, row and fix, and says how to skip them instead.
    """
    if on_error not in ("stop", "skip"):
        raise ValueError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    fatal = [p for p in load.problems if p.fatal]
    if on_error == "skip" or not fatal:
        return load
    lines = [f"  - {p}" for p in fatal[:_SHOWN]]
    if len(fatal) > _SHOWN:
        lines.append(f"  ... and {len(fatal) - _SHOWN} more (see `mertk datasets inspect CONFIG`)")
    raise MertkError(
        f"{len(fatal)} sample(s) cannot be used:\n" + "\n".join(lines)
        + "\nFix the data as suggested, or set `on_error: skip` to run without these samples."
    )
