"""Apex spotters on clips with a known apex."""

from __future__ import annotations

import torch
from preprocess_clips import clip_frames


def _grey(frames):
    return torch.stack([torch.from_numpy(f.mean(-1)).float()[None] / 255 for f in frames])


def test_max_motion_finds_the_apex(components):
    spot = components.create("spotter", "max-motion")
    assert spot(_grey(clip_frames(7, 4)), 0) == 4
    assert spot(_grey(clip_frames(6, 2)), 0) == 2


def test_middle(components):
    assert components.create("spotter", "middle")(torch.zeros(9, 1, 4, 4), 2) == 5
