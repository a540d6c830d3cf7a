"""The training-free long-video spotter on generated recordings of the demo faces (real dlib faces and
landmarks, real optical flow), its peak picking, its bounded memory and the spotter contract."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import mertk
from mertk.api import Interval, LongVideo, SpotResult
from mertk.errors import MertkError
from mertk.evaluation.intervals import count
from mertk.preprocess.peaks import hysteresis_runs, remove_drift, signal_intervals
from mertk.preprocess.spot import spot_video

FAST = {"flow": {"name": "dis", "preset": "fast"}, "size": 96}


@pytest.fixture(scope="module")
def components():
    return mertk.load_components()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """One 30 s recording at 15 fps of a demo face, with its annotated intervals."""
    from mertk.data.demo_long import LongDemo, generate_long_demo

    folder = tmp_path_factory.mktemp("long-demo")
    generate_long_demo(folder, seed=3, videos=1, seconds=30, fps=15)
    (video,) = LongDemo(root=str(folder)).load().videos
    return video


def test_peaks_are_placed_back_on_the_expression():
    # motion measured between t - k and t shows on frames onset + 1 .. offset + k - 1
    k, signal = 3, np.zeros(200)
    signal[51:62] = 10.0  # an expression on frames 50..59
    signal += np.random.default_rng(0).normal(0, 0.1, 200)
    (interval,), normalised = signal_intervals(signal, k=k, baseline=41, high=5, low=2, merge=0, micro_max=12,
                                               macro_max=60)
    assert (interval.onset, interval.offset, interval.expression) == (50, 59, "micro")
    assert normalised.shape == (200,)
    assert signal_intervals(signal, k=k, baseline=41, high=5, low=2, merge=0, micro_max=5, macro_max=60)[0][0] \
        .expression == "macro"
    assert signal_intervals(signal, k=k, baseline=41, high=5, low=2, merge=0, micro_max=5, macro_max=8)[0] == ()


def test_drift_and_hysteresis():
    ramp = np.linspace(0, 50, 300)  # slow drift: removed, nothing spotted
    assert np.abs(remove_drift(ramp, 31)[20:-20]).max() < 1e-9
    assert hysteresis_runs(np.array([0, 3, 3, 0, 0, 9, 0.0]), low=2, high=5) == [(5, 5, 9.0)]


def test_finds_the_inserted_micro_expressions(components, recording):
    spotter = components.create("spotter", "strain-peaks", **FAST)
    result = spot_video(spotter, recording, "strain-peaks")
    assert result.frames == len(recording.frames) == 450
    assert set(result.signals) == {"micro", "macro"}
    micro = [i for i in recording.intervals if i.expression == "micro"]
    assert micro, "the generated recording should have micro-expressions"
    found = count(recording.intervals, result.intervals)["micro"]
    assert found.tp >= (len(micro) + 1) // 2, (found, micro, result.intervals)


def test_the_batch_size_changes_how_pairs_are_computed_not_what_is_spotted(components, recording):
    """Pairs go to the flow (and to the GPU, where there is one) in batches; a batch's size must not
    change the signal or the intervals (a batch boundary falls between a face detection and its pairs)."""
    results = [spot_video(components.create("spotter", "strain-peaks", **FAST, batch_size=size), recording,
                          "strain-peaks") for size in (3, 64)]
    small, large = results
    assert small.intervals == large.intervals
    for name in ("micro", "macro"):
        np.testing.assert_allclose(small.signals[name], large.signals[name], rtol=1e-4, atol=1e-4)


def test_memory_stays_bounded_on_a_long_recording(components, rendered):
    spotter = components.create("spotter", "strain-peaks", flow={"name": "dis", "preset": "ultrafast"}, size=64,
                                redetect=10.0, batch_size=64)
    peaks, held = {}, {}
    for frames in (150, 600):
        video = LongVideo(id=f"t/s/{frames}", subject="t/s", name=str(frames), dataset="t", fps=10.0)
        stream = rendered(frames)
        tracemalloc.start()
        try:
            result = spotter.spot(video, stream)
            peaks[frames] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.frames == frames
        held[frames] = spotter.held_frames
    frame_bytes = 240 * 240
    assert held[150] == held[600] <= 8 + 2 + 2 * 2 * 64  # the window and two batches, not the recording
    # 450 more frames of 57.6 kB each: holding them would add 26 MB; the signals add a few bytes a frame
    assert peaks[600] - peaks[150] < 450 * frame_bytes / 20, peaks


def test_a_spotter_must_be_a_long_video_spotter():
    video = LongVideo(id="t/s/v", subject="t/s", name="v", dataset="t", fps=10.0, frames=())

    def apex_spotter(frames, onset):  # the apex-spotter contract, registered through the old hook
        return onset

    with pytest.raises(MertkError, match="looks like an apex spotter.*register_apex_spotters"):
        spot_video(apex_spotter, video, "old")

    class OutOfRange:
        def spot(self, video, frames):
            return SpotResult((Interval(5, 50, "micro"),), {"micro": np.zeros(20, np.float32)})

    with pytest.raises(MertkError, match="interval 5-50 .* which has 20 frames"):
        spot_video(OutOfRange(), video, "bad")
