"""Generic attention modules: ``(B, channels, H, W) -> (B, channels, H, W)``."""

from __future__ import annotations

from torch import nn

__all__ = ["identity", "squeeze_excite"]


def identity(channels: int) -> nn.Module:
    """No re-weighting (an ablation baseline): returns its input unchanged."""
    return nn.Identity()


def squeeze_excite(channels: int, reduction: int = 16) -> nn.Module:
    """Squeeze-and-excitation channel attention (timm's ``SEModule``).

    Args:
        channels: Input channels (supplied by the model).
        reduction: The bottleneck has ``channels // reduction`` channels (at least 1).
    """
    from timm.layers import SEModule

    return SEModule(channels, rd_channels=max(1, channels // reduction))
