"""``mertk preprocess CONFIG``: fills the cache, resumes, writes preview sheets, reports bad clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from preprocess_clips import write_folder

from mertk.testing import invoke

PLUGIN = str(Path(__file__).parent / "cli_plugin")


def _config(tmp_path, **preprocess) -> Path:
    config = {"dataset": {"name": "clip-folders", "root": str(tmp_path / "clips")}, "model": "stub-model",
              "preprocess": {"cache_dir": str(tmp_path / "cache"), "workers": 1, "flow": "dis",
                             "align": {"size": 96},
                             "views": {"face": {"name": "full-face", "size": 28},
                                       "hars": {"name": "hars", "regions": ["eyes", "mouth"], "size": 28}},
                             **preprocess}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_preprocess_command_with_preview(tmp_path, frames5):
    for name in ("a", "b", "c"):
        write_folder(tmp_path / "clips" / name, frames5, ".jpg")
    config = _config(tmp_path)
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config), "--preview", "2",
                     "--preview-dir", str(tmp_path / "sheets")])
    assert result.exit_code == 0, result.output
    assert "3 clips prepared, 0 skipped; face found by: dlib-hog 3" in result.output
    assert "face (3, 3, 28, 28)" in result.output and "hars (3, 3, 28, 28)" in result.output
    sheets = sorted((tmp_path / "sheets").glob("*.png"))
    assert [p.name for p in sheets] == ["t__s1__a.png", "t__s1__b.png"]
    import matplotlib.image

    assert matplotlib.image.imread(sheets[0]).shape[1] >= 1000  # face, flow, strain and two views side by side
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 3


def test_bad_clip_stops_with_a_message_or_is_skipped(tmp_path, frames5):
    write_folder(tmp_path / "clips" / "good", frames5, ".jpg")
    write_folder(tmp_path / "clips" / "blank", [np.full((120, 120, 3), 90, np.uint8)] * 3, ".png")
    config = _config(tmp_path, face_detector="dlib-hog")
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config)])
    assert result.exit_code == 1
    assert "[t/s1/blank]: no face found" in result.output and "Traceback" not in result.output
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config), "--set", "on_error=skip"])
    assert result.exit_code == 0, result.output
    assert "skipped: " in result.output and "1 clips prepared, 1 skipped" in result.output


def test_preprocess_on_ray_fills_the_same_cache(ray_local, tmp_path, frames5):
    """`--set executor.name=ray`: one Ray task per clip, whose results this process writes to the
    cache; the cache holds the same files, with the same content, as one computed here."""
    import torch

    for name in ("a", "b", "c"):
        write_folder(tmp_path / "clips" / name, frames5, ".jpg")
    config = _config(tmp_path)
    here = invoke(["--plugin", PLUGIN, "preprocess", str(config), "--set", f"preprocess.cache_dir={tmp_path / 'here'}"])
    assert here.exit_code == 0, here.output
    on_ray = invoke(["--plugin", PLUGIN, "preprocess", str(config), "--set", "executor.name=ray",
                     "--set", f"preprocess.cache_dir={tmp_path / 'ray'}"])
    assert on_ray.exit_code == 0, on_ray.output
    assert "3 clips prepared, 0 skipped; face found by: dlib-hog 3" in on_ray.output
    files = {p.relative_to(tmp_path / "here"): p for p in (tmp_path / "here").rglob("*.pt")}
    assert len(files) == 3 and {p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.pt")} == set(files)
    for name, path in files.items():
        a, b = torch.load(path, weights_only=True), torch.load(tmp_path / "ray" / name, weights_only=True)
        assert a["record"] == b["record"] and torch.equal(a["landmarks"], b["landmarks"])
        assert torch.equal(a["face"], b["face"]) and torch.allclose(a["flow"], b["flow"], atol=1e-4)

def test_stop_lists_load_time_and_preprocessing_problems_together(tmp_path, frames5):
    """A row that is fatal at load time stops `mertk preprocess` too, and is listed with the clips
    that fail in preprocessing; the good clip is cached before the stop."""
    write_folder(tmp_path / "clips" / "good", frames5, ".jpg")
    (tmp_path / "clips" / "lost").mkdir()
    config = _config(tmp_path, face_detector="dlib-hog")
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config)])
    assert result.exit_code == 1, result.output
    assert "1 sample(s) cannot be used" in result.output and "[t/s1/lost]: no frame images" in result.output
    write_folder(tmp_path / "clips" / "blank", [np.full((120, 120, 3), 90, np.uint8)] * 3, ".png")
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config)])
    assert result.exit_code == 1 and "2 sample(s) cannot be used" in result.output
    assert "[t/s1/lost]: no frame images" in result.output and "[t/s1/blank]: no face found" in result.output
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 1
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config), "--set", "on_error=skip"])
    assert result.exit_code == 0, result.output
    assert "1 clips prepared, 2 skipped" in result.output


def test_a_cache_that_cannot_be_written_stops_before_any_clip(tmp_path, frames5):
    write_folder(tmp_path / "clips" / "a", frames5, ".jpg")
    (tmp_path / "notes.txt").write_text("in the way")
    config = _config(tmp_path, cache_dir=str(tmp_path / "notes.txt" / "cache"))
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config), "--preview", "1",
                     "--preview-dir", str(tmp_path / "sheets")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in result.output
    assert "Fix: set preprocess.cache_dir in run.yaml (or $MERTK_CACHE) to a folder you can write" in result.output
    preview = invoke(["--plugin", PLUGIN, "preprocess", str(_config(tmp_path)), "--preview", "1",
                      "--preview-dir", str(tmp_path / "notes.txt" / "sheets")])
    assert preview.exit_code == 1 and "cannot write the preview sheets" in preview.output
    assert not (tmp_path / "cache").exists()  # refused before preprocessing


def test_a_read_only_cache_that_holds_every_clip_is_only_read(tmp_path, frames5, monkeypatch):
    """A shared, precomputed cache may be read-only; a clip it lacks is refused before any work."""
    import errno
    import tempfile

    write_folder(tmp_path / "clips" / "a", frames5, ".jpg")
    config = _config(tmp_path)
    assert invoke(["--plugin", PLUGIN, "preprocess", str(config)]).exit_code == 0

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    again = invoke(["--plugin", PLUGIN, "preprocess", str(config)])
    assert again.exit_code == 0, again.output
    write_folder(tmp_path / "clips" / "b", frames5, ".jpg")
    result = invoke(["--plugin", PLUGIN, "preprocess", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot write the preprocessing cache" in result.output and "read-only file system" in result.output


def test_a_stop_lists_each_problem_once(tmp_path, frames5):
    write_folder(tmp_path / "clips" / "good", frames5, ".jpg")
    (tmp_path / "clips" / "lost").mkdir()
    result = invoke(["--plugin", PLUGIN, "preprocess", str(_config(tmp_path))])
    assert result.exit_code == 1 and "1 sample(s) cannot be used" in result.output
    assert result.output.count("[t/s1/lost]: no frame images") == 1, result.output


def test_an_interrupted_preprocess_exits_130_and_says_the_cache_keeps_its_clips(tmp_path, frames5, monkeypatch):
    from mertk.preprocess import pipeline

    write_folder(tmp_path / "clips" / "a", frames5, ".jpg")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "prepare", interrupted)
    result = invoke(["--plugin", PLUGIN, "preprocess", str(_config(tmp_path))])
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines()[-1] == ("interrupted; the clips finished so far are cached: run the "
                                                      "same command again to continue")
