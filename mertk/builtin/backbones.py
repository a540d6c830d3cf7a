"""Backbones from timm, without downloads: ``(B, in_channels, H, W) -> (B, out_channels, h, w)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mertk.errors import ArgumentError, MertkError, did_you_mean

__all__ = ["FILE_ARGUMENTS", "TimmBackbone"]

#: ``timm.create_model`` arguments that make timm read or download weights and configs.
FILE_ARGUMENTS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir")

_WEIGHTS_FIX = ("mertk builds timm models untrained and never lets timm read or download files. To start from "
                "trained weights, register your own backbone in a plugin whose factory builds the timm model and "
                "loads a local safetensors file into it (see 'Writing a plugin'); remove this argument")


def _refuse_file_arguments(kwargs: Mapping[str, Any]) -> None:
    for name in FILE_ARGUMENTS:
        if name in kwargs:
            raise ArgumentError(f"kwargs.{name}", f"makes timm read or download weights. {_WEIGHTS_FIX}")


def _timm_model(model_name: str, in_channels: int, kwargs: Mapping[str, Any]) -> nn.Module:
    import timm

    if not timm.is_model(model_name):
        raise ArgumentError("model_name", f"unknown timm model {model_name!r}"
                            f"{did_you_mean(model_name, timm.list_models())}; see timm.list_models()")
    try:
        return timm.create_model(model_name, pretrained=False, in_chans=in_channels, num_classes=0, global_pool="",
                                 **kwargs)
    except TypeError as exc:  # an argument the model class does not take
        raise ArgumentError("kwargs", f"timm model {model_name!r} refuses these arguments ({exc})") from None


class TimmBackbone(nn.Module):
    """Any timm model's feature extractor (``forward_features``), randomly initialised.

    Weights are never downloaded or read (``pretrained=False`` always, and arguments that make
    timm read files are refused): mertk runs offline.

    Args:
        in_channels: Channels of the input view (supplied by the model).
        model_name: A timm model name, e.g. ``"resnet18"``, ``"mobilenetv3_small_050"``.
        kwargs: Extra keyword arguments for ``timm.create_model`` (e.g. ``drop_rate``),
            checked against the model when the config is checked.

    Attributes:
        out_channels: Channels of the feature map (timm's ``num_features``).

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, out_channels, h, w)``, ``h`` and ``w`` as the timm model reduces ``H`` and ``W``.

    Examples:
        >>> from mertk.builtin.backbones import TimmBackbone
        >>> backbone = TimmBackbone(in_channels=2, model_name="test_efficientnet")  # a tiny timm model
        >>> backbone.out_channels, backbone(torch.rand(2, 2, 32, 32)).shape
        (256, torch.Size([2, 256, 1, 1]))
    """

    @staticmethod
    def cannot_stack(arguments: dict) -> str | None:
        """Why it cannot be trained stacked (``train.stack_folds``) with these arguments, if so."""
        random = sorted(k for k, v in (arguments.get("kwargs") or {}).items() if k.startswith("drop") and v)
        if random:
            return (f"timm's {', '.join(random)} draw from the global generator inside the network (F.dropout, "
                    "drop path), so stacked folds cannot each get their own random draws; leave them at 0")
        return None

    def __init__(self, in_channels: int, model_name: str, kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        try:
            _refuse_file_arguments(kwargs or {})
            self.model = _timm_model(model_name, in_channels, kwargs or {})
        except ArgumentError as exc:
            raise MertkError(f"backbone timm: {exc}") from None
        self.out_channels = int(self.model.num_features)

    @staticmethod
    def check_arguments(model_name: str, kwargs: Mapping[str, Any] | None = None) -> None:
        """Refuse file-reading arguments and, when ``kwargs`` are given, any the model does not
        take (the model is built on the ``meta`` device: no memory, no weights).

        Raises:
            ArgumentError: naming the argument and the fix.
        """
        _refuse_file_arguments(kwargs or {})
        if kwargs:
            with torch.device("meta"):
                _timm_model(model_name, 3, kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)
