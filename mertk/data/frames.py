"""Frame files of a clip: list them in temporal order and turn annotated frame names into numbers.

Released datasets name frames ``img46.jpg``, ``reg_img46.jpg``, ``006_05562.jpg`` (zero padding
varies between clips), ``image559740.bmp`` or ``46.jpg``. mertk never formats a frame name: it
parses the last run of digits of each file name and sorts by that number, so padding and prefixes
do not matter and gaps in the numbering are allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_SUFFIXES", "last_number", "frame_number", "list_frames", "parse_frame_ref"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def last_number(text: str) -> int | None:
    """The last run of digits in ``text`` (``"spNO.12"`` -> 12, ``"sub01"`` -> 1), or ``None``."""
    match = _LAST_DIGITS.search(text)
    return int(match.group(1)) if match else None


def frame_number(name: str | Path) -> int | None:
    """The frame number in a file name or annotation value (its last run of digits).

    >>> frame_number("006_05562.jpg"), frame_number("reg_img46.jpg"), frame_number("img")
    (5562, 46, None)
    """
    return last_number(Path(str(name)).stem)


def parse_frame_ref(value: Any) -> int | None:
    """An annotation cell (``46``, ``46.0``, ``"img46"``; ``"/"``, ``-1``, blank: ``None``) as a frame number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else -1
    if isinstance(value, int):
        return value if value >= 0 else None  # SAMM writes -1 for "no apex"
    text = str(value).strip()
    return None if text.startswith("-") else frame_number(text)


def list_frames(folder: Path) -> tuple[Path, ...]:
    """Image files of ``folder`` whose names carry a frame number, sorted by that number."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    numbered = [(n, p.name, p) for p in files if (n := frame_number(p.name)) is not None]
    return tuple(p for _, _, p in sorted(numbered))
