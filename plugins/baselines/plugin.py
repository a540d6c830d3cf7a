"""Registers the baseline models and their bundled configs through mertk's public hooks.

Everything is registered lazily (``"module:attribute"``), the networks through the factories of
:mod:`mertk_baselines.factories`, so listing components and checking configs does not import torch,
timm or scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

from mertk import hookimpl

P = "mertk_baselines"


@hookimpl
def register_backbones(register):
    register("conv-pool", f"{P}.factories:conv_pool",
             description="Conv -> ReLU -> 2x2 max-pool stages (Off-ApexNet's stream; 1x28x28 -> 16x7x7).")


@hookimpl
def register_roi_selectors(register):
    register("lbp-top", f"{P}.lbptop:LbpTop",
             description="LBP-TOP histograms of the aligned onset..offset clip, per cell of a spatial grid.")


@hookimpl
def register_models(register):
    register("ststnet", f"{P}.factories:ststnet",
             description="STSTNet: shallow triple-stream CNN (3/5/8 filters) on the u/v/strain flow image.")
    register("off-apexnet", f"{P}.factories:off_apexnet",
             description="Off-ApexNet: two conv-pool streams on the u and v flow, fused by FC layers.")
    register("dual-inception", f"{P}.factories:dual_inception",
             description="Dual-Inception: two Inception streams on the u and v flow, fused by FC layers.")
    register("timm-classifier", f"{P}.factories:timm_classifier",
             description="A whole timm classifier (ResNet-18 by default) on one view, trained from scratch.")
    register("linear-svm", f"{P}.factories:linear_svm",
             description="Linear SVM on one flattened view (e.g. LBP-TOP), fitted with scikit-learn.")


@hookimpl
def register_config_dirs(register):
    register(Path(__file__).parent / "configs")
