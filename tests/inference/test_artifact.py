"""Model artefacts: round trip, and every refusal (other format, tampered or non-safetensors weights)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from mertk.artifact import FORMAT_VERSION, META_NAME, WEIGHTS_NAME, load_artifact, save_artifact
from mertk.errors import MertkError

CLASSES = ("negative", "positive", "surprise")
SHAPES = {"face": (3, 28, 28), "hars": (3, 28, 28)}


@pytest.fixture
def saved(tmp_path: Path, small_model) -> Path:
    model, config = small_model
    return save_artifact(tmp_path / "model", model, config, CLASSES, SHAPES, info={"train_size": 7})


def test_round_trip_gives_the_same_model(saved: Path, small_model, components) -> None:
    model, config = small_model
    meta = json.loads((saved / META_NAME).read_text())
    assert sorted(p.name for p in saved.iterdir()) == [META_NAME, WEIGHTS_NAME]
    assert meta["format_version"] == FORMAT_VERSION and meta["class_names"] == list(CLASSES)
    assert meta["config"]["model"]["hidden"] == 16 and meta["config"]["preprocess"]["align"]["size"] == 128
    assert meta["weights_sha256"] == hashlib.sha256((saved / WEIGHTS_NAME).read_bytes()).hexdigest()
    assert meta["normalize"] == {"mean": 0.5, "std": 0.5} and meta["info"] == {"train_size": 7}

    artifact = load_artifact(saved / META_NAME, components)  # a file inside the folder works too
    assert artifact.class_names == CLASSES and artifact.view_shapes == SHAPES
    assert artifact.preprocess == config.preprocess and not artifact.model.training
    x = {name: torch.rand(4, *shape) for name, shape in SHAPES.items()}
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(artifact.model(x).logits, model(x).logits, rtol=0, atol=0)


def test_saving_again_replaces_the_folder_whole(saved: Path, small_model) -> None:
    model, config = small_model
    (saved / "stray.txt").write_text("old")
    save_artifact(saved, model, config, CLASSES, SHAPES)
    assert sorted(p.name for p in saved.iterdir()) == [META_NAME, WEIGHTS_NAME]
    assert [p.name for p in saved.parent.iterdir()] == ["model"]  # no temporary folders left


def test_a_failed_save_writes_nothing(tmp_path: Path, small_model) -> None:
    model, config = small_model
    with pytest.raises(TypeError):
        save_artifact(tmp_path / "model", model, config, CLASSES, SHAPES, info={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def _rewrite_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / META_NAME).read_text())
    meta.update(changes)
    (folder / META_NAME).write_text(json.dumps(meta))


def _resign(folder: Path) -> None:
    """Record the digest of model.json as it is now (a folder consistent with itself, as if exported so)."""
    from mertk.artifact import DIGEST_KEY, _description_digest

    meta = json.loads((folder / META_NAME).read_text())
    _rewrite_meta(folder, **{DIGEST_KEY: _description_digest(meta)})


def test_other_format_version_is_refused(saved: Path, components) -> None:
    _rewrite_meta(saved, format_version=FORMAT_VERSION + 1, mertk_version="9.0.0")
    with pytest.raises(MertkError, match=r"model\.json: model format version 2 \(written by mertk 9\.0\.0\).*"
                                         r"reads version 1\. Fix: use mertk 9\.0\.0"):
        load_artifact(saved, components)


def test_tampered_weights_are_refused(saved: Path, components) -> None:
    weights = saved / WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(MertkError, match=r"weights\.safetensors: the weights do not match the SHA-256.*Fix: restore"):
        load_artifact(saved, components)


def test_pickled_weights_are_refused_even_with_a_matching_hash(saved: Path, components) -> None:
    weights = saved / WEIGHTS_NAME
    torch.save({"upper.0.weight": torch.zeros(1)}, weights)  # a pickle, not safetensors
    _rewrite_meta(saved, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    _resign(saved)
    with pytest.raises(MertkError, match=r"weights\.safetensors: not a safetensors file.*only loads weights saved as "
                                         r"safetensors"):
        load_artifact(saved, components)


def test_an_edited_model_json_is_named_as_such(saved: Path, components) -> None:
    """Editing model.json (here the model's width, which the weights no longer fit; or the class
    order, which they would silently fit) is reported as an edit, not blamed on the plugin."""
    for edit in (lambda m: m["config"]["model"].update(hidden=8), lambda m: m["class_names"].reverse()):
        meta = json.loads((saved / META_NAME).read_text())
        original = json.dumps(meta)
        edit(meta)
        (saved / META_NAME).write_text(json.dumps(meta))
        with pytest.raises(MertkError, match=r"model\.json: was edited after export.*Fix: restore the original "
                                             r"model\.json") as exc:
            load_artifact(saved, components)
        assert "plugin" not in str(exc.value)
        (saved / META_NAME).write_text(original)


def test_a_model_json_without_its_digest_is_refused_as_edited(saved: Path, components) -> None:
    """Removing description_sha256 (and swapping two class names, which the weights would fit) is an edit."""
    meta = json.loads((saved / META_NAME).read_text())
    del meta["description_sha256"]
    meta["class_names"].reverse()
    (saved / META_NAME).write_text(json.dumps(meta))
    with pytest.raises(MertkError, match=r"model\.json: was edited after export: it has no description_sha256.*"
                                         r"Fix: restore the original model\.json"):
        load_artifact(saved, components)


def _swap_weights(folder: Path, meta: dict) -> None:
    """Other weights of the same shapes in the folder, with their SHA-256 written into model.json."""
    from safetensors.torch import load_file, save_file

    weights = folder / WEIGHTS_NAME
    save_file({k: v.flip(0).contiguous() for k, v in load_file(str(weights)).items()}, str(weights))
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()


@pytest.mark.parametrize("edit", [
    pytest.param(_swap_weights, id="weights-and-their-hash"),
    pytest.param(lambda folder, meta: meta["info"].update(train_size=1), id="info"),
    pytest.param(lambda folder, meta: meta.pop("torch_version"), id="removed-version"),
    pytest.param(lambda folder, meta: meta.update(extra=1), id="added-field"),
])
def test_every_field_of_model_json_is_covered_by_its_digest(saved: Path, components, edit) -> None:
    """Not only the class names and config: replacing the weights together with their recorded hash,
    or changing, removing or adding any field, is refused as an edit."""
    meta = json.loads((saved / META_NAME).read_text())
    edit(saved, meta)
    (saved / META_NAME).write_text(json.dumps(meta))
    with pytest.raises(MertkError, match=r"model\.json: was edited after export.*weights hash.*Fix: restore"):
        load_artifact(saved, components)


def test_an_export_with_the_early_partial_digest_is_refused_with_its_reason(saved: Path, components) -> None:
    from mertk.artifact import _canonical_sha256

    meta = json.loads((saved / META_NAME).read_text())
    early = _canonical_sha256({k: meta[k] for k in ("class_names", "views", "normalize", "config")})
    _rewrite_meta(saved, description_sha256=early)
    with pytest.raises(MertkError, match=r"model\.json: was exported by an earlier mertk.*does not cover the weights "
                                         r"hash.*Fix: export the model again"):
        load_artifact(saved, components)


def test_weights_that_do_not_fit_an_unedited_config_blame_the_installed_plugin(saved: Path, components) -> None:
    """model.json as exported, but the model its config builds has other parameters (as after
    installing another version of the model's plugin): simulated by weights of another width."""
    from safetensors.torch import load_file, save_file

    weights = saved / WEIGHTS_NAME
    state = load_file(str(weights))
    save_file({k: (v[:-1].clone() if v.ndim == 2 else v) for k, v in state.items()}, str(weights))
    _rewrite_meta(saved, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    _resign(saved)
    with pytest.raises(MertkError, match=r"the weights do not fit the model its config builds.*model\.json is as "
                                         r"exported, so the installed model plugin builds another network"):
        load_artifact(saved, components)


@pytest.mark.parametrize("problem", ["missing", "no-meta", "not-json", "not-mertk"])
def test_not_a_model_folder(tmp_path: Path, components, problem: str) -> None:
    folder = tmp_path / "model"
    if problem != "missing":
        folder.mkdir()
    if problem == "not-json":
        (folder / META_NAME).write_text("{not json")
    if problem == "not-mertk":
        (folder / META_NAME).write_text(json.dumps({"format": "other"}))
    with pytest.raises(MertkError, match=r"model.*Fix: (pass the model folder|export the model again)"):
        load_artifact(folder, components)


def test_cli_reports_a_tampered_model_without_traceback(saved: Path, tmp_path: Path) -> None:
    from mertk.testing import invoke

    (saved / WEIGHTS_NAME).write_bytes(b"\x00" * 64)
    clip = tmp_path / "clip"
    clip.mkdir()
    result = invoke(["predict", str(saved), str(clip)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{saved / WEIGHTS_NAME}: the weights do not match" in result.output
