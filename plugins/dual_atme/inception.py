"""The authors' Inception branch: two Inception blocks, each followed by 2x2 max-pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaxPool3x3", "InceptionBlock", "InceptionBranch"]


class MaxPool3x3(nn.Module):
    """3x3 max-pooling, stride 1, padding 1: ``(B, C, H, W) -> (B, C, H, W)``.

    The values (and, where a gradient is needed, the gradient routing) are always those of
    ``F.max_pool2d(x, 3, 1, 1)``; only the kernels differ, picked by measurement on torch
    2.14's CPU kernels (batch 128, 2 threads, forward + backward):

    * input that needs no gradient (the first block's pool of the input views): the maximum
      of shifted copies (rows, then columns): ~0.7 vs 6.5 ms for ``(128, 6, 28, 28)``;
    * ``C >= 16`` channels on the CPU: ``max_pool2d`` in channels-last memory order, whose
      kernel vectorises over channels, with the copies to and from it: ~7.7 vs 15 ms for
      ``(128, 48, 14, 14)``;
    * else the plain call. ``separable=True`` asks for a 3x1 then a 1x3 max-pool (the same
      values with fewer comparisons, but it measured slower).
    """

    def __init__(self, separable: bool = False) -> None:
        super().__init__()
        self.separable = separable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.separable:
            return F.max_pool2d(F.max_pool2d(x, (3, 1), 1, (1, 0)), (1, 3), 1, (0, 1))
        if not (x.requires_grad and torch.is_grad_enabled()):
            return _shifted_max3x3(x)
        if x.device.type == "cpu" and x.shape[1] >= 16 and x.is_contiguous():
            return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 3, 1, 1).contiguous()
        return F.max_pool2d(x, 3, 1, 1)


def _shifted_max3x3(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 3, 1, 1)`` values as the maximum of shifted copies (no gradient routing)."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), value=float("-inf"))
    rows = torch.maximum(torch.maximum(padded[..., :height, :], padded[..., 1:height + 1, :]), padded[..., 2:, :])
    return torch.maximum(torch.maximum(rows[..., :width], rows[..., 1:width + 1]), rows[..., 2:])


def _conv_bn_relu(cin: int, cout: int, k: int, groups: int = 1) -> nn.Sequential:
    """``groups`` side-by-side ``cin -> cout`` convolutions, each followed by BatchNorm and ReLU."""
    return nn.Sequential(nn.Conv2d(groups * cin, groups * cout, k, padding=k // 2, groups=groups),
                         nn.BatchNorm2d(groups * cout), nn.ReLU(inplace=True))


class InceptionBlock(nn.Module):
    """Four parallel paths, concatenated: ``(B, in_channels, H, W) -> (B, 4 * width, H, W)``.

    Paths (each convolution is followed by BatchNorm and ReLU): 1x1 (``width``);
    1x1 (``reduce``) -> 3x3 (``width``); 1x1 (``reduce``) -> 5x5 (``width``);
    3x3 max-pool (stride 1) -> 1x1 (``width``).

    With ``groups = g`` it is ``g`` independent blocks side by side in one set of grouped
    convolutions: ``(B, g * in_channels, H, W) -> (B, g * 4 * width, H, W)``, group ``i``'s
    output channels (its four paths) contiguous at ``[i * 4 * width, (i + 1) * 4 * width)``.
    BatchNorm over the stacked channels is each block's own BatchNorm.

    Args:
        in_channels: Input channels (of each group).
        width: Output channels of each path.
        reduce: Channels of the 1x1 reductions before the 3x3 and 5x5 convolutions.
        separable_pool: Compute the 3x3 max-pool as 3x1 then 1x3 (same values; see :class:`MaxPool3x3`).
        groups: Number of independent blocks computed together.
    """

    def __init__(self, in_channels: int, width: int, reduce: int = 6, separable_pool: bool = False,
                 groups: int = 1) -> None:
        super().__init__()
        g = groups
        self.path1 = _conv_bn_relu(in_channels, width, 1, g)
        self.path3 = nn.Sequential(_conv_bn_relu(in_channels, reduce, 1, g), _conv_bn_relu(reduce, width, 3, g))
        self.path5 = nn.Sequential(_conv_bn_relu(in_channels, reduce, 1, g), _conv_bn_relu(reduce, width, 5, g))
        self.pool = nn.Sequential(MaxPool3x3(separable_pool), _conv_bn_relu(in_channels, width, 1, g))
        self.groups = groups
        self.out_channels = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paths = [self.path1(x), self.path3(x), self.path5(x), self.pool(x)]
        if self.groups == 1:
            return torch.cat(paths, dim=1)
        # (B, g, 4, width, H, W): the paths of each group next to each other
        return torch.stack([p.unflatten(1, (self.groups, -1)) for p in paths], dim=2).flatten(1, 3)


class InceptionBranch(nn.Module):
    """One Dual-ATME branch: Inception -> 2x2 max-pool, repeated per width.

    With the paper's widths ``(6, 12)`` a ``(B, 3, 28, 28)`` flow image becomes
    ``(B, 48, 7, 7)``: Inception(3, 6) -> 24x28x28 -> pool -> 24x14x14 -> Inception(24, 12)
    -> 48x14x14 -> pool -> 48x7x7.

    Args:
        in_channels: Channels of the input view (supplied by the model).
        widths: Path width of each Inception block; the output has ``4 * widths[-1]`` channels.
        reduce: Channels of the 1x1 reductions inside each block.
        separable_pool: Value-identical separable 3x3 max-pooling (see :class:`MaxPool3x3`).
        _groups: Number of independent branches computed together by grouped convolutions
            (see :meth:`stack`): input ``(B, groups * in_channels, H, W)``, output
            ``(B, groups * out_channels, h, w)``, branch ``i`` in the ``i``-th channel block.

    Attributes:
        out_channels: ``4 * widths[-1]`` (of each group).
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (6, 12), reduce: int = 6,
                 separable_pool: bool = False, _groups: int = 1) -> None:
        super().__init__()
        self.arguments = {"in_channels": in_channels, "widths": tuple(widths), "reduce": reduce,
                          "separable_pool": separable_pool}
        self.groups = _groups
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            block = InceptionBlock(channels, width, reduce, separable_pool, _groups)
            layers += [block, nn.MaxPool2d(2)]
            channels = block.out_channels
        self.layers = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, g * in_channels, H, W) -> (B, g * out_channels, H / 2**len(widths), W / 2**len(widths))``."""
        return self.layers(x)

    @staticmethod
    def stack_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """State of the grouped branch equivalent to ``len(states)`` single branches' states.

        Every grouped tensor (convolution weights and biases, BatchNorm affine parameters and
        running statistics) is the branches' tensors concatenated along dim 0; the BatchNorm
        step counters, equal in branches trained together, are taken from the first.
        """
        return {key: states[0][key] if states[0][key].ndim == 0 else torch.cat([s[key] for s in states])
                for key in states[0]}

    @staticmethod
    def unstack_state(state: dict[str, torch.Tensor], groups: int) -> list[dict[str, torch.Tensor]]:
        """Inverse of :meth:`stack_state`: one (cloned) state per branch."""
        return [{key: value.clone() if value.ndim == 0 else value.chunk(groups)[i].clone()
                 for key, value in state.items()} for i in range(groups)]

    @classmethod
    def stack(cls, branches: list[InceptionBranch]) -> InceptionBranch:
        """One grouped branch computing every (single, same-shaped) branch of ``branches`` at once."""
        first = branches[0]
        if any(b.groups != 1 or b.arguments != first.arguments for b in branches):
            raise ValueError("only single branches with the same arguments can be stacked")
        grouped = cls(**first.arguments, _groups=len(branches)).to(next(first.parameters()).device)
        grouped.load_state_dict(cls.stack_state([b.state_dict() for b in branches]))
        return grouped
