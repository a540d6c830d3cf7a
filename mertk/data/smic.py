"""SMIC (Spontaneous Micro-expression Corpus), non-E release: HS (100 fps), VIS and NIR (25 fps).

Layout: ``root`` is the folder holding ``HS``/``VIS``/``NIR`` (also inside ``SMIC_all_raw`` or
``SMIC_all_cropped``), or the modality folder itself::

    HS/s1/micro/negative/s1_ne_01/image559740.bmp

There is no annotation sheet: the label is the class folder (``negative``, ``positive``,
``surprise``), onset and offset are the first and last frame, and there is **no apex**: it is
left to the spotter (``missing_apex: spot``, ``Sample.apex is None``) or set to the middle frame
(``midpoint``); one warning says so for the whole dataset. Some frame numbers are missing inside
clips: positions follow the frames present and each gap is reported as a warning.

SMIC released no action-unit coding: every sample has ``aus=None``, and the action-unit task
skips SMIC clips, saying why.

Samples follow the MEGC naming: dataset ``smic`` (``smic-vis``, ``smic-nir``), subject
``smic/s01``, id ``smic/s01/s01_ne_01`` (the release's ``s1`` becomes ``s01``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

from mertk.api import DatasetLoad, Problem, Sample
from mertk.data.clips import AnnotatedClip, MissingApex, clip_sample, count_excluded
from mertk.data.frames import frame_number
from mertk.data.labels import class_protocol
from mertk.data.layout import numbered_folders, resolve_root

__all__ = ["Smic", "smic_root", "smic_clip_name", "smic_clip_folders"]

Modality = Literal["HS", "VIS", "NIR"]


def smic_clip_name(name: str) -> str:
    """MEGC naming of a clip folder: ``s1_ne_01`` -> ``s01_ne_01``."""
    return re.sub(r"^s0*(\d+)_", lambda m: f"s{int(m.group(1)):02d}_", name, flags=re.IGNORECASE)


def smic_root(root: str | Path, modality: str = "HS") -> Path:
    """The folder holding the ``sN`` subject folders of one modality."""
    children = tuple(f"{top}{modality}" for top in ("", "SMIC_all_raw/", "SMIC_all_cropped/", "SMIC/"))
    return resolve_root(root, "s", children, f"SMIC {modality}")


def smic_clip_folders(subject_folder: Path) -> list[tuple[str, Path]]:
    """``(class folder name, clip folder)`` of one subject's ``micro`` clips, sorted."""
    micro = subject_folder / "micro"
    if not micro.is_dir():
        return []
    return [(cls.name, clip) for cls in sorted(micro.iterdir()) if cls.is_dir()
            for clip in sorted(cls.iterdir()) if clip.is_dir()]


class Smic:
    """SMIC (HS, VIS or NIR): clips in sN/micro/{class}/ folders, labelled by folder."""

    def __init__(self, root: str, modality: Modality = "HS", classes: Literal["megc3"] = "megc3",
                 missing_apex: MissingApex = "spot") -> None:
        self.root, self.modality, self.classes, self.missing_apex = root, modality, classes, missing_apex

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_protocol("smic", self.classes).names

    def load(self) -> DatasetLoad:
        folder = smic_root(self.root, self.modality)
        name = "smic" if self.modality == "HS" else f"smic-{self.modality.lower()}"
        protocol = class_protocol("smic", self.classes)
        samples: list[Sample] = []
        problems: list[Problem] = []
        excluded: dict[str, int] = {}
        for number, subject_folder in numbered_folders(folder, "s").items():
            subject = f"{name}/s{number:02d}"
            clips = smic_clip_folders(subject_folder)
            if not clips:
                problems.append(Problem(str(subject_folder / "micro"), "no micro-expression clips for this subject",
                                        "restore the subject's micro/ folder", fatal=False))
            for class_folder, clip_folder in clips:
                label = protocol.label(class_folder)
                if label is None:
                    count_excluded(excluded, f"class folder {class_folder!r} is outside class protocol {self.classes}")
                    continue
                clip = smic_clip_name(clip_folder.name)
                annotated = AnnotatedClip(
                    dataset=name, subject=subject, clip=clip, label=label, emotion=class_folder.lower(),
                    folder=clip_folder, onset=None, apex=None, offset=None, file=str(clip_folder), row=None,
                )
                sample = clip_sample(annotated, problems, missing_apex=self.missing_apex, apex_annotated=False)
                if sample is not None:
                    last = len(sample.frames) - 1  # the release keeps onset..offset frames only
                    meta = {**sample.meta, "offset_frame": frame_number(sample.frames[last])}
                    samples.append(replace(sample, offset=last, meta=meta))
        if samples:
            how = "left to the spotter" if self.missing_apex == "spot" else "set to the middle frame"
            problems.append(Problem(str(folder), f"SMIC has no apex annotation: the apex of {len(samples)} "
                                    f"clips is {how}", "none needed", fatal=False))
        return DatasetLoad(samples, problems, protocol.names, excluded)
