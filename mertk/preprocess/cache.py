"""On-disk cache of preprocessed clips: one file per clip, written atomically.

Layout: ``{cache_dir}/{settings digest}/{sample id}-{source digest}.pt``. The settings digest
hashes the normalised specs of every stage that changes a clip's cached content (face and
landmark detectors, detection frame, alignment, apex spotter, flow); encoding and views are computed
from the cached flow on every run, so changing them costs no recomputation. The source digest
hashes the sample's onset/apex (and offset, when the clip is cached) and its source files'
paths, sizes and modification times, so an edited frame or annotation recomputes that clip
only. Each file is written to a temporary name and renamed, so an interrupted run leaves
finished clips intact and no half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mertk.api import Sample
from mertk.files import temporary_file
from mertk.preprocess.frames import source_files

__all__ = ["CACHE_VERSION", "default_cache_dir", "digest", "ClipCache"]

#: Bumped when the cached content changes meaning.
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$MERTK_CACHE``, else ``~/.cache/mertk``."""
    return Path(os.environ.get("MERTK_CACHE") or Path.home() / ".cache" / "mertk")


def digest(value: Any) -> str:
    """16 hex digits of the SHA-256 of ``value`` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ClipCache:
    """Per-clip cache files for one preprocessing configuration.

    Args:
        root: Cache folder (``None``: :func:`default_cache_dir`).
        settings: What determines a clip's content (normalised specs); hashed into the folder name.
        enabled: When ``False`` nothing is read or written.
    """

    def __init__(self, root: str | Path | None, settings: Mapping[str, Any], enabled: bool = True) -> None:
        self.folder = Path(root or default_cache_dir()) / digest({"version": CACHE_VERSION, **settings})
        self.with_clip = "clip" in settings  # the cached clip runs from onset to offset
        self.enabled = enabled

    def path(self, sample: Sample) -> Path:
        """The cache file of ``sample``."""
        files = []
        for f in source_files(sample):
            try:
                st = f.stat()
                files.append((str(f), st.st_size, st.st_mtime_ns))
            except OSError:
                files.append((str(f), None, None))
        fields = {"id": sample.id, "onset": sample.onset, "apex": sample.apex, "files": files}
        if self.with_clip:
            fields["offset"] = sample.offset
        key = digest(fields)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", sample.id)[:80]
        return self.folder / f"{name}-{key}.pt"

    def load(self, sample: Sample) -> dict[str, Any] | None:
        """The cached entry of ``sample``, or ``None`` (missing, disabled or unreadable)."""
        if not self.enabled:
            return None
        path = self.path(sample)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a damaged file (e.g. disk full) is recomputed, not fatal
            return None

    def save(self, sample: Sample, entry: Mapping[str, Any]) -> None:
        """Write ``entry`` atomically (temporary file + rename)."""
        if not self.enabled:
            return
        path = self.path(sample)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temporary_file(path.parent, prefix=".tmp-", suffix=".pt")  # readable as the umask says
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(dict(entry), fh)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
