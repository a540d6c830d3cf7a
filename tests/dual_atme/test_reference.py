"""benchmarks/reference.py (the authors' architecture in plain torch) and mertk's dual-atme compute the
same function and loss from the same weights: CBAM with biases, attention shared (authors' code) or on
the upper branch (paper), fused entry convolution and grouped branches included. So the parity arms
``reference-upper`` and ``mertk`` differ only in how they are trained."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import mertk
from mertk.engine.trainer import build_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from reference import AuthorsDualATME, reference_loss


def _mertk_state(reference: AuthorsDualATME) -> dict[str, torch.Tensor]:
    """The reference's weights in mertk's per-branch state-dict layout."""
    ref = reference.state_dict()
    state: dict[str, torch.Tensor] = {}
    for branch in ("upper", "lower"):
        for block, index in ((0, 0), (2, 2)):
            src, dst = f"{branch}.{index}.", f"{branch}.layers.{block}."
            for part in ("weight", "bias", "running_mean", "running_var"):
                # entry = the 1x1 path, then the 3x3 and 5x5 paths' 1x1 reductions
                for layer in (0, 1):
                    if f"{src}path1.{layer}.{part}" not in ref:
                        continue
                    state[f"{dst}entry.{layer}.{part}"] = torch.cat(
                        [ref[f"{src}path1.{layer}.{part}"], ref[f"{src}path3.0.{layer}.{part}"],
                         ref[f"{src}path5.0.{layer}.{part}"]])
                    state[f"{dst}conv3.{layer}.{part}"] = ref[f"{src}path3.1.{layer}.{part}"]
                    state[f"{dst}conv5.{layer}.{part}"] = ref[f"{src}path5.1.{layer}.{part}"]
                    state[f"{dst}pool.1.{layer}.{part}"] = ref[f"{src}pool.1.{layer}.{part}"]
            state[f"{dst}entry.1.num_batches_tracked"] = ref[f"{src}path1.1.num_batches_tracked"]
            for name in ("conv3", "conv5"):
                state[f"{dst}{name}.1.num_batches_tracked"] = ref[f"{src}path1.1.num_batches_tracked"]
            state[f"{dst}pool.1.1.num_batches_tracked"] = ref[f"{src}pool.1.1.num_batches_tracked"]
    attentions = ["upper_attention"] + (["lower_attention"] if reference.attend_lower else [])
    for prefix in attentions:
        for key, value in ref.items():
            if key.startswith("attention."):
                state[prefix + key[len("attention"):]] = value
    state.update({key: value for key, value in ref.items() if key.startswith("head.")})
    return state


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
    missing, unexpected = ours.load_state_dict(_mertk_state(reference), strict=False)
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
