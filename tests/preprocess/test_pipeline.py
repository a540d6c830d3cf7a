"""The whole pipeline: clips -> faces, landmarks, flow, views; errors, skips, cache and resume."""

from __future__ import annotations

import os
import signal

import cv2
import numpy as np
import pytest
import torch
from preprocess_clips import clip_frames, sample, write_folder, write_video

import mertk
from mertk.errors import MertkError
from mertk.preprocess.pipeline import prepare
from mertk.preprocess.settings import PreprocessSettings

DUAL_VIEWS = {"face": {"name": "full-face", "size": 28}, "hars": {"name": "hars", "regions": ["eyes", "mouth"],
                                                                  "size": 28}}


def settings(tmp_path, **kw) -> PreprocessSettings:
    base = dict(cache_dir=str(tmp_path / "cache"), workers=1, views=DUAL_VIEWS, align={"size": 96}, flow="dis")
    return PreprocessSettings(**{**base, **kw})


def _region_motion(prepared, i, indices):
    mag = prepared.flows[i].norm(dim=0)
    x, y = prepared.landmarks[i][indices].mean(0).round().long().tolist()
    return float(mag[y - 4:y + 5, x - 4:x + 5].mean())


def test_folder_and_video_clips_end_to_end(tmp_path, components, folder_sample):
    video = sample("test/s1/clipV", video=write_video(tmp_path / "v.avi", clip_frames(6, 3)), apex=None)
    out = prepare([folder_sample, video], settings(tmp_path, flow="tvl1"), components, progress=False)
    assert out.sample_ids == ["test/s1/clipA", "test/s1/clipV"]
    assert {k: tuple(v.shape) for k, v in out.views.items()} == {"face": (2, 3, 28, 28), "hars": (2, 3, 28, 28)}
    for view in out.views.values():
        assert view.dtype == torch.float32 and view.min() >= 0 and view.max() <= 1
    assert out.landmarks.shape == (2, 68, 2) and out.faces.shape == (2, 1, 96, 96) and out.flows.shape == (2, 2, 96, 96)
    a, v = out.records
    assert (a["face_method"], a["apex"], a["apex_source"], a["source"]) == ("dlib-hog", 2, "annotation", "frames")
    assert (v["apex"], v["apex_source"], v["source"]) == (3, "spotter", "video")
    assert not out.problems
    for i in range(2):  # the mouth moved, the eyes did not
        mouth, eyes = _region_motion(out, i, slice(48, 68)), _region_motion(out, i, slice(36, 48))
        assert mouth > 1.0 and mouth > 10 * eyes
    # the aligned face really is the apex frame with the landmarks on it
    eye_y = out.landmarks[0, 36:48, 1].mean()
    assert out.landmarks[0, 36:42, 1].mean().sub(out.landmarks[0, 42:48, 1].mean()).abs() < 1.5
    assert 20 < eye_y < 50


def test_detection_on_apex_and_grey_jpg(tmp_path, components):
    paths = write_folder(tmp_path / "g", clip_frames(5, 2), ".jpg", grey=True)
    out = prepare([sample("t/s/g", frames=paths)], settings(tmp_path, detect_on="apex"), components, progress=False)
    assert out.records[0]["detect_frame"].endswith("img3.jpg")


def test_precomputed_flow_images_use_template_landmarks(tmp_path, components, folder_sample):
    flow = np.zeros((64, 64, 3), np.uint8)
    flow[..., 0], flow[..., 1], flow[..., 2] = 200, 100, 50  # stored as strain, u, v
    path = tmp_path / "flow.png"
    cv2.imwrite(str(path), cv2.cvtColor(flow, cv2.COLOR_RGB2BGR))
    pre = sample("m/s2/x", onset=None, apex=None, flow_image=path, meta={"flow_channels": ["strain", "u", "v"]})
    out = prepare([pre, folder_sample], settings(tmp_path), components, progress=False)
    face = out.views["face"][0]
    assert torch.allclose(face[:, 5, 5], torch.tensor([100, 50, 200]) / 255)  # reordered to u, v, strain
    assert out.records[0]["apex_source"] == "precomputed" and out.records[0]["face_method"] is None
    assert out.landmarks[0].max() <= 63 and out.faces[0].abs().sum() == 0 and out.faces[1].sum() > 0
    bad = sample("m/s2/y", onset=None, apex=None, flow_image=path, meta={"flow_channels": ["u", "v"]})
    with pytest.raises(MertkError, match=r"flow\.png \[m/s2/y\].*3 channels but the manifest names 2"):
        prepare([bad], settings(tmp_path), components, progress=False)


