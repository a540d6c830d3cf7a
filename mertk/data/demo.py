"""The demo dataset: small synthetic micro-expression clips made from real face photos.

Generated locally and deterministically from ``seed`` (nothing is downloaded), once, into a cache
folder (``$MERTK_CACHE`` or ``~/.cache/mertk``, sub-folder ``demo-v3-seed{seed}``; ``root``
chooses another folder), in the CASME II layout, so it goes through the same ``casme2`` reader
as real data::

    demo-v3-seed0/CASME2-RAW/sub01/EP01_01/img1.jpg ... img16.jpg
    demo-v3-seed0/CASME2-coding-demo.xlsx     (the CASME II columns)

Faces: ``skimage.data.astronaut()`` and faces of ``skimage.data.lfw_subset()`` (upscaled from
25 px), kept only when dlib's HOG detector finds them; each is one pseudo-subject (12 in all).
dlib's 68 landmarks place smooth displacement fields (Gaussian bumps, applied with
``cv2.remap``) that follow facial action units at micro-expression amplitudes (1-2 px at
the apex for a 128 px face, scaled to the ~170 px faces here):

* surprise (``surprise``): brow raise (AU1+2) and jaw drop (AU26);
* positive (``happiness``): lip-corner pull (AU12) and cheek raise (AU6);
* negative (``disgust``: brow lowerer AU4 + nose wrinkler AU9 + upper-lip raiser AU10;
  ``repression``: AU4 + lip press AU24).

Each region's strength varies from clip to clip, and about a third of the clips also blink
(AU45). The sheet's ``Action Units`` (so ``Sample.aus``) list the units that moved at least
:data:`mertk.data.demo_faces.VISIBLE_PX` (0.3 px for a 128 px face) at the apex, blink included:
what a coder could see, not the emotion's recipe; ``none`` when nothing moved that much.

Each clip has 10-20 frames with onset, apex and offset and a smooth onset -> apex -> offset
profile, plus head micro-motion, illumination drift and sensor noise. Nine clips per subject,
three per class. The folder is written to a temporary sibling and renamed when complete, so an
interrupted generation never leaves a half demo.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from mertk.api import DatasetLoad
from mertk.data.annotated import load_annotated
from mertk.data.casme2 import CASME2_LAYOUT
from mertk.data.demo_faces import (
    EMOTION_UNITS,
    ClipStyle,
    aus_cell,
    render_clip,
    textured_faces,
    write_frames,
)
from mertk.data.labels import MEGC3
from mertk.files import temporary_dir

__all__ = ["Demo", "ClipStyle", "EMOTION_UNITS", "demo_folder", "ensure_demo", "materialise", "cache_root",
           "generate_demo", "ANNOTATION_NAME",
           "FRAMES_FOLDER"]

VERSION = "v3"  # v2: the sheet's Action Units were the emotion's recipe, not the motion each clip shows
ANNOTATION_NAME = "CASME2-coding-demo.xlsx"
FRAMES_FOLDER = "CASME2-RAW"
SUBJECTS = 12
CLIPS_PER_CLASS = 3

#: The emotions written to the sheet for each class (the casme2 ``megc3`` protocol maps them back).
EMOTIONS = {"negative": ("disgust", "repression"), "positive": ("happiness",), "surprise": ("surprise",)}


Variant = Literal["basic", "composite", "flows"]


class Demo:
    """Demo dataset, generated on first use.

    ``variant: basic``: 12 pseudo-subjects x 9 synthetic clips (3 classes), CASME II layout.
    ``variant: composite``: 68 pseudo-subjects, 442 clips in three sources shaped like the MEGC 2019
    composite (see `mertk.data.demo_composite`), written as a manifest.
    ``variant: flows``: the composite's clips as published-style 28 x 28 8-bit (u, v, strain) flow
    images with landmarks (see `mertk.data.demo_flows`), written as a manifest of flows.
    """

    class_names = MEGC3

    def __init__(self, root: str | None = None, seed: int = 0, variant: Variant = "basic") -> None:
        if variant not in ("basic", "composite", "flows"):
            from mertk.errors import MertkError

            raise MertkError(f"dataset.variant {variant!r}: choose basic, composite or flows")
        self.root, self.seed, self.variant = root, seed, variant

    def load(self) -> DatasetLoad:
        folder = ensure_demo(self.root, self.seed, self.variant)
        if self.variant in ("composite", "flows"):
            from mertk.data.demo_composite import MANIFEST_NAME
            from mertk.data.manifest import Manifest

            return Manifest(str(folder / MANIFEST_NAME), class_names=MEGC3).load()
        return load_annotated(CASME2_LAYOUT, folder / FRAMES_FOLDER, folder / ANNOTATION_NAME,
                              classes="megc3", name="demo")


def demo_folder(root: str | Path | None = None, seed: int = 0, variant: Variant = "basic") -> Path:
    """Where the demo of ``seed`` lives: ``root``, or ``$MERTK_CACHE``/``~/.cache/mertk`` + ``demo-v3-seed{seed}``
    (``demo-composite-v3-seed{seed}`` for the composite variant, ``demo-flows-v2-seed{seed}`` for flows)."""
    if root is not None:
        return Path(root).expanduser()
    cache = cache_root()
    if variant == "composite":
        from mertk.data.demo_composite import VERSION as COMPOSITE_VERSION

        return cache / f"demo-composite-{COMPOSITE_VERSION}-seed{seed}"
    if variant == "flows":
        from mertk.data.demo_flows import VERSION as FLOWS_VERSION

        return cache / f"demo-flows-{FLOWS_VERSION}-seed{seed}"
    return cache / f"demo-{VERSION}-seed{seed}"


def cache_root() -> Path:
    """Where generated demos go: ``$MERTK_CACHE``, else ``~/.cache/mertk``."""
    return Path(os.environ.get("MERTK_CACHE") or Path.home() / ".cache" / "mertk").expanduser()


def ensure_demo(root: str | Path | None = None, seed: int = 0, variant: Variant = "basic") -> Path:
    """Generate the demo (``variant``) unless it is there already; return its folder. Safe to interrupt."""
    folder = demo_folder(root, seed, variant)
    if variant == "composite":
        from mertk.data import demo_composite

        marker, generate = demo_composite.MANIFEST_NAME, demo_composite.generate_composite
    elif variant == "flows":
        from mertk.data import demo_flows

        marker, generate = demo_flows.MANIFEST_NAME, demo_flows.generate_flows
    else:
        marker, generate = ANNOTATION_NAME, generate_demo
    return materialise(folder, marker, lambda work: generate(work, seed))


def materialise(folder: Path, marker: str, generate: Callable[[Path], None]) -> Path:
    """Make ``folder`` with ``generate(work)`` unless ``folder / marker`` exists; return ``folder``.

    ``generate`` writes into an empty temporary sibling that is renamed to ``folder`` when it is
    complete, so an interrupted generation never leaves a half-written data set, and two processes
    generating at once end with one complete copy.
    """
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = temporary_dir(folder.parent, prefix=f".{folder.name}.partial-")  # the umask's mode, not 0700
    try:
        generate(work)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        try:
            work.rename(folder)
        except OSError:  # another process finished first
            if not (folder / marker).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------- writing


def generate_demo(target: Path, seed: int = 0) -> None:
    """Write the demo dataset of ``seed`` into the (empty) folder ``target``."""
    rng = np.random.default_rng(seed)
    faces = textured_faces(rng, SUBJECTS)
    rows = []
    for subject, face in enumerate(faces, start=1):
        emotions = [EMOTIONS[c][i % len(EMOTIONS[c])] for c in MEGC3 for i in range(CLIPS_PER_CLASS)]
        for episode, emotion in enumerate(rng.permutation(emotions), start=1):
            moved: dict[str, float] = {}
            frames, onset, apex, offset = render_clip(face, EMOTION_UNITS[str(emotion)], rng, moved=moved)
            clip = f"EP{episode:02d}_01"
            folder = target / FRAMES_FOLDER / f"sub{subject:02d}" / clip
            folder.mkdir(parents=True)
            write_frames(folder, frames)
            units = aus_cell(moved)
            rows.append((subject, clip, None, onset + 1, apex + 1, offset + 1, None, units, str(emotion)))
    _write_sheet(target / ANNOTATION_NAME, rows)


def _write_sheet(path: Path, rows: list[tuple]) -> None:
    import datetime

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion"])
    for row in rows:
        sheet.append(list(row))
    fixed = datetime.datetime(2024, 1, 1)
    book.properties.created = book.properties.modified = fixed
    book.save(path)
