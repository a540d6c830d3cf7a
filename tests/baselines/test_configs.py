"""The bundled baseline configs: valid, and the same data, preprocessing and training as Dual-ATME."""

from __future__ import annotations

import pytest

import mertk
from mertk.config import bundled_configs, load_config

COMPONENTS = mertk.load_components()
BASELINES = ["ststnet.yaml", "off-apexnet.yaml", "dual-inception.yaml", "resnet18.yaml"]


def test_the_baseline_configs_are_bundled():
    assert set(BASELINES) <= set(bundled_configs(COMPONENTS))


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_config_differs_from_dual_atme_only_in_model_and_loss(name):
    config = load_config(name, COMPONENTS).config
    reference = load_config("dual-atme.yaml", COMPONENTS).config
    for section in ("dataset", "protocol", "preprocess", "train", "seed", "on_error"):
        assert getattr(config, section) == getattr(reference, section), section
    assert config.model["name"] != "dual-atme"
    # the model spec replaced Dual-ATME's whole spec: none of its arguments leaked in
    assert not {"attention", "attention_on", "share_attention", "views"} & set(config.model)
    assert [term["name"] for term in config.loss] == ["cross-entropy"]


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_config_builds_a_model_that_reads_its_views(name):
    config = load_config(name, COMPONENTS).config
    model = COMPONENTS.build("model", config.model, num_classes=3, in_channels=len(config.preprocess.encoding.channels))
    assert set(model.views) <= set(config.preprocess.views)
