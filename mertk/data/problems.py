"""Turn the data problems collected while loading and preprocessing into ``on_error`` behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from mertk.api import DatasetLoad, Problem
from mertk.errors import DataError

__all__ = ["SKIP_IN_CONFIG", "apply_on_error", "stop_on_fatal"]

_SHOWN = 20

#: How a run config skips bad samples (the end of :func:`stop_on_fatal`'s message).
SKIP_IN_CONFIG = "set `on_error: skip` to run without these samples"


def stop_on_fatal(problems: Sequence[Problem], on_error: Literal["stop", "skip"], *, skip: str = SKIP_IN_CONFIG,
                  more: str = "see problems.csv or `mertk datasets inspect CONFIG`") -> None:
    """Raise one error listing every fatal problem, unless ``on_error`` is ``"skip"``.

    Args:
        problems: Everything met so far, warnings included (the error keeps them all).
        on_error: ``"stop"`` or ``"skip"``.
        skip: How the user skips bad samples where they are (a config key, a command option).
        more: Where the full list is, when it is longer than the message shows.

    Raises:
        DataError: ``on_error == "stop"`` and at least one problem is fatal; the message lists
            them with file, row and fix, and says how to skip them instead.
    """
    if on_error not in ("stop", "skip"):
        raise ValueError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    fatal = [p for p in problems if p.fatal]
    if on_error == "skip" or not fatal:
        return
    lines = [f"  - {p}" for p in fatal[:_SHOWN]]
    if len(fatal) > _SHOWN:
        lines.append(f"  ... and {len(fatal) - _SHOWN} more ({more})")
    raise DataError(f"{len(fatal)} sample(s) cannot be used:\n" + "\n".join(lines)
                    + f"\nFix the data as suggested, or {skip}.", problems)


def apply_on_error(load: DatasetLoad, on_error: Literal["stop", "skip"]) -> DatasetLoad:
    """Stop on fatal data problems, or go on without the affected samples.

    Adapters already leave samples with fatal problems out of ``load.samples`` and keep every
    problem in ``load.problems`` (for the run report), so ``"skip"`` returns ``load`` unchanged.

    Raises:
        DataError: ``on_error == "stop"`` and at least one problem is fatal (see
            :func:`stop_on_fatal`).
    """
    stop_on_fatal(load.problems, on_error)
    return load
