"""One recording spotted: the executor's task of ``mertk spot``, runnable in any process.

The shared payload (:class:`SpotJob`) is the spotter's validated spec and how to load the plugins;
a task (:class:`SpotTask`) is one :class:`~mertk.api.LongVideo` with its fold: the subject held out
and, for a spotter that learns (a ``fit(videos)`` method), the other subjects' recordings to train
it on. Both are picklable, so the local pool and Ray run them like the in-process executor does,
with the same result: a spotter is built from the spec alone, and a fitted one from its fold alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mertk.api import Interval, LongVideo
from mertk.errors import PluginError
from mertk.plugins import PluginRecipe
from mertk.registry import Components

__all__ = ["SpotJob", "SpotTask", "SpotOutcome", "spot_task", "spotter_fits"]


@dataclass
class SpotJob:
    """What every task of one ``mertk spot`` run shares; sent to each worker once.

    Attributes:
        key: Unique id of the run (a worker keeps the spotters it built per key).
        spotter: The validated ``spotter`` spec (``{name: ..., **arguments}``).
        plugins: How to load the run's plugins in another process, or why that is impossible.
        components: The driver's own registries (not pickled: a worker loads its own from ``plugins``).
    """

    key: str
    spotter: Mapping[str, Any]
    plugins: PluginRecipe | str
    components: Components | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "spotter": dict(self.spotter), "plugins": self.plugins, "components": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@dataclass(frozen=True)
class SpotTask:
    """One recording to spot, and its LOSO fold.

    Attributes:
        video: The recording (its truth travels with it and is never shown to the spotter's fit).
        fold: The subject held out (``video.subject``).
        train: The other subjects' recordings, for a spotter that fits; empty for a training-free one.
    """

    video: LongVideo
    fold: str
    train: tuple[LongVideo, ...] = ()


@dataclass(frozen=True)
class SpotOutcome:
    """A spotted recording: what :func:`spot_task` returns to the driver."""

    intervals: tuple[Interval, ...]
    signals: dict[str, np.ndarray]
    thresholds: dict[str, float]
    frames: int
    seconds: float


def spotter_fits(components: Components, spec: Any) -> bool:
    """Whether the spotter ``spec`` names learns from recordings (its factory has ``fit``)."""
    name = spec["name"] if isinstance(spec, Mapping) else spec
    return callable(getattr(components["spotter"].get(name).factory, "fit", None))


#: Spotters built in this process: ``(job key, fold)`` -> spotter (the fold is ``""`` when it does not fit).
_BUILT: dict[tuple[str, str], Any] = {}


def _spotter(job: SpotJob, task: SpotTask) -> Any:
    """The job's spotter for the task's fold: built (and fitted on the fold's training recordings) once per process."""
    components = job.components
    if components is None:
        if isinstance(job.plugins, str):
            raise PluginError(job.plugins)
        components = job.components = job.plugins.load()
    key = (job.key, task.fold if task.train else "")
    if key not in _BUILT:
        if len(_BUILT) >= 4:
            _BUILT.pop(next(iter(_BUILT)))
        spotter = components.build("spotter", dict(job.spotter), key="spotter")
        if task.train:
            spotter.fit(list(task.train))
        _BUILT[key] = spotter
    return _BUILT[key]


def spot_task(job: SpotJob, task: SpotTask) -> SpotOutcome:
    """The executor's task: spot ``task.video`` with the job's spotter (:func:`mertk.preprocess.spot.spot_video`)."""
    from mertk.preprocess.spot import spot_video

    start = time.perf_counter()
    name = job.spotter.get("name", "spotter")
    result = spot_video(_spotter(job, task), task.video, name)
    return SpotOutcome(tuple(result.intervals), {k: np.asarray(v, np.float32) for k, v in result.signals.items()},
                       {k: float(v) for k, v in result.thresholds.items()}, result.frames,
                       time.perf_counter() - start)
