"""benchmarks/reference.py (the authors' architecture in plain torch) and mertk's dual-atme compute the
same function and loss from the same weights: CBAM with biases, attention shared (authors' code) or on
the upper branch (paper), fused entry convolution and grouped branches included. So the parity arms
``reference-upper`` and ``mertk`` differ only in how they are trained."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

import mertk
from mertk.engine.trainer import build_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from reference import AuthorsDualATME, reference_loss, to_mertk_state


@pytest.mark.parametrize("attention", ["shared", "upper"])
@pytest.mark.parametrize("fused", [True, False])
def test_reference_and_mertk_are_the_same_function(attention: str, fused: bool) -> None:
    components = mertk.load_components()
    torch.manual_seed(0)
    reference = AuthorsDualATME(3, 3, attention)
    for module in reference.modules():  # non-trivial BatchNorm parameters and statistics
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5), torch.nn.init.uniform_(module.bias, -0.2, 0.2)
            module.running_mean.uniform_(-0.1, 0.1), module.running_var.uniform_(0.8, 1.2)
    spec = {"name": "dual-atme", "fused_branches": fused, "attention_on": "both" if attention == "shared" else "upper",
            "share_attention": attention == "shared"}
    ours = components.build("model", spec, num_classes=3, in_channels=3)
    g = torch.Generator().manual_seed(1)
    # quantised inputs with flat regions, as 8-bit flow images give
    face, hars = ((torch.randint(0, 4, (6, 3, 28, 28), generator=g).float() * 85 / 255 - 0.5) / 0.5
                  for _ in range(2))
    ours({"face": face[:2], "hars": hars[:2]})  # materialise the lazy fusion layer
    missing, unexpected = ours.load_state_dict(to_mertk_state(reference), strict=False)
    assert not unexpected and not [k for k in missing if not k.endswith("num_batches_tracked")]
    if attention == "upper":
        assert ours.lower_attention is None
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = build_loss([{"name": "focal", "gamma": 2.0, "alpha": 1.0}, {"name": "similarity", "weight": 0.01}],
                      components, num_classes=3, class_counts=[2, 2, 2])
    for train in (True, False):
        reference.train(train), ours.train(train)
        torch.manual_seed(2)  # the same dropout mask
        logits, upper, lower = reference(face, hars)
        torch.manual_seed(2)
        out = ours({"face": face, "hars": hars})
        torch.testing.assert_close(out.logits, logits)
        torch.testing.assert_close(out.features["upper"], upper)
        torch.testing.assert_close(out.features["lower"], lower)
        torch.testing.assert_close(loss(out, target), reference_loss(logits, upper, lower, target))
    # the authors' CBAM has biases in its MLP and spatial convolution; mertk's took them above (strict keys)
    cbam = reference.attention
    assert cbam.mlp[0].bias is not None and cbam.mlp[2].bias is not None and cbam.spatial.bias is not None


@pytest.mark.parametrize("arm", ["plain", "mertk"])
def test_mertk_trains_like_the_reference_step_for_step(arm: str) -> None:
    """From the same weights, batches and dropout masks, mertk's loop (with plain torch layers, or with every
    fast path of the config, in fp32) follows the reference's training to within rounding: after 12 steps the
    fusion weights differ by ~1e-6-1e-5 relative, where a 10 % different learning rate gives ~7e-2, focal gamma
    1.9 instead of 2 gives ~3e-2 and dropping the 0.01 similarity term ~7e-3 (benchmarks/trajectory.py
    measures the same on real-layout flows over many epochs)."""
    from trajectory import Fold, compare, mertk_trajectory, reference_trajectory

    components = mertk.load_components()
    g = torch.Generator().manual_seed(3)
    face, hars = ((torch.randint(0, 4, (40, 3, 28, 28), generator=g).float() * 85 / 255 - 0.5) / 0.5
                  for _ in range(2))
    fold = Fold(face, hars, torch.arange(40) % 3, list(range(30)), list(range(30, 40)))
    torch.manual_seed(5)
    initial = AuthorsDualATME(3, 3, "upper")
    theirs = reference_trajectory(copy.deepcopy(initial), fold, seed=5, epochs=3, batch_size=8, report={3})
    ours = mertk_trajectory(arm, copy.deepcopy(initial), fold, components=components, config="dual-atme.yaml",
                            overrides=["train.batch_size=8"], seed=5, epochs=3, report={3})
    assert compare(ours[3], theirs[3])["weight_distance"] < 1e-3


def test_mertk_draws_its_initial_weights_as_the_reference_does() -> None:
    """Independent-seed parity (benchmarks/parity.py) lets each side draw its own initial weights, which
    trajectory.py cannot see: every tensor of mertk's model as a fold builds it (seeded, lazy fusion layer
    materialised by the build-time forward, fused branches) has the distribution of the reference's (mapped
    with to_mertk_state) over 16 inits, and every BatchNorm starts untouched (the build-time forward must not
    update the running statistics). A wrong fan-in (the fused entry layer, grouped convolutions, the lazy
    layer) changes a uniform bound by a factor of 1.4 or more, which the KS test sees at p < 1e-20."""
    from initial_weights import compare, draw

    rows = compare(*draw(mertk.load_components(), "dual-atme-demo-flows.yaml", ["train.precision=fp32"],
                         range(16)))
    assert {r.key for r in rows} >= {"head.0.weight", "upper.layers.0.entry.0.weight", "upper_attention.mlp.0.bias"}
    assert [r.key for r in rows if r.ks_p < 1e-6] == []
    statistics = [r for r in rows if r.key.rsplit(".", 1)[1] in ("running_mean", "running_var",
                                                                  "num_batches_tracked")]
    assert statistics and all(r.mertk[0] == r.reference[0] and r.mertk[1] == 0 for r in statistics)
