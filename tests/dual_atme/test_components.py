"""Dual-ATME components: shapes, gradients, loss values on hand-computed cases, swapping parts."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

import mertk
from mertk.api import ModelOutput
from mertk_dual_atme.cbam import CBAM
from mertk_dual_atme.conv import Conv2d
from mertk_dual_atme.inception import InceptionBlock, InceptionBranch
from mertk_dual_atme.losses import FocalLoss, SimilarityLoss
from mertk_dual_atme.pooling import max_pool2d


@pytest.fixture(scope="module")
def components() -> mertk.Components:
    return mertk.load_components()


def views(b: int = 4, size: int = 28) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"face": torch.randn(b, 3, size, size, generator=g), "hars": torch.randn(b, 3, size, size, generator=g)}


@pytest.mark.parametrize("shape", [(2, 3, 9, 11), (3, 24, 14, 14), (2, 48, 7, 5)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("geometry", [(3, 1, 1), (2, 2, 0)])
def test_max_pool_equals_torch_values_and_gradients(shape: tuple, dtype: torch.dtype, geometry: tuple) -> None:
    """Every kernel choice (no-grad shifted maxima, channels-last) is F.max_pool2d exactly, ties included."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    x[:, :, 1:4, 2:5] = 0  # ties, as after a ReLU: the gradient must go where max_pool2d sends it
    x[:, :, 5:, :2] = 1.5  # ties at a positive value
    assert torch.equal(max_pool2d(x, *geometry), F.max_pool2d(x, *geometry))
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = max_pool2d(ours, *geometry)
    assert y.is_contiguous() and torch.equal(y, F.max_pool2d(theirs, *geometry))
    grad = torch.randn(y.shape).to(dtype)
    y.backward(grad)
    F.max_pool2d(theirs, *geometry).backward(grad)
    assert ours.grad.is_contiguous() and torch.equal(ours.grad, theirs.grad)


@pytest.mark.parametrize("layer", [(6, 36, 1, 2), (24, 12, 1, 1), (12, 24, 3, 2), (6, 6, 5, 1), (4, 8, 3, 1, 2)])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_conv2d_is_nn_conv2d(layer: tuple, precision: str) -> None:
    """Both CPU paths (1x1 as a matrix product, kxk channels-last) compute nn.Conv2d and its gradients."""
    cin, cout, k, groups, *stride = layer
    torch.manual_seed(0)
    ours = Conv2d(cin, cout, k, stride=stride[0] if stride else 1, padding=k // 2, groups=groups)
    theirs = torch.nn.Conv2d(cin, cout, k, stride=stride[0] if stride else 1, padding=k // 2, groups=groups)
    theirs.load_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(3, cin, 11, 9)
    results = []
    for conv in (ours, theirs):
        inputs = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            y = conv(inputs)
        assert y.is_contiguous()
        y.float().pow(2).sum().backward()
        results.append((y.detach().float(), inputs.grad, conv.weight.grad, conv.bias.grad))
        conv.zero_grad()
    # Equal up to the summation order, which each CPU's kernels choose (AVX-512, AVX2, oneDNN or
    # not): an absolute error relative to the tensor's scale (sums of many terms, e.g. weight
    # gradients, lose digits to cancellation), and for bf16 a few units in the last place
    # (8-bit mantissa: one unit is 2**-8 relative, 0.03125 for values of 4 to 8).
    for a, b in zip(*results):
        scale = float(b.abs().max())
        if precision == "fp32":
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * max(scale, 1.0))
        else:
            torch.testing.assert_close(a, b, rtol=2**-6, atol=1e-2 * scale)


def test_inception_block_is_the_four_path_block() -> None:
    """The fused 1x1 entry convolution computes the authors' three separate 1x1 layers."""
    torch.manual_seed(0)
    block = InceptionBlock(3, width=6, reduce=4)
    for bn in block.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):  # non-trivial affine parameters
            torch.nn.init.uniform_(bn.weight, 0.5, 1.5), torch.nn.init.uniform_(bn.bias, -0.2, 0.2)
    x = torch.randn(5, 3, 12, 12, requires_grad=True)

    def layer(sequential: torch.nn.Sequential, rows: slice | None, inputs: torch.Tensor) -> torch.Tensor:
        conv, bn = sequential[0], sequential[1]
        rows = rows or slice(None)
        y = F.conv2d(inputs, conv.weight[rows], conv.bias[rows], padding=conv.padding)
        return F.relu(F.batch_norm(y, None, None, bn.weight[rows], bn.bias[rows], training=True))

    path1 = layer(block.entry, slice(0, 6), x)
    path3 = layer(block.conv3, None, layer(block.entry, slice(6, 10), x))
    path5 = layer(block.conv5, None, layer(block.entry, slice(10, 14), x))
    pool = layer(block.pool[1], None, F.max_pool2d(x, 3, 1, 1))
    expected = torch.cat([path1, path3, path5, pool], dim=1)
    ours = block(x)
    torch.testing.assert_close(ours, expected)
    grad = torch.randn_like(ours)
    torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], torch.autograd.grad(expected, x, grad)[0])


