"""The demo dataset: deterministic, loads through the CASME II reader, faces found by dlib."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import pytest

from mertk.data import demo, demo_faces
from mertk.data.sheets import read_sheet


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.ensure_demo(tmp_path_factory.mktemp("cache") / "demo", seed=0)


def test_demo_loads_through_casme2_reader(demo_root: Path) -> None:
    load = demo.Demo(root=str(demo_root)).load()
    assert [p for p in load.problems] == []
    assert load.class_names == ("negative", "positive", "surprise")
    subjects = {s.subject for s in load.samples}
    assert len(subjects) >= 12 and all(s.startswith("demo/sub") for s in subjects)
    assert Counter(s.label for s in load.samples) == {0: 36, 1: 36, 2: 36}
    for sample in load.samples:
        assert sample.dataset == "demo" and 10 <= len(sample.frames) <= 20
        assert sample.onset < sample.apex < sample.offset
    assert (demo_root / "CASME2-RAW" / "sub01" / "EP01_01" / "img1.jpg").is_file()


def test_demo_aus_follow_the_motion_each_clip_was_rendered_with(demo_root: Path) -> None:
    samples = demo.Demo(root=str(demo_root)).load().samples
    recipe = {emotion: {code for unit in (*units, "blink") for code in demo_faces.UNIT_AUS[unit]}
              for emotion, units in demo_faces.EMOTION_UNITS.items()}
    counts: Counter[str] = Counter()
    for sample in samples:
        assert sample.aus is not None and set(sample.aus) <= recipe[sample.emotion], sample.id
        counts.update(sample.aus)
    moved = set().union(*recipe.values())
    assert set(counts) <= moved
    for code in moved:  # every AU the demo moves is listed in some clips, never in all: learnable
        assert 10 <= counts[code] < len(samples), code


def test_demo_onset_frames_are_found_by_dlib_hog(demo_root: Path) -> None:
    detector, _ = demo_faces.dlib_models()
    for sample in demo.Demo(root=str(demo_root)).load().samples:
        frame = cv2.imread(str(sample.frames[sample.onset]), cv2.IMREAD_GRAYSCALE)
        boxes = detector(frame, 1)
        assert len(boxes) == 1, sample.id
        assert 120 <= boxes[0].width() <= 210 and frame.shape[0] >= 240


@pytest.mark.slow
def test_demo_is_deterministic(demo_root: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    demo.generate_demo(again, seed=0)
    first = sorted(p.relative_to(demo_root) for p in demo_root.rglob("*.jpg"))
    assert first == sorted(p.relative_to(again) for p in again.rglob("*.jpg")) and len(first) > 1000
    assert all((demo_root / p).read_bytes() == (again / p).read_bytes() for p in first)
    columns = ("subject", "filename", "onsetframe", "apexframe", "offsetframe", "estimatedemotion")
    rows = [r.cells for r in read_sheet(demo_root / demo.ANNOTATION_NAME, columns)]
    assert rows == [r.cells for r in read_sheet(again / demo.ANNOTATION_NAME, columns)]


def test_interrupted_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(target: Path, seed: int) -> None:
        (target / "CASME2-RAW").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "generate_demo", crash)
    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo(tmp_path / "demo", seed=3)
    assert list(tmp_path.iterdir()) == []


def test_default_folder_is_in_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MERTK_CACHE", str(tmp_path))
    assert demo.demo_folder(seed=4) == tmp_path / "demo-v3-seed4"
    assert demo.demo_folder(root="~/x", seed=4) == Path("~/x").expanduser()
