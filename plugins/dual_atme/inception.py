"""The authors' Inception branch: two Inception blocks, each followed by 2x2 max-pooling."""

from __future__ import annotations

import torch
from pydantic import PositiveInt
from torch import nn

from mertk_dual_atme.conv import Conv2d
from mertk_dual_atme.pooling import MaxPool

__all__ = ["InceptionBlock", "InceptionBranch"]


def _conv_bn_relu(cin: int, cout: int, k: int, groups: int = 1) -> nn.Sequential:
    """``groups`` side-by-side ``cin -> cout`` convolutions, each followed by BatchNorm and ReLU."""
    return nn.Sequential(Conv2d(groups * cin, groups * cout, k, padding=k // 2, groups=groups),
                         nn.BatchNorm2d(groups * cout), nn.ReLU(inplace=True))


class InceptionBlock(nn.Module):
    """Four parallel paths, concatenated: ``(B, in_channels, H, W) -> (B, 4 * width, H, W)``.

    Paths (each convolution is followed by BatchNorm and ReLU): 1x1 (``width``);
    1x1 (``reduce``) -> 3x3 (``width``); 1x1 (``reduce``) -> 5x5 (``width``);
    3x3 max-pool (stride 1) -> 1x1 (``width``).

    The three 1x1 convolutions that read the block's input are stored and computed as one
    ``in_channels -> width + 2 * reduce`` convolution (``entry``: the 1x1 path's channels,
    then the 3x3 and 5x5 paths' reductions). BatchNorm and ReLU act per channel, so this is
    the same function as three separate layers, with one kernel call instead of three and one
    input gradient instead of a sum of three (``benchmarks/train.py``).

    With ``groups = g`` it is ``g`` independent blocks side by side in one set of grouped
    convolutions: ``(B, g * in_channels, H, W) -> (B, g * 4 * width, H, W)``, group ``i``'s
    output channels (its four paths) contiguous at ``[i * 4 * width, (i + 1) * 4 * width)``.
    BatchNorm over the stacked channels is each block's own BatchNorm.

    Args:
        in_channels: Input channels (of each group).
        width: Output channels of each path.
        reduce: Channels of the 1x1 reductions before the 3x3 and 5x5 convolutions.
        groups: Number of independent blocks computed together.

    Shape:
        - Input: ``(B, groups * in_channels, H, W)``.
        - Output: ``(B, groups * 4 * width, H, W)``.

    Examples:
        >>> from mertk_dual_atme.inception import InceptionBlock
        >>> InceptionBlock(3, width=6)(torch.rand(2, 3, 14, 14)).shape
        torch.Size([2, 24, 14, 14])
        >>> InceptionBlock(3, width=6, groups=2)(torch.rand(2, 6, 14, 14)).shape
        torch.Size([2, 48, 14, 14])
    """

    def __init__(self, in_channels: int, width: int, reduce: int = 6, groups: int = 1) -> None:
        super().__init__()
        g = groups
        self.entry = _conv_bn_relu(in_channels, width + 2 * reduce, 1, g)
        self.conv3 = _conv_bn_relu(reduce, width, 3, g)
        self.conv5 = _conv_bn_relu(reduce, width, 5, g)
        self.pool = nn.Sequential(MaxPool(3, 1, 1), _conv_bn_relu(in_channels, width, 1, g))
        self.groups, self.width, self.reduce = groups, width, reduce
        self.out_channels = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, g, width + 2 * reduce, H, W) -> each group's 1x1 path and its two reductions
        entry = self.entry(x).unflatten(1, (self.groups, -1))
        path1, reduced3, reduced5 = entry.split([self.width, self.reduce, self.reduce], dim=2)
        others = [self.conv3(reduced3.flatten(1, 2)), self.conv5(reduced5.flatten(1, 2)), self.pool(x)]
        # (B, g, 4 * width, H, W): the paths of each group next to each other
        return torch.cat([path1] + [p.unflatten(1, (self.groups, -1)) for p in others], dim=2).flatten(1, 2)


class InceptionBranch(nn.Module):
    """One Dual-ATME branch: Inception -> 2x2 max-pool, repeated per width.

    With the paper's widths ``(6, 12)`` a ``(B, 3, 28, 28)`` flow image becomes
    ``(B, 48, 7, 7)``: Inception(3, 6) -> 24x28x28 -> pool -> 24x14x14 -> Inception(24, 12)
    -> 48x14x14 -> pool -> 48x7x7.

    Args:
        in_channels: Channels of the input view (supplied by the model).
        widths: Path width of each Inception block; the output has ``4 * widths[-1]`` channels.
        reduce: Channels of the 1x1 reductions inside each block.
        _groups: Number of independent branches computed together by grouped convolutions
            (see :meth:`stack`): input ``(B, groups * in_channels, H, W)``, output
            ``(B, groups * out_channels, h, w)``, branch ``i`` in the ``i``-th channel block.

    Attributes:
        out_channels: ``4 * widths[-1]`` (of each group).

    Shape:
        - Input: ``(B, groups * in_channels, H, W)``.
        - Output: ``(B, groups * out_channels, H // 2**n, W // 2**n)``, ``n = len(widths)``.

    Examples:
        >>> from mertk_dual_atme.inception import InceptionBranch
        >>> branch = InceptionBranch(in_channels=3)
        >>> branch.out_channels, branch(torch.rand(2, 3, 28, 28)).shape
        (48, torch.Size([2, 48, 7, 7]))
        >>> pair = InceptionBranch.stack([branch, InceptionBranch(in_channels=3)])  # both in one
        >>> pair(torch.rand(2, 6, 28, 28)).shape
        torch.Size([2, 96, 7, 7])
    """

    def __init__(self, in_channels: int, widths: tuple[PositiveInt, ...] = (6, 12),
                 reduce: PositiveInt = 6, _groups: int = 1) -> None:
        super().__init__()
        self.arguments = {"in_channels": in_channels, "widths": tuple(widths), "reduce": reduce}
        self.groups = _groups
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            block = InceptionBlock(channels, width, reduce, _groups)
            layers += [block, MaxPool(2)]
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
