"""Registers the executors of `mertk.execution` through mertk's hooks (lazily)."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_executors(register) -> None:  # noqa: ANN001
    register("local", "mertk.execution.local:LocalExecutor")
    register("ray", "mertk.execution.ray_cluster:RayExecutor")
