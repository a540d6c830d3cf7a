"""mertk.files: atomic writes, and temporary files and folders with the permissions the umask gives."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mertk.files import temporary_dir, temporary_file, write_csv_atomic, write_text_atomic


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["umask022", "umask002", "umask077"])
def test_atomic_writes_get_the_mode_the_umask_gives_as_open_does(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        write_text_atomic(tmp_path / "a.json", "{}")
        write_csv_atomic(tmp_path / "b.csv", ["x"], [[1]])
        with open(tmp_path / "plain.txt", "w") as f:  # what a file written by open() gets
            f.write("x")
        fd, tmp = temporary_file(tmp_path, suffix=".pt")
        os.close(fd)
        folder = temporary_dir(tmp_path)
    assert mode(tmp_path / "plain.txt") == 0o666 & ~mask
    for path in (tmp_path / "a.json", tmp_path / "b.csv", tmp):
        assert mode(path) == 0o666 & ~mask, path.name
    assert mode(folder) == 0o777 & ~mask
    assert (tmp_path / "a.json").read_text() == "{}" and tmp.name.endswith(".pt")


def test_a_rewrite_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "metrics.json"
    write_text_atomic(target, "1")
    write_text_atomic(target, "2")
    assert target.read_text() == "2" and [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_preprocessing_cache_files_get_the_mode_the_umask_gives(tmp_path: Path) -> None:
    """A shared cache (``preprocess.cache_dir``) is readable by the lab, as the umask says."""
    import torch

    from mertk.api import Sample
    from mertk.preprocess.cache import ClipCache

    cache = ClipCache(tmp_path / "cache", {"views": "face"})
    sample = Sample(id="d/s1/c1", subject="d/s1", clip="c1", dataset="d", label=0)
    with umask(0o002):
        cache.save(sample, {"x": torch.zeros(2)})
    assert mode(cache.path(sample)) == 0o664
    assert cache.load(sample)["x"].shape == (2,)
