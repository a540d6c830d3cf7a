"""The learned long-video spotter (``flow-windows``) on generated recordings of the demo faces (real dlib
faces and landmarks, real optical flow, real training on the CPU): it learns where the inserted
expressions are, is the same for a seed, keeps its memory bounded, and refuses to learn from nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mertk
from mertk.api import LongVideo
from mertk.errors import DataError, MertkError
from mertk.preprocess import window_spotter
from mertk.preprocess.spot import spot_video
from mertk.preprocess.window_spotter import window_labels

FAST = {"flow": {"name": "dis", "preset": "ultrafast"}, "size": 48, "input_size": 16, "redetect": 10.0,
        "epochs": 6, "positives": 150, "negatives": 300}


@pytest.fixture(scope="module")
def components():
    return mertk.load_components()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> list[LongVideo]:
    """Three 20 s recordings at 15 fps of three demo faces, with their annotated intervals."""
    from mertk.data.demo_long import LongDemo, generate_long_demo

    folder = tmp_path_factory.mktemp("long-demo")
    generate_long_demo(folder, seed=3, videos=3, seconds=20, fps=15)
    return LongDemo(root=str(folder)).load().videos


@pytest.fixture(scope="module")
def fitted(components, recordings):
    """A spotter fitted on the first two recordings, and its result on the third."""
    spotter = components.create("spotter", "flow-windows", **FAST)
    spotter.fit(recordings[:2])
    return spotter, spot_video(spotter, recordings[2], "flow-windows")


def _inside(video: LongVideo, expression: str, frames: int) -> np.ndarray:
    """Frames whose window's end lies in or just after an annotated expression of the type."""
    inside = np.zeros(frames, bool)
    for interval in video.intervals:
        if interval.expression == expression:
            inside[interval.onset:interval.offset + 3] = True
    return inside


def test_it_learns_where_the_inserted_expressions_are(fitted, recordings):
    spotter, result = fitted
    video = recordings[2]
    assert set(spotter.nets) == {"micro", "macro"} and result.frames == len(video.frames)
    for scale in ("micro", "macro"):
        inside = _inside(video, scale, result.frames)
        assert inside.any()
        signal = result.signals[scale]
        # how often an expression's window outscores another (0.5: chance, what an untrained network gets)
        auc = (signal[inside][:, None] > signal[~inside][None, :]).mean()
        assert auc > 0.7, (scale, auc)
    assert result.intervals, "the recording's strongest windows become intervals"
    assert all(i.expression in ("micro", "macro") and 0 <= i.onset <= i.offset < result.frames
               for i in result.intervals)


def test_the_same_seed_gives_the_same_spotter(components, recordings, fitted):
    _, first = fitted
    window_spotter.clear_cache()  # the training windows are computed again, not reused
    again = components.create("spotter", "flow-windows", **FAST).fit(recordings[:2])
    second = spot_video(again, recordings[2], "flow-windows")
    assert second.intervals == first.intervals
    for scale in first.signals:
        assert np.array_equal(second.signals[scale], first.signals[scale])
    other = components.create("spotter", "flow-windows", **{**FAST, "seed": 1}).fit(recordings[:2])
    assert not np.array_equal(spot_video(other, recordings[2]).signals["micro"], first.signals["micro"])


def test_fit_refuses_recordings_without_micro_expressions(components, recordings):
    spotter = components.create("spotter", "flow-windows", **FAST)
    bare = [dataclasses.replace(v, intervals=tuple(i for i in v.intervals if i.expression == "macro"))
            for v in recordings[:2]]
    with pytest.raises(DataError, match="2 training recordings .*long-demo/sub01/sub01_1.* have no annotated "
                                        "micro-expression interval.*Fix:"):
        spotter.fit(bare)
    with pytest.raises(MertkError, match="was not trained.*mertk spot"):
        spot_video(spotter, recordings[2], "flow-windows")


def test_memory_stays_bounded_on_a_long_recording(fitted, rendered):
    spotter, _ = fitted
    held = {}
    for frames in (120, 480):
        video = LongVideo(id=f"t/s/{frames}", subject="t/s", name=str(frames), dataset="t", fps=10.0)
        result = spotter.spot(video, rendered(frames))
        assert result.frames == frames
        held[frames] = spotter.held_frames
    k = max(spotter.frames_apart(10.0).values())
    assert held[120] == held[480] <= k + 1 + 2 * 2 * spotter.batch_size  # the window and two batches


def test_pseudo_labels_are_the_covered_fraction_of_each_window():
    from mertk.api import Interval

    labels = window_labels(np.arange(20), 4, [Interval(8, 11, "micro")])
    assert labels[:8].tolist() == [0.0] * 8 and labels[8] == pytest.approx(0.2)
    assert labels[11] == pytest.approx(0.8) and labels[15] == pytest.approx(0.2) and labels[16] == 0.0
