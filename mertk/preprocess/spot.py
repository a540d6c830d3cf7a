"""Run a long-video spotter on one recording, checking what it returns.

:func:`spot_video` is the one place a :class:`mertk.api.Spotter` is called: it streams the
recording's frames to it (:func:`mertk.preprocess.frames.stream_frames`) and refuses a result that
could be scored wrongly (an interval outside the recording, an unknown expression type, signals of
another length than the frames read). ``mertk spot`` and ``mertk analyze``
call it per recording, on any executor: a task is ``(spotter spec, LongVideo)``, both picklable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from mertk.api import LongVideo, SpotResult, Spotter
from mertk.errors import MertkError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["spot_video"]


def spot_video(spotter: object, video: LongVideo, name: str = "spotter",
               on_frame: Callable[[], None] | None = None) -> SpotResult:
    """Spot ``video`` with ``spotter``, reading its frames once.

    Args:
        spotter: A built ``spotter`` component.
        video: The recording (its ``intervals`` are not shown to the spotter's result checks).
        name: How the config names the spotter, for error messages.
        on_frame: Called after each frame the spotter reads (a progress bar's update).

    Raises:
        MertkError: ``spotter`` is not a long-video spotter (an apex spotter registered through
            ``register_spotters`` by a plugin written before mertk 0.3 is named as such), or its
            result is malformed.
        ClipError: a frame cannot be read.
    """
    from mertk.preprocess.frames import stream_frames

    if not isinstance(spotter, Spotter):
        old = callable(spotter) and not hasattr(spotter, "spot")
        raise MertkError(
            f"spotter {name!r} has no spot(video, frames) method, so it is no long-video spotter"
            + (": it looks like an apex spotter ((frames, onset) -> apex), registered through "
               "register_spotters(), which registers long-video spotters since mertk 0.3. Fix: register it with "
               "register_apex_spotters() and name it as preprocess.apex_spotter" if old else
               ". Fix: choose a spotter that `mertk components spotter` lists"))
    stream = stream_frames(video)
    if on_frame is not None:
        stream = _counted(stream, on_frame)
    result = spotter.spot(video, stream)
    if not isinstance(result, SpotResult):
        raise MertkError(f"spotter {name!r} returned {type(result).__name__} for {video.id}, not a SpotResult")
    frames = result.frames
    lengths = {key: len(signal) for key, signal in result.signals.items()}
    if len(set(lengths.values())) > 1:
        raise MertkError(f"spotter {name!r}: its signals for {video.id} differ in length: {lengths}")
    for interval in result.intervals:
        if interval.expression not in ("micro", "macro") or not 0 <= interval.onset <= interval.offset < frames:
            raise MertkError(f"spotter {name!r} returned the interval {interval.onset}-{interval.offset} "
                             f"({interval.expression!r}) for {video.id}, which has {frames} frames: an interval "
                             "must lie within the recording and be micro or macro")
    return result


def _counted(frames: Iterator[np.ndarray], on_frame: Callable[[], None]) -> Iterator[np.ndarray]:
    """``frames``, calling ``on_frame`` after each one is taken."""
    for frame in frames:
        yield frame
        on_frame()
