"""LBP-TOP features, the linear SVM fitted model, and the pipeline's aligned-clip views."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import mertk
from mertk.api import Sample, view_source
from mertk.preprocess.settings import PreprocessSettings

COMPONENTS = mertk.load_components()


def texture(rng: np.random.Generator, size: int = 32) -> np.ndarray:
    return (rng.uniform(0, 255, (size, size))).astype(np.uint8)


# --------------------------------------------------------------------------- features


def test_lbp_top_histograms_per_cell_and_plane_sum_to_one():
    from mertk_baselines.lbptop import lbp_top

    volume = np.stack([texture(np.random.default_rng(i)) for i in range(6)])
    h = lbp_top(volume, blocks=4)
    assert h.shape == (3 * 59, 4, 4)
    np.testing.assert_allclose(h.reshape(3, 59, 4, 4).sum(1), 1, rtol=1e-6)


def test_lbp_top_time_planes_see_motion_that_the_frame_planes_do_not():
    from mertk_baselines.lbptop import lbp_top

    frame = texture(np.random.default_rng(0))
    static = np.stack([frame] * 6)
    moving = np.stack([np.roll(frame, t, axis=1) for t in range(6)])  # shifted one pixel per frame
    a, b = (lbp_top(v, blocks=1).reshape(3, 59) for v in (static, moving))
    distance = np.abs(a - b).sum(1)  # L1 distance of the XY, XT and YT histograms (at most 2)
    # each frame of `moving` is `frame` shifted: the same XY histogram up to the wrapped column
    assert distance[0] < 0.1
    # the planes through time tell the static clip from the moving one
    assert distance[1] > 0.5 and distance[2] > 0.5


def test_lbp_top_selector_reads_frames_and_is_registered():
    selector = COMPONENTS.build("roi_selector", {"name": "lbp-top", "size": 32, "blocks": 2})
    assert view_source(selector) == "frames"
    assert view_source(COMPONENTS.build("roi_selector", "full-face")) == "flow"  # no `source` attribute
    view = selector(torch.rand(5, 1, 48, 48), torch.zeros(68, 2))
    assert view.shape == (177, 2, 2) and view.dtype == torch.float32


# --------------------------------------------------------------------------- fitted model


def blobs(n: int = 60, dim: int = 20, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, dim, generator=g)
    x[torch.arange(n), y] += 4.0
    return x[:, :, None, None], y


def test_linear_svm_scores_zero_until_fitted_then_separates_the_classes():
    model = COMPONENTS.build("model", "linear-svm", num_classes=3, in_channels=20)
    x, y = blobs()
    assert torch.equal(model({"lbp-top": x}).logits, torch.zeros(60, 3))
    model.fit({"lbp-top": x}, y)
    test_x, test_y = blobs(seed=1)
    accuracy = (model({"lbp-top": test_x}).logits.argmax(1) == test_y).float().mean()
    assert accuracy > 0.9


def test_linear_svm_never_predicts_a_class_missing_from_the_training_fold():
    model = COMPONENTS.build("model", "linear-svm", num_classes=3, in_channels=20)
    x, y = blobs()
    keep = y != 1
    model.fit({"lbp-top": x[keep]}, y[keep])  # two classes: one hyperplane
    pred = model({"lbp-top": x}).logits.argmax(1)
    assert set(pred.tolist()) <= {0, 2}
    assert (pred[keep] == y[keep]).float().mean() > 0.9


def test_linear_svm_state_dict_round_trip():
    x, y = blobs()
    model = COMPONENTS.build("model", "linear-svm", num_classes=3, in_channels=20)
    model.fit({"lbp-top": x}, y)
    fresh = COMPONENTS.build("model", "linear-svm", num_classes=3, in_channels=20)
    fresh({"lbp-top": x[:2]})  # the engine's dry run fixes the feature size
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh({"lbp-top": x}).logits, model({"lbp-top": x}).logits)


# --------------------------------------------------------------------------- pipeline hook


class FrameMeans:
    """A test selector reading frames: the mean grey level of each frame, ``(T, 1, 1)``."""

    source = "frames"

    def __call__(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        return frames.mean(dim=(1, 2, 3))[:, None, None]


class FrameMeansPlugin:
    @mertk.hookimpl
    def register_roi_selectors(self, register):
        register("frame-means", FrameMeans)


def face_clip(folder: Path, n: int) -> tuple[Path, ...]:
    """``n`` frames of a real face (scikit-image's astronaut), frame ``i`` brighter by ``6 i``."""
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[0:320, 80:400]).astype(np.int16)
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / f"img{i + 1}.png"
        cv2.imwrite(str(path), cv2.cvtColor(np.clip(face + 6 * i, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        paths.append(path)
    return tuple(paths)


@pytest.mark.slow
def test_pipeline_gives_frames_views_the_aligned_onset_to_offset_clip(tmp_path):
    from mertk.preprocess.pipeline import prepare
    from mertk.testing import components_with

    frames = face_clip(tmp_path / "clip", 8)
    clip = Sample(id="t/s1/c1", subject="t/s1", clip="c1", dataset="t", label=0, frames=frames, onset=1, apex=3,
                  offset=5)
    flow_png = tmp_path / "flow.png"
    cv2.imwrite(str(flow_png), np.full((32, 32, 3), 128, np.uint8))
    precomputed = Sample(id="t/s2/c2", subject="t/s2", clip="c2", dataset="t", label=1, flow_image=flow_png)
    settings = PreprocessSettings(
        face_detector="dlib-hog", flow="farneback", align={"size": 64}, workers=1, cache_dir=str(tmp_path / "cache"),
        views={"face": {"name": "full-face", "size": 28}, "means": "frame-means",
               "lbp": {"name": "lbp-top", "size": 32, "blocks": 2}})
    components = components_with(FrameMeansPlugin())
    prepared = prepare([clip, precomputed], settings, components, on_error="skip", progress=False)

    assert prepared.sample_ids == ["t/s1/c1"]
    [problem] = [p for p in prepared.problems if p.fatal]
    assert problem.sample == "t/s2/c2" and "reads the aligned frames" in problem.message
    assert prepared.views["face"].shape == (1, 3, 28, 28)
    assert prepared.views["lbp"].shape == (1, 177, 2, 2)
    means = prepared.views["means"][0, :, 0, 0]
    assert len(means) == 5  # onset 1 .. offset 5
    assert (means.diff() > 0.01).all()  # in temporal order: each frame is brighter than the last
    # the last clip frame before the apex is the apex face the pipeline keeps
    assert means[2] == pytest.approx(prepared.faces[0].mean().item(), abs=2e-3)

    # a second run reads the clip from the cache (no face detection), identical views
    class NoDetector:
        def __call__(self, image):
            raise AssertionError("the clip was not cached")

    components["face_detector"].get("dlib-hog").__dict__["factory"] = lambda: NoDetector()
    again = prepare([clip], settings, components, on_error="stop", progress=False)
    for name in ("face", "means", "lbp"):
        assert torch.equal(again.views[name], prepared.views[name])


# --------------------------------------------------------------------------- engine


def moving_clip(folder: Path, label: int, n: int = 6) -> None:
    """A real face moving one pixel per frame: right (0), down (1) or not at all (2)."""
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[0:320, 80:400])
    folder.mkdir(parents=True)
    for i in range(n):
        frame = np.roll(face, i, axis=1) if label == 0 else np.roll(face, i, axis=0) if label == 1 else face
        cv2.imwrite(str(folder / f"img{i + 1}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


@pytest.mark.slow
def test_the_engine_fits_lbp_top_and_the_svm_per_fold(tmp_path):
    from mertk.config import load_config
    from mertk.engine.runner import run_experiment

    rows = ["sample,subject,dataset,label,frames,onset,apex,offset"]
    for subject in ("s1", "s2", "s3"):
        for label in range(3):
            moving_clip(tmp_path / "data" / subject / f"c{label}", label)
            rows.append(f"c{label},{subject},t,{label},{subject}/c{label},1,4,6")
    (tmp_path / "data" / "manifest.csv").write_text("\n".join(rows) + "\n")
    loaded = load_config("lbp-top.yaml", COMPONENTS, [
        f"dataset={{name: manifest, path: {tmp_path / 'data' / 'manifest.csv'}}}", "preprocess.face_detector=dlib-hog",
        "preprocess.flow=farneback", "preprocess.align.size=64", "preprocess.workers=1",
        f"preprocess.cache_dir={tmp_path / 'cache'}", "preprocess.views.lbp-top.size=32",
        "preprocess.views.lbp-top.blocks=2", "output.export_model=false", "train.threads=1"])
    run = run_experiment(loaded, COMPONENTS, run_dir=tmp_path / "run")
    metrics = (run / "metrics.json").read_text()
    folds = [json.loads(p.read_text()) for p in sorted((run / "folds").glob("*.json"))]
    assert len(folds) == 3 and all(f["history"] == [] for f in folds)  # fitted: no epochs
    probs = np.array([p for f in folds for p in f["probs"]])
    assert probs.shape == (9, 3) and np.abs(probs - 1 / 3).max() > 0.05  # real SVM scores, not the unfitted zeros
    # the motion direction is what LBP-TOP's time planes encode: held-out subjects are recognised
    assert '"accuracy": 1.0' in metrics.split('"per_group"')[0]
