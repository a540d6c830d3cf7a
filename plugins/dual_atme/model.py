"""The Dual-ATME network: two branches (whole face, HARS puzzle), attention, fused classifier."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from mertk.api import ModelOutput
from mertk.registry import Ref
from mertk_dual_atme.inception import InceptionBranch

__all__ = ["DualATME"]


class DualATME(nn.Module):
    """Dual-branch attention network (Zhou et al., Entropy 2023).

    The first view (whole-face flow) goes through the *upper* branch, the second (HARS
    puzzle) through the *lower* branch; each branch is its own ``backbone``. Attention (AARS,
    CBAM by default) re-weights the upper branch's maps, or both branches'. The two maps are
    flattened, concatenated and classified by ``FC(hidden) -> BatchNorm1d -> ReLU -> Dropout
    -> FC(num_classes)``. The first FC is lazy: its input size is fixed by the first forward,
    so any backbone (e.g. ``{name: timm, model_name: resnet18}``) works; the engine runs one
    forward pass before creating the optimizer.

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine).
        in_channels: Channels ``C`` of each view (supplied by the engine).
        backbone: Backbone spec; built once per branch with ``in_channels``.
        attention: Attention spec built with ``channels`` = the backbone's ``out_channels``;
            ``None`` for no attention.
        views: Names of the ``(upper, lower)`` input views.
        attention_on: ``"upper"`` (paper) or ``"both"`` branches (authors' code).
        share_attention: Use one attention instance for both branches (authors' code) instead
            of one per branch; only matters with ``attention_on: both``.
        branches: ``"both"`` (the method), or one branch alone for the paper's module ablation:
            ``"upper"`` (whole face with attention: "AARS only"), ``"lower"`` (HARS puzzle:
            "HARS only"). A single branch has one feature vector, so drop the similarity loss.
        hidden: Width of the fusion layer (paper: 1024).
        dropout: Dropout before the last layer (paper: 0.5).
        fused_branches: When both branches are the built-in ``inception`` backbone with the same
            arguments, compute them together as one grouped branch (``groups=2``, see
            :meth:`InceptionBranch.stack`): the same function of the same weights, fewer and
            larger kernel calls. The state dict keeps the per-branch ``upper.*`` / ``lower.*``
            layout either way, so weights move freely between fused and unfused models. On by
            default: with mertk's convolution kernels (:class:`~mertk_dual_atme.conv.Conv2d`)
            it measured as fast as the branches one by one in fp32 and 3-6% faster in bf16
            (``benchmarks/train.py``). Other backbones, or a single branch, are computed one by
            one whatever this says.

    Shape:
        - Input: ``views``, ``{views[0]: (B, C, S, S), views[1]: (B, C, S', S')}``.
        - Output: :class:`~mertk.api.ModelOutput` with ``logits`` ``(B, K)``, ``features``
          ``{"upper": (B, D1), "lower": (B, D2)}`` (flattened branch maps after attention, for
          the similarity loss) and ``maps`` ``{"upper": (B, C', h, w), "lower": ...}`` (last
          convolutional maps, for Grad-CAM) plus ``"upper_attention"`` / ``"lower_attention"``
          ``(B, 1, h, w)`` when the attention module exposes a ``spatial_map``.

    Examples:
        >>> from mertk_dual_atme.cbam import CBAM
        >>> from mertk_dual_atme.inception import InceptionBranch
        >>> from mertk_dual_atme.model import DualATME
        >>> model = DualATME(num_classes=3, in_channels=3, backbone=InceptionBranch, attention=CBAM,
        ...                  hidden=16)
        >>> out = model({"face": torch.rand(2, 3, 28, 28), "hars": torch.rand(2, 3, 28, 28)})
        >>> out.logits.shape, out.features["upper"].shape, out.features["lower"].shape
        (torch.Size([2, 3]), torch.Size([2, 2352]), torch.Size([2, 2352]))
        >>> {name: tuple(m.shape) for name, m in out.maps.items()}
        {'upper_attention': (2, 1, 7, 7), 'upper': (2, 48, 7, 7), 'lower': (2, 48, 7, 7)}
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        backbone: Annotated[Callable[..., nn.Module], Ref("backbone", provided=("in_channels",))] = "inception",
        attention: Annotated[Callable[..., nn.Module] | None, Ref("attention", provided=("channels",))] = "cbam",
        views: tuple[str, str] = ("face", "hars"),
        attention_on: Literal["upper", "both"] = "upper",
        share_attention: bool = False,
        branches: Literal["both", "upper", "lower"] = "both",
        hidden: PositiveInt = 1024,
        dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5,
        fused_branches: bool = True,
    ) -> None:
        super().__init__()
        self.views = tuple(views)
        self.branches = branches
        self.upper = backbone(in_channels=in_channels) if branches != "lower" else None
        self.lower = backbone(in_channels=in_channels) if branches != "upper" else None
        self.upper_attention: nn.Module | None = None
        self.lower_attention: nn.Module | None = None
        if attention is not None:
            if self.upper is not None:
                self.upper_attention = attention(channels=self.upper.out_channels)
            if self.lower is not None and attention_on == "both":
                self.lower_attention = (self.upper_attention if share_attention and self.upper_attention is not None
                                        else attention(channels=self.lower.out_channels))
        self.paired: InceptionBranch | None = None
        if fused_branches and all(isinstance(b, InceptionBranch) for b in (self.upper, self.lower)) \
                and self.upper.arguments == self.lower.arguments:
            self.paired = InceptionBranch.stack([self.upper, self.lower])
            self.upper = self.lower = None
            self.register_state_dict_post_hook(_split_paired_state)
            self.register_load_state_dict_pre_hook(_stack_paired_state)
        self.head = nn.Sequential(
            nn.LazyLinear(hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    @property
    def map_views(self) -> dict[str, str]:
        """The input view each ``ModelOutput.maps`` entry comes from (for ``mertk explain``)."""
        return {f"{branch}{suffix}": view for branch, view in zip(("upper", "lower"), self.views)
                for suffix in ("", "_attention")}

    def branch_maps(self, views: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each branch's ``(B, C', h, w)`` backbone output, before attention."""
        if self.paired is not None:
            paired = self.paired(torch.cat([views[self.views[0]], views[self.views[1]]], dim=1))
            return dict(zip(("upper", "lower"), paired.chunk(2, dim=1)))
        return {name: branch(views[view]) for name, view, branch in (("upper", self.views[0], self.upper),
                                                                    ("lower", self.views[1], self.lower))
                if branch is not None}

    def forward(self, views: Mapping[str, torch.Tensor]) -> ModelOutput:
        maps: dict[str, torch.Tensor] = {}
        features: dict[str, torch.Tensor] = {}
        attentions = {"upper": self.upper_attention, "lower": self.lower_attention}
        for name, x in self.branch_maps(views).items():
            attention = attentions[name]
            if attention is not None:
                x = attention(x)
                weights = getattr(attention, "spatial_map", None)
                if weights is not None:
                    maps[f"{name}_attention"] = weights
            maps[name] = x
            features[name] = x.flatten(1)
        logits = self.head(torch.cat(list(features.values()), dim=1))
        return ModelOutput(logits=logits, features=features, maps=maps)


def _split_paired_state(module: DualATME, state: dict, prefix: str, local_metadata: dict) -> None:
    """State-dict post hook: present the grouped ``paired.*`` tensors as ``upper.*`` / ``lower.*``."""
    head = prefix + "paired."
    grouped = {key[len(head):]: state.pop(key) for key in [k for k in state if k.startswith(head)]}
    for name, part in zip(("upper", "lower"), InceptionBranch.unstack_state(grouped, 2)):
        state.update({f"{prefix}{name}.{key}": value for key, value in part.items()})


def _stack_paired_state(module: DualATME, state: dict, prefix: str, *args: object) -> None:
    """Load-state-dict pre hook: turn ``upper.*`` / ``lower.*`` tensors into the grouped ``paired.*``."""
    parts = []
    for name in ("upper", "lower"):
        head = f"{prefix}{name}."
        parts.append({key[len(head):]: state.pop(key) for key in [k for k in state if k.startswith(head)]})
    if parts[0] and parts[1]:
        state.update({f"{prefix}paired.{key}": value for key, value in InceptionBranch.stack_state(parts).items()})
