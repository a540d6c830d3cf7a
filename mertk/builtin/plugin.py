"""Registers the built-in components of `mertk.builtin` through mertk's hooks (lazily)."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_losses(register):
    register("cross-entropy", "mertk.builtin.losses:CrossEntropy")
    register("weighted-cross-entropy", "mertk.builtin.losses:WeightedCrossEntropy",
             description="Class-weighted cross-entropy (inverse training-fold frequency by default).")


@hookimpl
def register_backbones(register):
    register("timm", "mertk.builtin.backbones:TimmBackbone",
             description="Any timm model's feature extractor, randomly initialised (no downloads).")


@hookimpl
def register_attentions(register):
    register("identity", "mertk.builtin.attention:identity")
    register("se", "mertk.builtin.attention:squeeze_excite")
