"""Registers the Dual-ATME reference components through mertk's public hooks.

Everything is registered lazily (``"module:attribute"``) through the factories of
:mod:`mertk_dual_atme.factories`, so listing components and checking configs does not import torch.
"""

from __future__ import annotations

from pathlib import Path

from mertk import hookimpl


@hookimpl
def register_backbones(register):
    register("inception", "mertk_dual_atme.factories:inception",
             description="Dual-ATME Inception branch: two Inception blocks with 2x2 pooling (3x28x28 -> 48x7x7).")


@hookimpl
def register_attentions(register):
    register("cbam", "mertk_dual_atme.factories:cbam",
             description="CBAM channel + spatial attention (Dual-ATME's AARS).")


@hookimpl
def register_losses(register):
    register("focal", "mertk_dual_atme.factories:focal",
             description="Focal loss on the logits (gamma, alpha).")
    register("similarity", "mertk_dual_atme.factories:similarity",
             description="Mean 1 - cosine similarity between two branch feature vectors.")


@hookimpl
def register_models(register):
    register("dual-atme", "mertk_dual_atme.factories:dual_atme",
             description="Dual-ATME: whole-face and HARS branches, attention, fused classifier.")


@hookimpl
def register_config_dirs(register):
    register(Path(__file__).parent / "configs")
