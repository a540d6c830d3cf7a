"""The flows demo: the composite demo's clips as published-style 28 x 28 8-bit flow images with landmarks."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mertk.data import demo_faces
from mertk.data.demo import Demo, demo_folder, ensure_demo
from mertk.data.demo_composite import plan_composite


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_demo(tmp_path_factory.mktemp("flows") / "demo", seed=0, variant="flows")


def test_flow_images_look_like_published_flows(flows: Path) -> None:
    images = [np.asarray(Image.open(p)) for p in sorted((flows / "flows").iterdir())]
    assert len(images) == 442
    assert all(i.shape == (28, 28, 3) and i.dtype == np.uint8 for i in images)
    for image in images[:20]:
        for c in range(3):
            assert image[..., c].min() == 0 and image[..., c].max() == 255  # min-max scaled per channel
        # flat background: the most common u level covers the corners and a good part of the image
        level, count = Counter(image[..., 0].ravel().tolist()).most_common(1)[0]
        assert count >= 100 and image[0, 0, 0] == image[0, -1, 0] == image[-1, 0, 0] == level


def test_flows_demo_loads_as_a_manifest_of_flows_with_landmarks(flows: Path) -> None:
    load = Demo(root=str(flows), variant="flows").load()
    assert not [p for p in load.problems if p.fatal]
    samples = load.samples
    assert len(samples) == 442 and len({s.subject for s in samples}) == 68
    assert Counter(s.dataset for s in samples) == {"casme2": 145, "samm": 133, "smic": 164}
    assert Counter(s.label for s in samples) == {0: 250, 1: 109, 2: 83}
    assert all(s.flow_image is not None and "landmarks_file" in s.meta for s in samples)
    points = np.loadtxt(samples[0].meta["landmarks_file"])
    assert points.shape == (68, 2) and points.min() > 0 and points.max() < 28


def test_flows_demo_is_deterministic_and_lives_in_the_cache(flows: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    again = ensure_demo(tmp_path / "again", seed=0, variant="flows")
    for name in ("flows/casme2_sub01_EP01.png", "flows/smic_sub16_EP01.png", "manifest.csv"):
        assert (flows / name).read_bytes() == (again / name).read_bytes()
    monkeypatch.setenv("MERTK_CACHE", str(tmp_path))
    assert demo_folder(seed=3, variant="flows") == tmp_path / "demo-flows-v2-seed3"


def test_flows_demo_aus_follow_each_clips_motion(flows: Path) -> None:
    units = {f"{c.source}/sub{c.subject:02d}/{c.name}": c.units for c in plan_composite(seed=0)}
    samples = Demo(root=str(flows), variant="flows").load().samples
    counts: Counter[str] = Counter()
    for sample in samples:
        planned = {code for unit in (*units[sample.id], "blink") for code in demo_faces.UNIT_AUS[unit]}
        assert sample.aus is not None and set(sample.aus) <= planned, sample.id
        counts.update(sample.aus)
    for code in ("AU1", "AU4", "AU6", "AU9", "AU10", "AU12"):
        assert 20 <= counts[code] < len(samples) // 2, code


def test_each_units_own_motion_is_reported_without_changing_the_image() -> None:
    """``flow_image(fields=...)`` hands out each unit's own flow (what tools/demo_au_visibility.py
    measures) and draws nothing more: the image is the demo's, byte for byte."""
    from mertk.data.demo_flows import flow_clips, flow_image

    for made in itertools.islice(flow_clips(seed=0), 12):
        rng = np.random.default_rng([0, 13, made.clip.index])
        assert flow_image(made.clip.units, made.landmarks, made.clip.source, rng).tobytes() == made.image.tobytes()
        assert set(made.fields) == set(made.moved) and set(made.clip.units) <= set(made.fields)
        to_128 = 128.0 / float(np.ptp(made.landmarks[:, 0]))
        for unit, field in made.fields.items():  # its peak on the grid is about the recorded apex motion
            peak = float(np.hypot(*field).max()) * to_128  # (less between pixels, more where regions overlap)
            assert 0.7 * made.moved[unit] <= peak <= 1.3 * made.moved[unit], unit
