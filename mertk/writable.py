"""Check that an output location can be written, before any work starts.

Every command that writes results (``mertk run`` and ``bench`` their run folders, ``preprocess``
its cache and previews, ``predict -o`` its file, ``explain -o`` its images) calls
:func:`check_writable_dir` or :func:`check_writable_file` first, so that a read-only disk, a
folder without write permission, or a file standing where a folder is needed (``output.dir:
notes.txt/runs``) is one message naming the path and the fix, not a traceback after hours of
work. Nothing is created: the nearest existing folder on the way is probed with a temporary
file, which is removed at once.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from mertk.errors import MertkError

__all__ = ["check_writable_dir", "check_writable_file", "write_obstacle"]


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its closest ancestor that exists (a file or a folder)."""
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(folder.anchor or ".")


def write_obstacle(folder: str | Path) -> str | None:
    """Why ``folder`` (existing or to be created) cannot hold new files, or ``None`` when it can."""
    folder = Path(folder).absolute()
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".mertk-write-check-", dir=existing)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return f"{existing} is on a read-only file system"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"no permission to write in {existing}"
        return f"cannot create a file in {existing} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


def check_writable_dir(folder: str | Path, *, what: str, fix: str) -> None:
    """Refuse, naming ``folder``, ``what`` it is for and ``fix``, when files cannot be written in it.

    Args:
        folder: A folder to write into; it may not exist yet (it is not created).
        what: What goes there, for the message (``"the run folder"``).
        fix: How the user chooses another place (``"set output.dir to ..."``).

    Raises:
        MertkError: ``"{folder}: cannot write {what}: {reason}. Fix: {fix}"``.
    """
    reason = write_obstacle(folder)
    if reason is not None:
        raise MertkError(f"{folder}: cannot write {what}: {reason}. Fix: {fix}")


def check_writable_file(path: str | Path, *, what: str, fix: str) -> None:
    """As :func:`check_writable_dir`, for a file to be written (or replaced) at ``path``."""
    path = Path(path)
    reason = f"{path} is a folder" if path.is_dir() else write_obstacle(path.parent)
    if reason is not None:
        raise MertkError(f"{path}: cannot write {what}: {reason}. Fix: {fix}")