def test_no_face_stops_with_a_fix_or_is_skipped(tmp_path, components, folder_sample):
    blank = write_folder(tmp_path / "blank", [np.full((200, 200, 3), 128, np.uint8)] * 3, ".png")
    bad = sample("test/s1/blank", frames=blank, apex=1)
    hog = settings(tmp_path, face_detector="dlib-hog")
    with pytest.raises(MertkError,
                       match=r"(?s)blank/img1\.png \[test/s1/blank\]: no face found.*whole-frame.*on_error: skip"):
        prepare([folder_sample, bad], hog, components, progress=False)
    out = prepare([bad, folder_sample], hog, components, on_error="skip", progress=False)
    assert out.sample_ids == ["test/s1/clipA"] and out.views["hars"].shape[0] == 1
    (problem,) = out.problems
    assert problem.fatal and problem.sample == "test/s1/blank" and "no face" in problem.message
    # the default fallback chain gets a box from the whole frame, records it and warns: it may be no face at all
    out = prepare([bad], settings(tmp_path, face_detector={"name": "dlib-auto", "chain": ["dlib-hog", "whole-frame"]}),
                  components, progress=False)
    assert out.records[0]["face_method"] == "whole-frame" and out.sample_ids == ["test/s1/blank"]
    (warning,) = out.problems
    assert not warning.fatal and warning.sample == "test/s1/blank" and warning.file.endswith("blank/img1.png")
    assert "no face detector found a face" in warning.message and "whole frame was taken" in warning.message
    # whole-frame chosen on purpose (a release of cropped faces) is no problem
    out = prepare([bad], settings(tmp_path / "chosen", face_detector="whole-frame"), components, progress=False)
    assert out.records[0]["face_method"] == "whole-frame" and out.problems == []


class CountingFlow:
    """DIS flow that counts its pairs and can simulate an interruption after ``stop_after`` calls."""

    calls = 0
    stop_after: int | None = None

    def __init__(self) -> None:
        self.inner = mertk.load_components(autoload=False).create("flow_extractor", "dis")

    def __call__(self, first, second):
        if CountingFlow.stop_after is not None and CountingFlow.calls >= CountingFlow.stop_after:
            raise KeyboardInterrupt
        CountingFlow.calls += first.shape[0]
        return self.inner(first, second)


def test_interrupted_run_resumes_without_recomputing(tmp_path, frames5):
    components = mertk.load_components(autoload=False)
    components["flow_extractor"].register("counting", CountingFlow, plugin="test")
    clips = [sample(f"t/s/c{i}", frames=write_folder(tmp_path / f"c{i}", frames5, ".png")) for i in range(4)]
    config = settings(tmp_path, flow="counting")
    CountingFlow.calls, CountingFlow.stop_after = 0, 2
    with pytest.raises(KeyboardInterrupt):  # killed while the third clip is computed
        prepare(clips, config, components, progress=False)
    cached = sorted((tmp_path / "cache").rglob("*.pt"))
    assert len(cached) == 2 and not list((tmp_path / "cache").rglob(".tmp-*"))
    stamps = {p: p.stat().st_mtime_ns for p in cached}

    CountingFlow.calls, CountingFlow.stop_after = 0, None
    first_run = prepare(clips, config, components, progress=False)
    assert CountingFlow.calls == 2  # only the two unfinished clips
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 4

    CountingFlow.calls = 0  # views and encoding are not part of the cached content
    again = prepare(clips, config.model_copy(update={"views": {"face": "full-face"}}), components, progress=False)
    assert CountingFlow.calls == 0 and torch.equal(again.views["face"], first_run.views["face"])

    os.utime(clips[1].frames[0], ns=(1, 1))  # an edited source file recomputes that clip only
    prepare(clips, config, components, progress=False)
    assert CountingFlow.calls == 1


