"""``mertk predict`` and ``mertk explain`` on a model exported for action units: per-AU
probabilities (a sigmoid each, not a softmax over AUs) and a Grad-CAM per chosen AU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import mertk
from mertk.artifact import load_artifact, save_artifact
from mertk.inference.explain import explain_clips
from mertk.inference.inputs import clip_samples
from mertk.inference.predict import predict_clips
from mertk.testing import invoke

VIEWS = {"face": {"name": "full-face", "size": 28}, "hars": {"name": "hars", "regions": ["eyes", "mouth"], "size": 28}}
AUS = ["AU1", "AU4", "AU12"]


@pytest.fixture(scope="module")
def au_model(tmp_path_factory: pytest.TempPathFactory, components: mertk.Components) -> Path:
    """A Dual-ATME with a 3-AU head (random weights), exported as `mertk run` exports an AU model."""
    from mertk.config import validate_config
    from mertk.engine.trainer import build_model

    config = validate_config({"dataset": {"name": "demo"}, "model": {"name": "dual-atme", "hidden": 16},
                              "task": {"name": "aus", "aus": AUS}, "loss": [{"name": "multilabel-bce"}],
                              "preprocess": {"views": VIEWS}}, components)
    torch.manual_seed(0)
    model = build_model(config.model, components, num_classes=len(AUS), in_channels=3,
                        sample={name: torch.rand(2, 3, 28, 28) for name in VIEWS})
    folder = tmp_path_factory.mktemp("au-model") / "model"
    save_artifact(folder, model, config, AUS, {name: (3, 28, 28) for name in VIEWS}, task="aus")
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, components: mertk.Components):
    """One demo clip (a frames folder) with its annotated onset and apex frame numbers."""
    sample = components.build("dataset", {"name": "demo", "root": str(tmp_path_factory.mktemp("demo"))}).load().samples[0]
    return sample.frames[0].parent, str(sample.meta["onset_frame"]), str(sample.meta["apex_frame"])


def test_predict_gives_each_au_its_own_probability(au_model: Path, clip, components) -> None:
    artifact = load_artifact(au_model, components)
    assert artifact.task == "aus" and artifact.class_names == tuple(AUS)
    folder, onset, apex = clip
    rows, _ = predict_clips(artifact, clip_samples([folder], onset=onset, apex=apex), components, device="cpu")
    (row,) = rows
    assert "class" not in row and set(row["probabilities"]) == set(AUS)
    logits = artifact.model(predict_inputs(artifact, folder, onset, apex, components)).logits[0]
    assert [row["probabilities"][au] for au in AUS] == pytest.approx(torch.sigmoid(logits).tolist(), abs=1e-5)
    assert row["aus"] == [au for au in AUS if row["probabilities"][au] >= 0.5]


def predict_inputs(artifact, folder: Path, onset: str, apex: str, components) -> dict[str, torch.Tensor]:
    from mertk.inference.predict import prepare_clips

    with torch.no_grad():
        return prepare_clips(artifact, clip_samples([folder], onset=onset, apex=apex), components).inputs


def test_predict_cli_writes_an_aus_column_and_explain_draws_the_chosen_au(au_model: Path, clip, components,
                                                                          tmp_path: Path) -> None:
    folder, onset, apex = clip
    out = tmp_path / "p.csv"
    result = invoke(["predict", str(au_model), str(folder), "--onset", onset, "--apex", apex, "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0].split(",")
    assert "aus" in header and "class" not in header and [c for c in header if c.startswith("p_")] == [
        f"p_{au}" for au in AUS]
    artifact = load_artifact(au_model, components)
    samples = clip_samples([folder], onset=onset, apex=apex)
    maps = {au: explain_clips(artifact, samples, components, target_class=au, device="cpu")[0] for au in ("AU1", "AU12")}
    assert maps["AU12"].target == "AU12" and set(maps["AU12"].probabilities) == set(AUS)
    key = "gradcam:face"
    assert not torch.equal(maps["AU1"].on_face[key][0], maps["AU12"].on_face[key][0])  # a map per AU
    bad = invoke(["explain", str(au_model), str(folder), "--onset", onset, "--apex", apex, "--class", "AU9",
                  "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "'AU9' is not a class of this model" in bad.output
    assert json.loads((au_model / "model.json").read_text())["task"] == "aus"
