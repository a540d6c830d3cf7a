"""Landmarks for precomputed flow images: detected on the face crop, whole crop, supplied, template."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mertk.data.manifest import Manifest
from mertk.engine.report import _preprocessing_lines
from mertk.engine.rundir import RunFolder
from mertk.preprocess.crops import read_landmarks, scale_points
from mertk.preprocess.faces import DlibHog, DlibLandmarks68
from mertk.preprocess.pipeline import prepare
from mertk.preprocess.roi import Hars, region_box
from mertk.preprocess.settings import PreprocessSettings
from mertk.preprocess.template import template_landmarks

FLOW = 28
CROP = 224
HARS = {"name": "hars", "regions": ["eyes", "mouth"], "size": 28, "margin": 0.1}


def face_crop() -> np.ndarray:
    """``(224, 224, 3)`` RGB apex-style crop of skimage's astronaut (dlib's HOG finds the face)."""
    import skimage.data

    crop = np.ascontiguousarray(skimage.data.astronaut()[20:260, 130:370])
    return cv2.resize(crop, (CROP, CROP), interpolation=cv2.INTER_AREA)


def write_rgb(path: Path, image: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path.name


def write_manifest(tmp_path: Path, face: np.ndarray | None = None, landmarks: str = "") -> Path:
    """One flow row (a random 28 x 28 flow PNG), with an optional face crop and landmarks file."""
    flow = np.random.default_rng(0).integers(0, 255, (FLOW, FLOW, 3), dtype=np.uint8)
    write_rgb(tmp_path / "flow.png", flow)
    face_cell = write_rgb(tmp_path / "face.png", face) if face is not None else ""
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,flow,face,landmarks\n"
                                    f"ep1,sub01,casme2,positive,flow.png,{face_cell},{landmarks}\n")
    return tmp_path / "m.csv"


def run(tmp_path: Path, manifest: Path, face_detector="dlib-hog", **kw):
    load = Manifest(str(manifest)).load()
    assert not [p for p in load.problems if p.fatal], load.problems
    settings = PreprocessSettings(cache_dir=str(tmp_path / "cache"), workers=1, face_detector=face_detector,
                                  views={"face": {"name": "full-face", "size": 28}, "hars": HARS}, **kw)
    return load.samples[0], prepare(load.samples, settings, _components(), progress=False)


def _components():
    import mertk

    return mertk.load_components(autoload=False)


def flow_image(tmp_path: Path) -> torch.Tensor:
    """The flow PNG as the pipeline reads it: ``(3, 28, 28)`` in ``[0, 1]``."""
    raw = cv2.cvtColor(cv2.imread(str(tmp_path / "flow.png")), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(raw.astype(np.float32) / 255).permute(2, 0, 1)


def test_scale_points_follows_resize_pixel_centres():
    # pixel centres: the corner pixels' outer edges (-0.5 and W - 0.5) map onto each other
    points = torch.tensor([[-0.5, -0.5], [223.5, 223.5], [111.5, 111.5]])
    scaled = scale_points(points, (224, 224), (28, 28))
    assert torch.allclose(scaled, torch.tensor([[-0.5, -0.5], [27.5, 27.5], [13.5, 13.5]]))
    assert torch.allclose(scale_points(torch.tensor([[10.0, 20.0]]), (100, 50), (50, 100)),
                          torch.tensor([[20.5, 9.75]]))


def test_detected_landmarks_place_hars_on_the_face_crop(tmp_path, monkeypatch):
    _, out = run(tmp_path, write_manifest(tmp_path, face_crop()))
    crop = cv2.cvtColor(cv2.imread(str(tmp_path / "face.png")), cv2.COLOR_BGR2RGB)
    (box,) = DlibHog()(crop)
    expected = scale_points(torch.from_numpy(DlibLandmarks68()(crop, box)), (CROP, CROP), (FLOW, FLOW))
    assert torch.allclose(out.landmarks[0], expected, atol=1e-4)
    record = out.records[0]
    assert (record["landmarks_source"], record["face_method"]) == ("detected", "dlib-hog")
    assert record["face_box"] == pytest.approx([box.left, box.top, box.right, box.bottom])
    assert not out.problems
    # the HARS strips are cut from the boxes of the scaled landmarks, not from the template's
    image = flow_image(tmp_path)
    assert torch.allclose(out.views["hars"][0], Hars(margin=0.1)(image, expected), atol=1e-5)
    eyes, mouth = (region_box(expected, r, (FLOW, FLOW), 0.1) for r in ("eyes", "mouth"))
    assert eyes[1] <= mouth[1] and eyes[0] < mouth[0]  # eyes above the mouth
    template = template_landmarks(FLOW)
    assert eyes != region_box(template, "eyes", (FLOW, FLOW), 0.1) or \
        mouth != region_box(template, "mouth", (FLOW, FLOW), 0.1)
    # a rerun reads the detection from the cache instead of detecting again
    def no_detection(self, image):
        raise AssertionError("detected again")

    monkeypatch.setattr(DlibHog, "__call__", no_detection)
    _, again = run(tmp_path, tmp_path / "m.csv")
    assert torch.equal(again.landmarks, out.landmarks) and again.records[0]["landmarks_source"] == "detected"


@pytest.mark.parametrize("detector", ["dlib-hog", {"name": "dlib-auto", "chain": ["dlib-hog", "whole-frame"]}])
def test_no_face_on_the_crop_uses_the_whole_crop_and_warns(tmp_path, detector):
    grey = np.full((CROP, CROP, 3), 128, np.uint8)
    sample, out = run(tmp_path, write_manifest(tmp_path, grey), face_detector=detector)
    record = out.records[0]
    assert (record["landmarks_source"], record["face_method"]) == ("whole-crop", "whole-crop")
    assert record["face_box"] == [0.0, 0.0, CROP - 1.0, CROP - 1.0]
    assert out.landmarks.shape == (1, 68, 2) and out.landmarks.min() > -2 and out.landmarks.max() < FLOW + 2
    (problem,) = out.problems
    assert not problem.fatal and problem.sample == sample.id and problem.file.endswith("face.png")
    assert "whole crop" in problem.message and "landmarks" in problem.fix
    # the record reaches preprocessing.csv and the report
    RunFolder(tmp_path).save_preprocessing([sample.id], out.records)
    header, row = (tmp_path / "preprocessing.csv").read_text().splitlines()
    assert header.split(",")[-1] == "landmarks_source" and row.endswith(",whole-crop")
    lines = _preprocessing_lines([{"landmarks_source": "detected"}] * 2 + out.records)
    assert lines[-1].startswith("Landmarks: 2 detected, 1 whole-crop")


@pytest.mark.parametrize("with_face", [True, False])
def test_supplied_landmarks_win_and_are_scaled_into_the_flow(tmp_path, with_face):
    size = CROP if with_face else FLOW
    points = template_landmarks(size).numpy() + 1.0
    (tmp_path / "lm.csv").write_text("\n".join(f"{x},{y}" if i % 2 else f"{x} {y}" for i, (x, y) in enumerate(points)))
    face = face_crop() if with_face else None
    sample, out = run(tmp_path, write_manifest(tmp_path, face, "lm.csv"))
    assert sample.meta["landmarks_file"].endswith("lm.csv")
    expected = torch.from_numpy(points)
    if with_face:
        expected = scale_points(expected, (CROP, CROP), (FLOW, FLOW))
    assert torch.allclose(out.landmarks[0], expected, atol=1e-4)
    assert out.records[0]["landmarks_source"] == "supplied" and not out.problems


def test_template_is_the_last_resort_and_warns(tmp_path):
    _, out = run(tmp_path, write_manifest(tmp_path))
    assert out.records[0]["landmarks_source"] == "template"
    assert torch.allclose(out.landmarks[0], template_landmarks(FLOW))
    (problem,) = out.problems
    assert not problem.fatal and problem.file.endswith("m.csv") and problem.row == 2
    assert "template" in problem.message and "'face' column" in problem.fix and "'landmarks'" in problem.fix
    assert "Landmarks: 1 template" in _preprocessing_lines(out.records)[-1]


def test_landmarks_files_are_read_and_bad_ones_reported(tmp_path):
    points = np.arange(136, dtype=np.float32).reshape(68, 2)
    np.save(tmp_path / "ok.npy", points)
    assert np.array_equal(read_landmarks(tmp_path / "ok.npy"), points)
    np.save(tmp_path / "short.npy", points[:60])
    write_flow = np.zeros((FLOW, FLOW, 3), np.uint8)
    write_rgb(tmp_path / "flow.png", write_flow)
    (tmp_path / "m.csv").write_text("sample,subject,dataset,label,flow,landmarks\n"
                                    "a,s1,casme2,0,flow.png,ok.npy\n"
                                    "b,s1,casme2,0,flow.png,short.npy\n"
                                    "c,s1,casme2,0,flow.png,absent.txt\n")
    load = Manifest(str(tmp_path / "m.csv")).load()
    assert [s.clip for s in load.samples] == ["a"]
    short, absent = load.problems
    assert (short.row, short.sample, short.fatal) == (3, "casme2/s1/b", True)
    assert "short.npy" in short.message and "(60, 2)" in short.message and "68 lines" in short.fix
    assert absent.row == 4 and "absent.txt does not exist" in absent.message
