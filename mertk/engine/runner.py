"""The engine's entry point: ``from mertk.engine.runner import run_experiment``.

Kept as the stable import path of :func:`mertk.engine.schedule.run_experiment`; the engine's
parts are :mod:`mertk.engine.schedule` (folds to the executor) -> :mod:`mertk.engine.run` (one
run in the driver) -> :mod:`mertk.engine.fold` (training and testing folds) ->
:mod:`mertk.engine.trainer` (the training loop); see docs/architecture.md.
"""

from __future__ import annotations

from mertk.engine.schedule import RunRequest, run_experiment, run_experiments

__all__ = ["RunRequest", "run_experiment", "run_experiments"]
