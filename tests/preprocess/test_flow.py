"""Flow extractors against known synthetic warps; torch TV-L1 against OpenCV TV-L1; encodings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mertk.preprocess.encoding import encode, flow_channels, normalize
from mertk.preprocess.synthetic import end_point_error, warped_pair


def _batch(size: int, settings: list[tuple[float, float]]):
    made = [warped_pair(size, amplitude=a, phase=p) for a, p in settings]
    first = torch.stack([torch.from_numpy(m[0])[None] for m in made])
    second = torch.stack([torch.from_numpy(m[1])[None] for m in made])
    return first, second, [m[2] for m in made]


@pytest.fixture(scope="module")
def pairs():
    return _batch(96, [(1.0, 0.0), (2.0, 1.5)])


def _epe(flow, truths):
    return float(np.mean([end_point_error(f, t) for f, t in zip(flow, truths)]))


@pytest.mark.parametrize("name,limit", [("tvl1", 0.15), ("dis", 0.3), ("farneback", 0.5)])
def test_opencv_extractors_recover_the_warp(components, pairs, name, limit):
    first, second, truths = pairs
    flow = components.create("flow_extractor", name)(first, second)
    assert flow.shape == (2, 2, 96, 96) and flow.dtype == torch.float32
    zero = _epe(torch.zeros_like(flow), truths)
    assert _epe(flow, truths) < min(limit, zero / 3)


def test_torch_tvl1_matches_opencv_tvl1(components, pairs):
    first, second, truths = pairs
    ours = components.create("flow_extractor", "torch-tvl1")(first, second)
    theirs = components.create("flow_extractor", "tvl1")(first, second)
    assert ours.shape == theirs.shape == (2, 2, 96, 96)
    assert abs(_epe(ours, truths) - _epe(theirs, truths)) < 0.05
    # batching does not change a pair's result
    single = components.create("flow_extractor", "torch-tvl1")(first[1:], second[1:])
    assert torch.allclose(single[0], ours[1], atol=1e-3)


def test_flow_sign_convention(components):
    """A pattern moving right by 2 px gives u ~ +2, v ~ 0 for every extractor."""
    first, _, _ = warped_pair(64, amplitude=0.0)
    second = np.roll(first, 2, axis=1)
    a, b = torch.from_numpy(first)[None, None], torch.from_numpy(second)[None, None]
    for name in ("tvl1", "torch-tvl1", "dis", "farneback"):
        flow = components.create("flow_extractor", name)(a, b)[0, :, 16:-16, 16:-16]
        assert abs(float(flow[0].median()) - 2) < 0.3, name
        assert abs(float(flow[1].median())) < 0.3, name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_tvl1_on_cuda_matches_cpu(components, pairs):
    first, second, _ = pairs
    tvl1 = components.create("flow_extractor", "torch-tvl1")
    gpu = tvl1(first.cuda(), second.cuda())
    assert gpu.is_cuda
    assert (gpu.cpu() - tvl1(first, second)).abs().mean() < 0.01


def test_strain_and_magnitude_of_a_linear_flow():
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    flow = torch.stack([0.1 * xs + 0.2 * ys, 0.3 * xs - 0.05 * ys])[None]  # ux .1, uy .2, vx .3, vy -.05
    strain = flow_channels(flow, ["strain"])[0, 0, 2:-2, 2:-2]
    expected = (0.1**2 + 0.05**2 + 0.5 * (0.2 + 0.3) ** 2) ** 0.5
    assert torch.allclose(strain, torch.full_like(strain, expected), atol=1e-5)
    magnitude = flow_channels(flow, ["magnitude"])[0, 0]
    assert torch.allclose(magnitude, flow[0].norm(dim=0))
    v_then_u = flow_channels(flow, ["v", "u"])[0]
    assert torch.equal(v_then_u[0], flow[0, 1]) and torch.equal(v_then_u[1], flow[0, 0])


def test_normalisation_modes():
    flow = torch.randn(3, 2, 8, 8) * torch.tensor([1.0, 5.0, 0.1])[:, None, None, None]
    per_image = encode(flow, ["u", "v", "strain"], "minmax")
    assert per_image.shape == (3, 3, 8, 8)
    assert torch.allclose(per_image.amin((2, 3)), torch.zeros(3, 3)) and torch.allclose(
        per_image.amax((2, 3)), torch.ones(3, 3))
    shared = encode(flow, ["u", "v"], "global")
    assert float(shared.min()) == 0 and float(shared.max()) == 1
    assert shared[2, 0].max() - shared[2, 0].min() < 0.2  # the small-motion sample stays small
    assert torch.equal(normalize(flow, "none"), flow)
    assert torch.equal(normalize(torch.ones(1, 1, 4, 4), "minmax"), torch.zeros(1, 1, 4, 4))
