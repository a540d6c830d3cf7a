"""`mertk predict` / `explain` with bad inputs and outputs: every bad clip listed (stop) or skipped
and reported (skip); an output that cannot be written refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mertk.artifact import save_artifact
from mertk.testing import invoke

VIEWS = ("face", "hars")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, small_model) -> Path:
    model, config = small_model
    return save_artifact(tmp_path_factory.mktemp("cli-errors") / "model", model, config,
                         ("negative", "positive", "surprise"), {name: (3, 28, 28) for name in VIEWS})


def _face_clip(folder: Path, frames: int = 3) -> Path:
    """A still clip of a real face (skimage's astronaut), which every face detector finds."""
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[0:320, 80:400])
    folder.mkdir(parents=True)
    for i in range(1, frames + 1):
        cv2.imwrite(str(folder / f"img{i}.jpg"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    return folder


def _bad_inputs(tmp_path: Path) -> tuple[list[str], list[str]]:
    """An empty folder, a manifest with a good row, a row whose folder is missing (row 3) and a row
    naming no clip (row 4), and a path that does not exist; returns the inputs and the problems."""
    (tmp_path / "empty").mkdir()
    _face_clip(tmp_path / "clips" / "good")
    manifest = tmp_path / "list.csv"
    manifest.write_text("sample,frames\nok,clips/good\nlost,clips/nowhere\nnothing,\n")
    inputs = [str(tmp_path / "empty"), str(manifest), str(tmp_path / "gone")]
    problems = [f"{tmp_path / 'empty'} [{tmp_path / 'empty'}]: no frame images in {tmp_path / 'empty'}",
                f"{manifest}, row 3 [{tmp_path / 'clips' / 'nowhere'}]: clip folder {tmp_path / 'clips' / 'nowhere'} "
                "does not exist",
                f"{manifest}, row 4 [nothing]: the row names no clip",
                f"{tmp_path / 'gone'}: no such file or folder"]
    return inputs, problems


def test_predict_on_error_skip_predicts_the_good_clips_and_lists_the_bad_ones_at_the_end(model_dir: Path,
                                                                                         tmp_path: Path) -> None:
    inputs, problems = _bad_inputs(tmp_path)
    out = tmp_path / "out.json"
    result = invoke(["predict", str(model_dir), *inputs, "-o", str(out), "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())
    assert row["clip"] == "ok"
    written = result.output.index(f"1 predictions: {out}")
    for problem in problems:
        assert f"skipped: {problem}" in result.output and result.output.index(problem) > written  # listed at the end
    assert result.output.count("row 3") == 1
    assert "1 clip(s) predicted, 4 skipped (listed above)" in result.output


def test_predict_on_error_stop_lists_every_bad_input_before_any_work(model_dir: Path, tmp_path: Path) -> None:
    inputs, problems = _bad_inputs(tmp_path)
    out = tmp_path / "out.json"
    result = invoke(["predict", str(model_dir), *inputs, "-o", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "4 sample(s) cannot be used" in result.output
    assert all(problem in result.output for problem in problems)
    assert result.output.count("row 3") == 1 and "pass --on-error skip to predict the other clips" in result.output
    assert "preprocess" not in result.output and not out.exists()


def test_predict_skipping_every_clip_fails(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke(["predict", str(model_dir), str(tmp_path / "empty"), "--on-error", "skip"])
    assert result.exit_code == 1 and "skipped: " in result.output
    assert "no clip could be predicted: all 1 were skipped" in result.output


def test_explain_lists_every_bad_input(model_dir: Path, tmp_path: Path) -> None:
    inputs, problems = _bad_inputs(tmp_path)
    result = invoke(["explain", str(model_dir), *inputs, "-o", str(tmp_path / "png")])
    assert result.exit_code == 1 and all(problem in result.output for problem in problems)
    assert "leave these clips out of the command" in result.output


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_an_output_that_cannot_be_written_is_refused_before_the_model_is_read(command: str, tmp_path: Path) -> None:
    """`-o` below a regular file (which stops root too): refused first, naming the path and the fix,
    even though the model and the clip do not exist."""
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("not a folder")
    out = in_the_way / ("out.json" if command == "predict" else "png")
    result = invoke([command, str(tmp_path / "no-model"), str(tmp_path / "no-clip"), "-o", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{out}: cannot write the " in result.output and f"{in_the_way} is a file, not a folder" in result.output
    assert "Fix: pass --output a" in result.output and "no-model" not in result.output
