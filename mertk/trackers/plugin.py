"""Registers the ``mlflow`` and ``tensorboard`` trackers through mertk's hooks (lazily)."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_trackers(register):
    register("mlflow", "mertk.trackers.mlflow_tracker:MlflowTracker", requires={"mlflow": "mertk[mlflow]"},
             description="MLflow: one run per mertk run, a nested run per fold (extra mertk[mlflow]).")
    register("tensorboard", "mertk.trackers.tensorboard_tracker:TensorBoardTracker",
             requires={"tensorboard": "mertk[tensorboard]"},
             description="TensorBoard event files: scalars per fold and overall, confusion matrix, config "
                         "(extra mertk[tensorboard]).")
