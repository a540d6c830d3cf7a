"""Fixtures shared by the spotting tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest


def _rendered(frames: int, seed: int = 5) -> Iterator[np.ndarray]:
    """A recording of ``frames`` frames at 10 fps rendered on the fly (never on disk), as a spotter reads it."""
    from mertk.data.demo_faces import textured_faces
    from mertk.data.demo_long import _render, schedule_events

    rng = np.random.default_rng(seed)
    (face,) = textured_faces(rng, 1)
    return _render(face, schedule_events(rng, frames, 10.0), frames, 10.0, rng)


@pytest.fixture
def rendered() -> Callable[..., Iterator[np.ndarray]]:
    """``rendered(frames, seed=5)``: a demo recording's frames at 10 fps, rendered one at a time, never stored."""
    return _rendered
