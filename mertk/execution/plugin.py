"""Registers the executors of `mertk.execution` (lazily) and the ``executor`` section of the run config."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_executors(register) -> None:
    register("local", "mertk.execution.local:LocalExecutor")
    register("ray", "mertk.execution.ray_cluster:RayExecutor", requires={"ray": "mertk[ray]"})


@hookimpl
def register_config_sections(register) -> None:
    from mertk.settings import component

    register("executor", component("executor"), default="local",
             description="Where folds and clips run: `local` (this machine; `workers: 1` is one process, in "
                         "order) or `ray` (a Ray cluster), with their arguments. It does not change any result.")
