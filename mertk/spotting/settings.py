"""The config of ``mertk spot``: a long-video dataset, a spotter, the protocol, executor and output."""

from __future__ import annotations

from typing import Literal

from mertk.settings import Strict, component

__all__ = ["SpotConfig", "SpotOutput"]


class SpotOutput(Strict):
    """Where the run folder goes and what it keeps."""

    dir: str = "runs"
    """Parent folder of run folders."""
    timelines: bool = True
    """Draw one timeline PNG per recording (signal, truth, detections) into ``timelines/`` for the report."""


class SpotConfig(Strict):
    """A spotting evaluation: every recording of ``dataset`` spotted by ``spotter``, scored with the MEGC
    interval metric. A config is a spotting config when it has ``spotter`` and no ``model``."""

    name: str = "spot"
    """Run name; the run folder is ``{output.dir}/{name}-{timestamp}``."""
    dataset: component("video_dataset")
    """The long-video dataset (``casme-squared``, ``samm-lv``, ``long-manifest``, ``long-demo``)."""
    spotter: component("spotter") = "strain-peaks"
    """The spotter and its arguments."""
    protocol: Literal["loso"] = "loso"
    """Leave one subject out: each subject's recordings are spotted by a spotter that saw none of them. A
    spotter with a ``fit(videos)`` ability is trained on the other subjects' recordings per fold; a
    training-free one (``strain-peaks``) has fixed settings, the same for every fold."""
    executor: component("executor") = "local"
    """Where the recordings are spotted (one task per recording); it does not change any result."""
    output: SpotOutput = SpotOutput()
    """The run folder."""
