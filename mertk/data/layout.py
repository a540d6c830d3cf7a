"""Find a dataset's folders: the layout root and subject folders matched by number."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mertk.errors import MertkError

__all__ = ["resolve_root", "numbered_folders"]


def numbered_folders(folder: Path, prefix: str) -> dict[int, Path]:
    """Sub-folders named ``{prefix}{digits}`` by number (``sub01``, ``sub1`` -> 1); case-insensitive."""
    pattern = re.compile(re.escape(prefix) + r"0*(\d+)$", re.IGNORECASE)
    if not folder.is_dir():
        return {}
    found = {}
    for child in sorted(folder.iterdir()):
        match = pattern.match(child.name)
        if match and child.is_dir():
            found.setdefault(int(match.group(1)), child)
    return found


def resolve_root(root: str | Path, prefix: str, children: Sequence[str], dataset: str) -> Path:
    """The folder holding the subject folders: ``root`` itself or one of its known ``children``.

    Raises:
        MertkError: neither ``root`` nor a known child holds ``{prefix}NN`` folders.
    """
    path = Path(root).expanduser()
    if not path.is_dir():
        raise MertkError(f"{path}: {dataset} root folder not found. Fix: set dataset.root to the folder "
                         f"holding the {prefix}NN folders (or its parent: {', '.join(children)})")
    for candidate in (path, *(path / c for c in children)):
        if numbered_folders(candidate, prefix):
            return candidate
    raise MertkError(f"{path}: no {prefix}NN subject folders here nor in {', '.join(children)}. Fix: set "
                     f"dataset.root to the {dataset} folder that holds them")