def test_parallel_workers_give_the_same_result(tmp_path, components, frames5):
    clips = [sample(f"t/s/w{i}", frames=write_folder(tmp_path / f"w{i}", frames5, ".png")) for i in range(2)]
    serial = prepare(clips, settings(tmp_path, cache=False), components, progress=False)
    parallel = prepare(clips, settings(tmp_path, cache=False, workers=2), components, progress=False)
    assert parallel.sample_ids == serial.sample_ids
    assert torch.allclose(parallel.views["hars"], serial.views["hars"], atol=1e-5)
    assert not list((tmp_path / "cache").rglob("*.pt"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_path_batches_torch_flow(tmp_path, components, frames5):
    clips = [sample(f"t/s/g{i}", frames=write_folder(tmp_path / f"g{i}", frames5, ".png")) for i in range(3)]
    config = settings(tmp_path, flow="torch-tvl1", device="cuda", batch_size=2, cache=False)
    gpu = prepare(clips, config, components, progress=False)
    cpu = prepare(clips, config.model_copy(update={"device": "cpu"}), components, progress=False)
    assert gpu.sample_ids == cpu.sample_ids
    assert (gpu.flows - cpu.flows).abs().mean() < 0.01


def test_corrupt_frame_names_file_and_sample_or_is_skipped(tmp_path, components, folder_sample):
    """A truncated JPEG apex frame: 'stop' names the file and the sample, 'skip' lists the clip
    and keeps the good one."""
    paths = write_folder(tmp_path / "bad", clip_frames(5, 2), ".jpg")
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) // 3])  # cut off mid-stream, as a failed copy leaves it
    broken = sample("test/s2/broken", frames=paths)
    with pytest.raises(MertkError) as exc:
        prepare([folder_sample, broken], settings(tmp_path), components, progress=False)
    assert "img3.jpg" in str(exc.value) and "test/s2/broken" in str(exc.value)
    out = prepare([folder_sample, broken], settings(tmp_path), components, on_error="skip", progress=False)
    assert out.sample_ids == ["test/s1/clipA"]
    (problem,) = [p for p in out.problems if p.fatal]
    assert problem.sample == "test/s2/broken" and problem.file.endswith("img3.jpg")


def test_stop_processes_every_clip_then_lists_every_bad_one(tmp_path, components, folder_sample):
    """Two bad clips around a good one: 'stop' names both (not only the first) and the good clip
    was still processed and cached, so fixing the data and rerunning loses nothing."""
    from mertk.errors import DataError

    grey = [np.full((200, 200, 3), 128, np.uint8)] * 3
    blank = sample("test/s1/blank", frames=write_folder(tmp_path / "blank", grey, ".png"), apex=1)
    paths = write_folder(tmp_path / "bad", clip_frames(5, 2), ".jpg")
    paths[2].write_bytes(paths[2].read_bytes()[:200])
    broken = sample("test/s2/broken", frames=paths)
    config = settings(tmp_path, face_detector="dlib-hog")
    with pytest.raises(DataError) as exc:
        prepare([blank, folder_sample, broken], config, components, progress=False)
    message = str(exc.value)
    assert message.startswith("2 sample(s) cannot be used")
    assert "[test/s1/blank]: no face found" in message and "img3.jpg [test/s2/broken]" in message
    assert {p.sample for p in exc.value.problems if p.fatal} == {"test/s1/blank", "test/s2/broken"}
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 1  # the good clip, done before the stop



def _sigterm_handler() -> str:
    return str(signal.getsignal(signal.SIGTERM))


def test_a_forked_preprocessing_worker_dies_on_sigterm_whatever_handler_the_parent_set() -> None:
    """``Pool.terminate`` ends workers with SIGTERM; a worker that kept the parent's Python handler
    (one that only notes the signal, as a library's or mertk's own may) would never end."""
    from mertk.preprocess import pipeline

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        pool = pipeline._fork_pool(2)  # noqa: SLF001 - the pool the pipeline forks
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        assert pool.apply(_sigterm_handler) == str(signal.SIG_DFL)
    finally:
        pool.terminate()