def test_inception_block_and_branch_shapes() -> None:
    assert InceptionBlock(3, 6)(torch.randn(2, 3, 28, 28)).shape == (2, 24, 28, 28)
    branch = InceptionBranch(3)
    assert branch.out_channels == 48
    assert branch(torch.randn(2, 3, 28, 28)).shape == (2, 48, 7, 7)
    assert InceptionBranch(2, widths=(4, 8, 16)).out_channels == 64


def test_cbam_shape_gradient_and_map() -> None:
    cbam = CBAM(48)
    x = torch.randn(2, 48, 7, 7, requires_grad=True)
    y = cbam(x)
    assert y.shape == x.shape
    assert cbam.spatial_map.shape == (2, 1, 7, 7)
    assert ((cbam.spatial_map > 0) & (cbam.spatial_map < 1)).all()
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in cbam.parameters())
    # the MLP is 48 -> 3 -> 48 with reduction 16 (the paper's setting)
    assert cbam.mlp[0].out_features == 3


def test_focal_loss_hand_computed() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    p0 = math.exp(2) / (math.exp(2) + 2)
    p1 = 1 / (2 + math.e)
    expected = (-(1 - p0) ** 2 * math.log(p0) - (1 - p1) ** 2 * math.log(p1)) / 2
    out = ModelOutput(logits=logits)
    assert FocalLoss(gamma=2.0)(out, target).item() == pytest.approx(expected, rel=1e-5)
    # gamma 0 and alpha 1 is cross-entropy; per-class alpha weights each sample by its class
    assert FocalLoss(gamma=0.0)(out, target).item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    weighted = FocalLoss(gamma=0.0, alpha=[0.5, 1.0, 2.0])(out, target).item()
    assert weighted == pytest.approx((-0.5 * math.log(p0) - 2.0 * math.log(p1)) / 2, rel=1e-5)


def test_similarity_loss_hand_computed() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 2.0], [3.0, 3.0]])  # orthogonal: 1 - 0; parallel: 1 - 1
    out = ModelOutput(logits=torch.zeros(2, 3), features={"upper": a, "lower": b})
    assert SimilarityLoss()(out, torch.zeros(2, dtype=torch.long)).item() == pytest.approx(0.5)
    out.features["lower"] = -a
    assert SimilarityLoss()(out, torch.zeros(2, dtype=torch.long)).item() == pytest.approx(2.0)


def test_builtin_losses(components: mertk.Components) -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    out = ModelOutput(logits=logits)
    ce = components.create("loss", "cross-entropy")
    assert ce(out, target).item() == pytest.approx(F.cross_entropy(logits, target).item())
    wce = components.build("loss", {"name": "weighted-cross-entropy"}, num_classes=3, class_counts=[6, 3, 1])
    expected_w = torch.tensor([10 / 18, 10 / 9, 10 / 3])
    torch.testing.assert_close(wce.weights, expected_w)
    assert wce(out, target).item() == pytest.approx(F.cross_entropy(logits, target, weight=expected_w).item())


def test_dual_atme_outputs_and_gradients(components: mertk.Components) -> None:
    model = components.build("model", "dual-atme", num_classes=3, in_channels=3)
    out = model(views())
    assert out.logits.shape == (4, 3)
    assert out.features["upper"].shape == out.features["lower"].shape == (4, 48 * 7 * 7)
    assert out.maps["upper"].shape == (4, 48, 7, 7)
    assert out.maps["upper_attention"].shape == (4, 1, 7, 7)
    assert "lower_attention" not in out.maps  # paper: no attention on the HARS branch
    loss = F.cross_entropy(out.logits, torch.tensor([0, 1, 2, 0])) + SimilarityLoss()(out, None)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.head[0].in_features == 2 * 48 * 7 * 7  # the paper's 4704 -> 1024 fusion layer


