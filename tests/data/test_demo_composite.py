"""The composite demo: planned like the MEGC 2019 composite, rendered per source, loaded as a manifest."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from mertk.data import demo, demo_composite, demo_faces
from mertk.data.demo_composite import plan_composite, render_composite_clip


def test_plan_has_the_composite_counts() -> None:
    plan = plan_composite(seed=0)
    assert len(plan) == 442
    assert len({(c.source, c.subject) for c in plan}) == 68 == len({c.face for c in plan})
    assert Counter(c.label for c in plan) == {"negative": 250, "positive": 109, "surprise": 83}
    expected = {"casme2": (24, 145, (88, 32, 25)), "samm": (28, 133, (92, 26, 15)), "smic": (16, 164, (70, 51, 43))}
    for source, (subjects, clips, classes) in expected.items():
        mine = [c for c in plan if c.source == source]
        assert len({c.subject for c in mine}) == subjects and len(mine) == clips
        labels = Counter(c.label for c in mine)
        assert (labels["negative"], labels["positive"], labels["surprise"]) == classes
    per_subject = Counter((c.source, c.subject) for c in plan)
    assert 1 <= min(per_subject.values()) and max(per_subject.values()) <= 20
    assert len(set(per_subject.values())) > 5  # uneven


def test_plan_is_deterministic_and_shares_action_units() -> None:
    assert plan_composite(seed=0) == plan_composite(seed=0) != plan_composite(seed=1)
    with_brow_lowerer = {c.label for c in plan_composite(seed=0) if "4" in c.units}
    assert with_brow_lowerer == {"negative", "positive", "surprise"}


@pytest.fixture(scope="module")
def face() -> demo_faces.Face:
    detector, predictor = demo_faces.dlib_models()
    found = demo_faces.find_face(next(demo_faces.base_images(np.random.default_rng(0))), detector, predictor)
    assert found is not None
    return found


def test_rendered_clips_follow_their_source(face: demo_faces.Face) -> None:
    plan = plan_composite(seed=0)
    sizes = {"casme2": 240, "samm": 240, "smic": 160}
    lengths = {"casme2": (12, 16), "samm": (12, 16), "smic": (8, 11)}
    contrast = {}
    for source in sizes:
        clip = next(c for c in plan if c.source == source)
        frames, onset, apex, offset = render_composite_clip(clip, face, seed=0)
        assert all(f.shape == (sizes[source], sizes[source]) and f.dtype == np.uint8 for f in frames)
        assert lengths[source][0] <= len(frames) <= lengths[source][1]
        assert 0 <= onset < apex < offset < len(frames)
        again, *_ = render_composite_clip(clip, face, seed=0)
        assert all(np.array_equal(a, b) for a, b in zip(frames, again))
        contrast[source] = float(frames[0].std())
    assert contrast["samm"] < 0.85 * contrast["casme2"]  # the near-infrared look: lower contrast


def test_composite_loads_through_the_manifest_adapter(tmp_path: Path, face: demo_faces.Face,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    few = [c for c in plan_composite(seed=0) if c.subject == 1 and c.name == "EP01"]
    monkeypatch.setattr(demo_composite, "plan_composite", lambda seed: few)
    monkeypatch.setattr(demo_composite, "_subject_faces", lambda count, seed: [face] * count)
    load = demo.Demo(root=str(tmp_path / "composite"), variant="composite").load()
    assert load.problems == [] and load.class_names == ("negative", "positive", "surprise")
    assert sorted(s.id for s in load.samples) == ["casme2/sub01/EP01", "samm/sub01/EP01", "smic/sub01/EP01"]
    for sample in load.samples:
        assert cv2.imread(str(sample.frames[0]), cv2.IMREAD_GRAYSCALE).shape[0] == (160 if sample.dataset == "smic"
                                                                                   else 240)
        assert sample.onset < sample.apex < sample.offset
        units = next(c.units for c in few if c.source == sample.dataset)
        assert sample.aus is not None
        assert set(sample.aus) <= {code for unit in (*units, "blink") for code in demo_faces.UNIT_AUS[unit]}


def test_listed_aus_are_the_units_that_moved_visibly(face: demo_faces.Face) -> None:
    for unit in ("12", "6", "9", "26"):
        moved: dict[str, float] = {}
        field = demo_faces.displacement([unit], face, amplitude=face.width / 128, rng=np.random.default_rng(1),
                                        moved=moved)
        assert moved[unit] == pytest.approx(float(np.hypot(*field).max()) * 128 / face.width, rel=0.02), unit
    threshold = demo_faces.VISIBLE_PX
    moved = {"1+2": threshold, "6": 0.99 * threshold, "blink": 3.0, "24": 0.0}
    assert demo_faces.visible_aus(moved) == ("AU1", "AU2", "AU45")
    assert demo_faces.aus_cell(moved) == "1+2+45" and demo_faces.aus_cell({"6": 0.0}) == "none"


def test_variants_have_their_own_cache_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MERTK_CACHE", str(tmp_path))
    assert demo.demo_folder(seed=4, variant="basic") == tmp_path / "demo-v3-seed4"
    assert demo.demo_folder(seed=4, variant="composite") == tmp_path / "demo-composite-v3-seed4"
