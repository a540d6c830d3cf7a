"""Generic attention modules: ``(B, channels, H, W) -> (B, channels, H, W)``."""

from __future__ import annotations

from pydantic import PositiveInt
from torch import nn

__all__ = ["identity", "squeeze_excite"]


def identity(channels: int) -> nn.Module:
    """No re-weighting (an ablation baseline): returns its input unchanged.

    Shape:
        - Input: ``(B, channels, H, W)``.
        - Output: ``(B, channels, H, W)``, the input itself.

    Examples:
        >>> from mertk.builtin.attention import identity
        >>> x = torch.rand(2, 8, 7, 7)
        >>> identity(channels=8)(x) is x
        True
    """
    return nn.Identity()


def squeeze_excite(channels: int, reduction: PositiveInt = 16) -> nn.Module:
    """Squeeze-and-excitation channel attention (timm's ``SEModule``).

    Args:
        channels: Input channels (supplied by the model).
        reduction: The bottleneck has ``channels // reduction`` channels (at least 1).

    Shape:
        - Input: ``(B, channels, H, W)``.
        - Output: ``(B, channels, H, W)``.

    Examples:
        >>> from mertk.builtin.attention import squeeze_excite
        >>> squeeze_excite(channels=8, reduction=4)(torch.rand(2, 8, 7, 7)).shape
        torch.Size([2, 8, 7, 7])
    """
    from timm.layers import SEModule

    return SEModule(channels, rd_channels=max(1, channels // reduction))