def test_dual_atme_attention_options(components: mertk.Components) -> None:
    shared = components.build("model", {"name": "dual-atme", "attention_on": "both", "share_attention": True},
                              num_classes=3, in_channels=3)
    assert shared.lower_attention is shared.upper_attention
    both = components.build("model", {"name": "dual-atme", "attention_on": "both"}, num_classes=3, in_channels=3)
    assert both.lower_attention is not both.upper_attention
    assert "lower_attention" in both(views()).maps
    none = components.build("model", {"name": "dual-atme", "attention": None}, num_classes=3, in_channels=3)
    assert none.upper_attention is None and none(views()).logits.shape == (4, 3)


@pytest.mark.parametrize("spec", [
    {"name": "dual-atme", "attention": "se"},
    {"name": "dual-atme", "attention": "identity"},
    {"name": "dual-atme", "backbone": {"name": "timm", "model_name": "resnet10t"}, "views": ["face", "face"]},
])
def test_dual_atme_swaps_parts_by_name(components: mertk.Components, spec: dict) -> None:
    model = components.build("model", spec, num_classes=3, in_channels=3)
    out = model(views(size=32))
    assert out.logits.shape == (4, 3)
    out.logits.sum().backward()


def test_timm_backbone_shapes(components: mertk.Components) -> None:
    backbone = components.build("backbone", {"name": "timm", "model_name": "resnet10t"}, in_channels=2)
    y = backbone(torch.randn(2, 2, 32, 32))
    assert y.shape[:2] == (2, backbone.out_channels)
    with pytest.raises(mertk.MertkError, match="model_name: unknown timm model 'resnet_18'"):
        components.build("backbone", {"name": "timm", "model_name": "resnet_18"}, in_channels=3)


