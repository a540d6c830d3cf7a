"""Builders of small fake dataset trees in the real on-disk layouts."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

_JPEG = cv2.imencode(".jpg", np.full((4, 4), 128, np.uint8))[1].tobytes()


def write_frames(folder: Path, names: Iterable[str]) -> None:
    """Tiny valid JPEG files named ``names`` (with their extension) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(_JPEG)


def write_xlsx(path: Path, header: Sequence, rows: Iterable[Sequence], preamble: int = 0) -> Path:
    """An .xlsx sheet: ``preamble`` text rows, then the header and the rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    for i in range(preamble):
        sheet.append([f"preamble line {i + 1}"] if i % 3 == 0 else [])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


CASME2_HEADER = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                 "Estimated Emotion")
SAMM_HEADER = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Type", "Action Units", "Estimated Emotion", "Objective Classes", "Notes")
CASME_HEADER = ("Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None, "AU", "Emotion")
MMEW_HEADER = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion",
               "remarks")
CASME3_HEADER = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion",
                 "Expression type")


def casme2_tree(root: Path, clips: Sequence[tuple[int, str, int, object, int, str]],
                frames: Callable[[int, object, int], Iterable[int]] | None = None) -> Path:
    """``CASME2_RAW_selected/subNN/clip/imgN.jpg`` + coding sheet; clips: (subject, clip, on, apex, off, emotion)."""
    base = root / "CASME2_RAW_selected"
    for subject, clip, on, apex, off, _ in clips:
        numbers = frames(on, apex, off) if frames else range(on, off + 1)
        write_frames(base / f"sub{subject:02d}" / clip, (f"img{n}.jpg" for n in numbers))
    return write_xlsx(root / "CASME2-coding-20140508.xlsx", CASME2_HEADER,
                      [(s, c, None, on, ap, off, None, "AU4", e) for s, c, on, ap, off, e in clips])


@pytest.fixture
def fake():
    """This module: the tree builders (test modules cannot import conftest under importlib mode)."""
    return sys.modules[__name__]


def read_megc_list() -> list[dict[str, str]]:
    from mertk.data.composite import megc2019_list

    with megc2019_list().open(newline="") as handle:
        return list(csv.DictReader(handle))


def megc_fake_trees(root: Path) -> dict[str, str]:
    """CASME II / SAMM / SMIC-HS trees holding every clip of the 442-clip list (onset, apex, one more)."""
    for row in read_megc_list():
        dataset, subject, clip = row["dataset"], row["subject"], row["clip"]
        names = [row["onset_frame"], row["apex_frame"]]
        if dataset == "casme2":
            folder = root / "casme2" / "CASME2_RAW_selected" / subject / clip
        elif dataset == "samm":
            folder = root / "samm" / "SAMM" / subject / clip
        else:  # the release names s1/s1_ne_01 where MEGC says s01/s01_ne_01
            short = f"s{int(subject[1:])}"
            folder = root / "smic" / "HS" / short / "micro" / row["emotion"] / clip.replace(subject, short, 1)
        ext = ".bmp" if dataset == "smic" else ".jpg"
        write_frames(folder, [f"{n}{ext}" for n in names] + [f"{names[1][:-1]}{int(names[1][-1]) ^ 1}{ext}"])
    return {"casme2_root": str(root / "casme2"), "samm_root": str(root / "samm"), "smic_root": str(root / "smic")}
