"""Registers the built-in components of `mertk.builtin` through mertk's hooks (lazily, through the
factories of :mod:`mertk.builtin.factories`, so listing and checking them does not import torch)."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_losses(register):
    register("cross-entropy", "mertk.builtin.factories:cross_entropy")
    register("weighted-cross-entropy", "mertk.builtin.factories:weighted_cross_entropy",
             description="Class-weighted cross-entropy (inverse training-fold frequency by default).")


@hookimpl
def register_backbones(register):
    register("timm", "mertk.builtin.factories:timm",
             description="Any timm model's feature extractor, randomly initialised (no downloads).")


@hookimpl
def register_attentions(register):
    register("identity", "mertk.builtin.factories:identity")
    register("se", "mertk.builtin.factories:squeeze_excite")
