"""Fixtures of the preprocessing tests; the clip helpers live in ``preprocess_clips.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make the helpers importable

from preprocess_clips import clip_frames, sample, write_folder

from mertk.api import Sample


@pytest.fixture(scope="session")
def frames5() -> list[np.ndarray]:
    return clip_frames(5, 2)


@pytest.fixture
def folder_sample(tmp_path: Path, frames5: list[np.ndarray]) -> Sample:
    paths = write_folder(tmp_path / "clipA", frames5, ".png", numbers=[3, 4, 7, 9, 10])
    return sample("test/s1/clipA", frames=paths, onset=0, apex=2)


@pytest.fixture(scope="session")
def components():
    import mertk

    return mertk.load_components(autoload=False)
