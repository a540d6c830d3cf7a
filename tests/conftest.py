"""Fixtures shared by several test folders: a tiny manifest dataset of precomputed flow images, in two
source datasets, and a local Ray for the executor tests (skipped without the ``ray`` extra)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

SIZE = 32


def flow_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(SIZE, SIZE, 3)`` uint8 (u, v, strain) image whose motion region depends on ``label``."""
    image = rng.uniform(0.3, 0.5, (SIZE, SIZE, 3))
    rows = {0: slice(4, 12), 1: slice(20, 28), 2: slice(12, 20)}[label]
    image[rows, 8:24, label] += 0.5
    return (image.clip(0, 1) * 255).astype(np.uint8)


@pytest.fixture
def flow_manifest(tmp_path: Path) -> Path:
    """``manifest.csv``: datasets ``alpha`` and ``beta``, 2 subjects each, 2 clips per class each."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    (folder / "flows").mkdir(parents=True)
    rows = []
    for dataset in ("alpha", "beta"):
        for subject in ("s1", "s2"):
            for label in range(3):
                for k in range(2):
                    name = f"{subject}_{label}_{k}"
                    path = folder / "flows" / f"{dataset}_{name}.png"
                    cv2.imwrite(str(path), flow_image(label, rng)[..., ::-1])  # OpenCV writes BGR
                    rows.append([name, subject, dataset, label, path.relative_to(folder).as_posix()])
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample", "subject", "dataset", "label", "flow"])
        writer.writerows(rows)
    return manifest


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray with 2 CPUs, started once per test process and shared by the Ray tests."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e \".[ray]\")")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
