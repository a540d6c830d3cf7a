"""Registers the evaluation protocols of `mertk.evaluation`."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_protocols(register) -> None:
    register("loso", "mertk.evaluation.protocols:LeaveOneSubjectOut")
    register("lodo", "mertk.evaluation.protocols:LeaveOneDatasetOut")
    register("kfold", "mertk.evaluation.protocols:StratifiedKFold")