def _check(components: mertk.Components, backbone: dict) -> str:
    """``config check`` of a dual-atme config with this backbone: its output (exit code 1 expected)."""
    from mertk.testing import invoke

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "timm.yaml"
        config.write_text(yaml.safe_dump({"extends": "dual-atme.yaml", "model": {"backbone": backbone}}))
        result = invoke(["config", "check", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    return result.output


def test_timm_kwargs_are_checked_with_the_config(components: mertk.Components) -> None:
    """A typo inside kwargs fails `config check` (not a raw TypeError after preprocessing)."""
    out = _check(components, {"name": "timm", "model_name": "resnet10t", "kwargs": {"dropp_rate": 0.1}})
    assert "timm.yaml: model.backbone.kwargs: timm model 'resnet10t' refuses these arguments" in out
    assert "unexpected keyword argument 'dropp_rate'" in out
    good = {"name": "timm", "model_name": "resnet10t", "kwargs": {"drop_rate": 0.1}}
    spec = components.validate("backbone", good, provided=("in_channels",))
    assert spec["kwargs"] == {"drop_rate": 0.1}


@pytest.mark.parametrize("argument, value", [("checkpoint_path", "weights.pth"), ("pretrained", True),
                                             ("pretrained_cfg_overlay", {"file": "weights.safetensors"}),
                                             ("cache_dir", "/tmp/hub")])
def test_timm_arguments_that_read_files_are_refused(components: mertk.Components, argument: str, value) -> None:
    out = _check(components, {"name": "timm", "model_name": "resnet10t", "kwargs": {argument: value}})
    assert f"model.backbone.kwargs.{argument}: makes timm read or download weights" in out
    assert "loads a local safetensors file" in out
    with pytest.raises(mertk.MertkError, match=f"kwargs.{argument}: makes timm read"):  # built from Python too
        components.build("backbone", {"name": "timm", "model_name": "resnet10t", "kwargs": {argument: value}},
                         in_channels=3)


@pytest.mark.parametrize("branches, present", [("upper", {"upper"}), ("lower", {"lower"})])
def test_single_branch_ablations(components: mertk.Components, branches: str, present: set) -> None:
    model = components.build("model", {"name": "dual-atme", "branches": branches}, num_classes=3, in_channels=3)
    out = model(views())
    assert set(out.features) == present and out.logits.shape == (4, 3)
    assert model.head[0].in_features == 48 * 7 * 7


def test_bundled_configs_validate(components: mertk.Components, monkeypatch: pytest.MonkeyPatch) -> None:
    from mertk.config import bundled_configs, load_config

    # ${VAR}s of bundled configs
    for var in ("CASME2_ROOT", "SAMM_ROOT", "SMIC_ROOT", "CASME3_ROOT", "MERTK_FLOW_MANIFEST"):
        monkeypatch.setenv(var, f"/data/{var.lower()}")

    names = [n for n in bundled_configs(components) if n.startswith("dual-atme")]
    assert "dual-atme.yaml" in names and len(names) >= 10
    for name in names:
        loaded = load_config(name, components)
        assert loaded.config.model["name"] == "dual-atme", name
    base = load_config("dual-atme.yaml", components).config
    assert base.model["attention"]["name"] == "cbam" and base.model["attention_on"] == "upper"
    assert [(s["name"], s.get("weight", 1)) for s in base.loss] == [("focal", 1), ("similarity", 0.01)]
    assert base.train.optimizer.name == "adam" and base.train.optimizer.lr == 1e-3 and base.train.batch_size == 128


@pytest.mark.parametrize("attention_on", ["upper", "both"])
def test_fused_branches_compute_the_unfused_model(components: mertk.Components, attention_on: str) -> None:
    """Grouped (fused) branches: same outputs, gradients and BatchNorm statistics for the same weights."""
    spec = {"name": "dual-atme", "hidden": 16, "attention_on": attention_on}
    torch.manual_seed(0)
    plain = components.build("model", {**spec, "fused_branches": False}, num_classes=3, in_channels=3)
    fused = components.build("model", {**spec, "fused_branches": True}, num_classes=3, in_channels=3)
    assert fused.paired is not None and fused.upper is None and plain.paired is None
    x = views(b=6)
    plain(x), fused(x)  # materialise the lazy fusion layer
    fused.load_state_dict(plain.state_dict())  # the fused model presents and takes the per-branch layout
    assert fused.state_dict().keys() == plain.state_dict().keys()
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    outputs = []
    for model in (plain, fused):
        model.train()
        torch.manual_seed(1)  # the same dropout mask
        out = model(x)
        loss = F.cross_entropy(out.logits, target) + SimilarityLoss()(out, target)
        loss.backward()
        outputs.append(out)
    a, b = outputs
    torch.testing.assert_close(b.logits, a.logits)
    for name in a.features:
        torch.testing.assert_close(b.features[name], a.features[name])
        torch.testing.assert_close(b.maps[name], a.maps[name])
    # gradients: the grouped tensors' gradients are the branches' gradients stacked
    grads = {name: p.grad for name, p in plain.named_parameters()}
    for name, p in fused.named_parameters():
        if name.startswith("paired."):
            key = name[len("paired."):]
            expected = torch.cat([grads[f"upper.{key}"], grads[f"lower.{key}"]])
        else:
            expected = grads[name]
        torch.testing.assert_close(p.grad, expected, msg=name)
    # the running statistics moved alike (training-mode forward)
    for key, value in fused.state_dict().items():
        torch.testing.assert_close(value, plain.state_dict()[key], msg=key)
    plain.eval(), fused.eval()
    torch.testing.assert_close(fused(x).logits, plain(x).logits)


def test_fused_branches_only_for_matching_inception_branches(components: mertk.Components) -> None:
    timm = components.build("model", {"name": "dual-atme", "fused_branches": True,
                                      "backbone": {"name": "timm", "model_name": "resnet10t"}},
                            num_classes=3, in_channels=3)
    assert timm.paired is None and timm.upper is not None
    single = components.build("model", {"name": "dual-atme", "fused_branches": True, "branches": "upper"},
                              num_classes=3, in_channels=3)
    assert single.paired is None and single(views()).logits.shape == (4, 3)


def test_grouped_inception_is_the_branches_side_by_side() -> None:
    torch.manual_seed(0)
    branches = [InceptionBranch(3), InceptionBranch(3)]
    grouped = InceptionBranch.stack(branches)
    x = views(b=3)
    y = grouped(torch.cat([x["face"], x["hars"]], dim=1))
    torch.testing.assert_close(y, torch.cat([branches[0](x["face"]), branches[1](x["hars"])], dim=1))
    parts = InceptionBranch.unstack_state(grouped.state_dict(), 2)
    for part, branch in zip(parts, branches):
        for key, value in branch.state_dict().items():
            torch.testing.assert_close(part[key], value)
    with pytest.raises(ValueError, match="same arguments"):
        InceptionBranch.stack([InceptionBranch(3), InceptionBranch(2)])
