"""Output places that cannot be written are refused before any work, naming the path and the fix."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
import yaml

from mertk.errors import MertkError
from mertk.testing import invoke
from mertk.writable import check_writable_dir, check_writable_file, write_obstacle


@pytest.fixture
def in_the_way(tmp_path: Path) -> Path:
    """A regular file where a folder is needed (stops root too, unlike chmod)."""
    path = tmp_path / "notes.txt"
    path.write_text("not a folder")
    return path


def test_a_missing_folder_below_a_writable_one_is_fine_and_not_created(tmp_path: Path) -> None:
    assert write_obstacle(tmp_path / "a" / "b") is None
    assert list(tmp_path.iterdir()) == []  # the probe file is gone, nothing was created


def test_a_file_in_the_way_is_named(in_the_way: Path) -> None:
    assert write_obstacle(in_the_way / "runs" / "x") == f"{in_the_way} is a file, not a folder"
    with pytest.raises(MertkError, match=rf"runs: cannot write the run folder: {in_the_way} is a file, not a folder\. "
                                         r"Fix: use another"):
        check_writable_dir(in_the_way / "runs", what="the run folder", fix="use another")
    with pytest.raises(MertkError, match=r"out\.json: cannot write the predictions: .* is a file, not a folder"):
        check_writable_file(in_the_way / "out.json", what="the predictions", fix="use another")


def test_a_read_only_file_system_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert write_obstacle(tmp_path / "runs") == f"{tmp_path} is on a read-only file system"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into a 0555 folder")
def test_a_folder_without_write_permission_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert write_obstacle(locked / "runs") == f"no permission to write in {locked}"
    finally:
        locked.chmod(0o755)


def _config(tmp_path: Path, output_dir: Path) -> Path:
    config = {"name": "tiny", "dataset": {"name": "demo", "root": str(tmp_path / "demo")}, "model": "dual-atme",
              "preprocess": {"cache_dir": str(tmp_path / "cache"), "views": {"face": "full-face", "hars": "hars"}}, "output": {"dir": str(output_dir)}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_with_output_dir_under_a_file_stops_before_any_work(tmp_path: Path, in_the_way: Path) -> None:
    result = invoke(["run", str(_config(tmp_path, in_the_way / "runs"))])
    assert result.exit_code == 1 and "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert f"{in_the_way / 'runs'}: cannot write the run folder: {in_the_way} is a file, not a folder" in result.output
    assert "Fix: set output.dir" in result.output
    assert not (tmp_path / "demo").exists() and not (tmp_path / "cache").exists()  # no data loaded, nothing computed


def test_run_dir_and_bench_dir_under_a_file(tmp_path: Path, in_the_way: Path) -> None:
    config = str(_config(tmp_path, tmp_path / "runs"))
    result = invoke(["run", config, "--run-dir", str(in_the_way / "r")])
    assert result.exit_code == 1 and "is a file, not a folder. Fix: choose another --run-dir" in result.output
    bench = invoke(["bench", config, "--dir", str(in_the_way / "bench")])
    assert bench.exit_code == 1 and "Traceback" not in bench.output
    assert f"{in_the_way / 'bench'}: cannot write the bench's runs and tables" in bench.output
    assert "Fix: pass --dir a folder you can write" in bench.output
    assert not (tmp_path / "demo").exists() and not (tmp_path / "runs").exists()


def test_resuming_a_run_folder_that_cannot_be_written_is_refused(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mertk.engine.rundir import RunFolder

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("name: x\n")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(MertkError, match=r"run: cannot write the resumed run's folds and results: .* is on a "
                                         r"read-only file system\. Fix: make the folder writable, or copy it"):
        RunFolder.open(tmp_path / "run")
