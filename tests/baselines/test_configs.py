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


def test_bench_cost_of_every_bundled_baseline():
    from mertk.bench.cost import model_cost, view_shapes

    costs = {}
    for name in ["dual-atme.yaml", *BASELINES, "lbp-top.yaml"]:
        config = load_config(name, COMPONENTS).config
        costs[name] = model_cost(config, COMPONENTS, num_classes=3)
    assert costs["lbp-top.yaml"] == {"params": None, "flops": None}  # a fitted SVM: no network to count
    assert view_shapes(load_config("lbp-top.yaml", COMPONENTS).config, COMPONENTS)["lbp-top"] == (3 * 59, 5, 5)
    params = {name: cost["params"] for name, cost in costs.items() if name != "lbp-top.yaml"}
    assert params["ststnet.yaml"] < 2_000 < params["off-apexnet.yaml"] < params["dual-inception.yaml"]
    assert params["dual-inception.yaml"] < params["resnet18.yaml"]
    assert all(cost["flops"] > 0 for name, cost in costs.items() if name != "lbp-top.yaml")
