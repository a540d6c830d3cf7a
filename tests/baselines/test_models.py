"""Every registered model honours the model contract on its declared input shape."""

from __future__ import annotations

import pytest
import torch

import mertk
from mertk.testing import check_model

COMPONENTS = mertk.load_components()
MODELS = [info.name for info in COMPONENTS["model"].list()]


def declared_views(model: object, channels: int = 3) -> dict[str, tuple[int, int, int]]:
    """``{view: (C, S, S)}``: the model's ``views`` at its ``input_size`` (default 28)."""
    size = getattr(model, "input_size", 28)
    return {name: (channels, size, size) for name in model.views}


def test_the_baselines_are_registered():
    assert {"ststnet", "off-apexnet", "dual-inception", "timm-classifier"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_model_forward_and_backward(name):
    torch.manual_seed(0)
    model = COMPONENTS.build("model", name, num_classes=3, in_channels=3)
    if hasattr(model, "fit"):
        pytest.skip(f"{name} is fitted, not trained by gradient (tested in its own module)")
    check_model(model, declared_views(model), num_classes=3, batch=4)


def test_ststnet_per_channel_streams_see_one_channel_each():
    model = COMPONENTS.build("model", {"name": "ststnet", "stream_input": "per-channel"}, num_classes=3, in_channels=3)
    check_model(model, {"face": (3, 28, 28)}, num_classes=3)
    assert all(stream[0].in_channels == 1 for stream in model.streams)
    with pytest.raises(mertk.MertkError, match="per-channel"):
        COMPONENTS.build("model", {"name": "ststnet", "stream_input": "per-channel"}, num_classes=3, in_channels=2)


def test_two_stream_models_read_only_u_and_v():
    model = COMPONENTS.build("model", "off-apexnet", num_classes=3, in_channels=3).eval()
    x = torch.rand(2, 3, 28, 28)
    changed = x.clone()
    changed[:, 2] = torch.rand(2, 28, 28)  # a different strain channel
    with torch.no_grad():
        assert torch.equal(model({"face": x}).logits, model({"face": changed}).logits)
        changed[:, 0] += 1
        assert not torch.equal(model({"face": x}).logits, model({"face": changed}).logits)
    assert set(model({"face": x}).features) == {"u", "v"}


def test_two_stream_channel_indices_are_checked():
    with pytest.raises(mertk.MertkError, match="model.channels"):
        COMPONENTS.build("model", {"name": "dual-inception", "channels": [0, 3]}, num_classes=3, in_channels=3)


def test_timm_classifier_is_resnet18_from_scratch_with_the_view_channels():
    model = COMPONENTS.build("model", "timm-classifier", num_classes=5, in_channels=2)
    assert model.net.default_cfg["architecture"] == "resnet18"
    assert model.net.conv1.in_channels == 2
    assert 11.1e6 < sum(p.numel() for p in model.parameters()) < 11.3e6
    with pytest.raises(mertk.MertkError, match="resnet18"):
        COMPONENTS.build("model", {"name": "timm-classifier", "model_name": "resnet19"}, num_classes=3, in_channels=3)
