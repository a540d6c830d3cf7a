"""Writing result files so that an interruption never leaves half a file behind.

Temporary files and folders are made here, not with :mod:`tempfile`: ``mkstemp`` and
``mkdtemp`` create them ``0600`` and ``0700`` whatever the umask, and a rename keeps that mode,
so results in a shared folder would be unreadable to the rest of a lab. These helpers create
them as ``open()`` and ``mkdir()`` would (``0666`` and ``0777`` less the umask).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_text_atomic", "write_csv_atomic", "temporary_file", "temporary_dir"]

_ATTEMPTS = 100


def _unique(directory: Path, prefix: str, suffix: str, create: Any) -> Path:
    """Call ``create(path)`` on a new random name in ``directory`` until one did not exist yet."""
    for _ in range(_ATTEMPTS):
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            create(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{directory}: no free temporary name after {_ATTEMPTS} tries")


def temporary_file(directory: Path, prefix: str = ".tmp-", suffix: str = "") -> tuple[int, Path]:
    """A new empty file in ``directory``, open for writing: ``(file descriptor, path)``.

    Like :func:`tempfile.mkstemp`, but with the permissions the umask gives (as ``open()``).
    """
    fds: list[int] = []
    path = _unique(Path(directory), prefix, suffix,
                   lambda p: fds.append(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))
    return fds[0], path


def temporary_dir(directory: Path, prefix: str = ".tmp-") -> Path:
    """A new empty folder in ``directory``; like :func:`tempfile.mkdtemp`, but with the
    permissions the umask gives (as ``mkdir``)."""
    return _unique(Path(directory), prefix, "", lambda p: os.mkdir(p, 0o777))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling that replaces it when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV file (``header`` then ``rows``) with :func:`write_text_atomic`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, out.getvalue())
