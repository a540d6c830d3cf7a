"""Registers the engine's sections of the run config (``train``, ``output``) through mertk's hooks."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_config_sections(register):
    from mertk.engine.settings import OutputSettings, TrainSettings

    register("train", TrainSettings)
    register("output", OutputSettings)
