"""Registers the built-in components of `mertk.builtin` through mertk's hooks (lazily, through the
factories of :mod:`mertk.builtin.factories`, so listing and checking them does not import torch)."""

from __future__ import annotations

from mertk.hookspecs import hookimpl


@hookimpl
def register_losses(register):
    register("cross-entropy", "mertk.builtin.factories:cross_entropy")
    register("weighted-cross-entropy", "mertk.builtin.factories:weighted_cross_entropy",
             description="Class-weighted cross-entropy (inverse training-fold frequency by default).")
    register("multilabel-bce", "mertk.builtin.factories:multilabel_bce",
             description="Multi-label BCE per action unit, positives weighted by the training fold's counts.")
    register("multilabel-focal", "mertk.builtin.factories:multilabel_focal",
             description="Multi-label focal loss per action unit.")


@hookimpl
def register_tasks(register):
    register("emotion", "mertk.builtin.tasks:EmotionTask",
             description="One emotion class per clip, scored by UF1, UAR and accuracy (the default).")
    register("aus", "mertk.builtin.tasks:ActionUnitTask",
             description="Multi-label facial action units, scored by per-AU F1 and their mean (au_f1).")


@hookimpl
def register_backbones(register):
    register("timm", "mertk.builtin.factories:timm",
             description="Any timm model's feature extractor, randomly initialised (no downloads).")


@hookimpl
def register_attentions(register):
    register("identity", "mertk.builtin.factories:identity")
    register("se", "mertk.builtin.factories:squeeze_excite")
