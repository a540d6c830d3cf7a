"""Apex spotters on clips with a known apex."""

from __future__ import annotations

import torch
from preprocess_clips import clip_frames


def _grey(frames):
    return torch.stack([torch.from_numpy(f.mean(-1)).float()[None] / 255 for f in frames])


def test_max_motion_finds_the_apex(components):
    spot = components.create("apex_spotter", "max-motion")
    assert spot(_grey(clip_frames(7, 4)), 0) == 4
    assert spot(_grey(clip_frames(6, 2)), 0) == 2


def test_middle(components):
    assert components.create("apex_spotter", "middle")(torch.zeros(9, 1, 4, 4), 2) == 5


def test_max_motion_ignores_head_drift():
    """A face drifting sideways through the clip while a local movement peaks at frame 4: the
    drift alone makes a late frame 'move most'."""
    import math

    import kornia

    from mertk.preprocess.spotting import MaxMotion, motion_scores

    g = torch.Generator().manual_seed(0)
    base = kornia.filters.gaussian_blur2d(torch.rand(1, 1, 128, 128, generator=g), (9, 9), (2.0, 2.0))
    ys, xs = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    bump = torch.exp(-((xs - 64) ** 2 + (ys - 84) ** 2) / (2 * 10.0**2))  # a "mouth" region
    frames = []
    for t in range(10):
        lift = 2.5 * math.sin(math.pi * min(t, 8) / 8) ** 2  # px, peaks at t = 4, back to 0 at t = 8
        grid = torch.stack([xs, ys + lift * bump], -1)[None]  # sample below: the region moves up
        grid = grid / 127 * 2 - 1
        moved = torch.nn.functional.grid_sample(base, grid, align_corners=True, padding_mode="border")
        frames.append(kornia.geometry.transform.translate(moved, torch.tensor([[0.7 * t, 0.3 * t]]),
                                                          padding_mode="border", align_corners=True)[0])
    clip = torch.stack(frames)
    assert MaxMotion(compensate_shift=False)(clip, 0) >= 7  # the drift wins
    assert MaxMotion()(clip, 0) == 4
    scores = motion_scores(clip, 0)  # a clear peak, not a near-tie that a CPU's kernels could flip
    assert scores[4] > 1.08 * max(s for t, s in enumerate(scores) if t != 4)
