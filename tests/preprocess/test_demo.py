"""End to end on mertk's demo dataset: every clip gets a face, landmarks, flow and both Dual-ATME
views, and the flow is strongest where the demo moved the face for each emotion."""

from __future__ import annotations

import pytest
import torch

from mertk.preprocess.pipeline import prepare
from mertk.preprocess.settings import PreprocessSettings

#: Landmark groups the demo's action units move, per emotion (each clip scales each group at random,
#: so the strongest group is compared), and landmarks it leaves still.
BROWS, LOWERER, CHIN_LIP = list(range(17, 27)), [19, 20, 21, 22, 23, 24], [7, 8, 9, 56, 57, 58]
MOVED = {"happiness": [[48], [54]], "surprise": [BROWS, CHIN_LIP],
         "disgust": [LOWERER, [31, 32, 34, 35], [50, 51, 52]], "repression": [LOWERER, [50, 51, 52], [56, 57, 58]]}
STILL = [1, 15, 30]  # jaw sides and nose tip


def _motion(flow: torch.Tensor, landmarks: torch.Tensor, indices: list[int]) -> float:
    mag = flow.norm(dim=0)
    values = []
    for x, y in landmarks[indices].round().long().clamp(3, mag.shape[-1] - 4).tolist():
        values.append(float(mag[y - 3:y + 4, x - 3:x + 4].mean()))
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def demo_samples(tmp_path_factory, components):
    load = components.build("dataset", {"name": "demo", "root": str(tmp_path_factory.mktemp("demo") / "d")}).load()
    by_emotion: dict[str, list] = {}
    for s in load.samples:
        by_emotion.setdefault(s.emotion, []).append(s)
    return [s for group in by_emotion.values() for s in group[:3]]  # 3 clips of each emotion


def test_demo_clips_end_to_end(tmp_path, components, demo_samples):
    views = {"face": {"name": "full-face", "size": 28}, "hars": {"name": "hars", "regions": ["eyes", "mouth"], "size": 28}}
    settings = PreprocessSettings(views=views, cache_dir=str(tmp_path), workers=1)
    out = prepare(demo_samples, settings, components, progress=False)
    n = len(demo_samples)
    assert out.sample_ids == [s.id for s in demo_samples] and not [p for p in out.problems if p.fatal]
    assert out.views["face"].shape == out.views["hars"].shape == (n, 3, 28, 28)
    assert out.landmarks.shape == (n, 68, 2) and out.faces.shape == (n, 1, 128, 128)
    assert all(r["face_method"].startswith("dlib-hog") and r["apex_source"] == "annotation" for r in out.records)
    for i, s in enumerate(demo_samples):
        moved = max(_motion(out.flows[i], out.landmarks[i], group) for group in MOVED[s.emotion])
        still = _motion(out.flows[i], out.landmarks[i], STILL)
        assert moved > 2 * still, (s.id, s.emotion, moved, still)
