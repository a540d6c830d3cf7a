"""The shared reader of datasets that come as subject/clip folders plus an annotation sheet.

CASME, CASME II, SAMM, CAS(ME)^3 and MMEW differ only in folder names, sheet columns and class
protocols, described by a :class:`SheetLayout` (MMEW keeps its clip folders in emotion folders
rather than subject folders); :func:`load_annotated` does the rest: find the layout root
and the sheet, map emotions to labels (rows outside the class protocol are counted, not
reported), make subject keys and ids unique, and build each sample with
:func:`mertk.data.clips.clip_sample`, which reports per-row problems.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mertk.api import DatasetLoad, Problem, Sample
from mertk.data.action_units import sample_aus
from mertk.data.clips import AnnotatedClip, MissingApex, clip_sample, count_excluded, unique_key
from mertk.data.frames import last_number
from mertk.data.labels import class_protocol
from mertk.data.layout import numbered_folders, resolve_root
from mertk.data.sheets import SheetRow, find_annotation, read_sheet
from mertk.errors import MertkError

__all__ = ["SheetLayout", "AnnotatedDataset", "load_annotated"]


@dataclass(frozen=True)
class SheetLayout:
    """How one dataset lays out its folders and sheet (column names are normalised, see sheets)."""

    dataset: str
    title: str
    subject_prefix: str
    subject_name: Callable[[int], str]
    layout_folders: tuple[str, ...]
    annotation_patterns: tuple[str, ...]
    onset: str
    apex: str
    offset: str
    emotion: str
    frames_subfolder: str = ""
    meta_columns: tuple[tuple[str, str], ...] = ()
    #: The column of the AU codes (normalised name), parsed into ``Sample.aus`` by
    #: :func:`mertk.data.action_units.sample_aus`; ``""``: the sheet has none (``aus=None``).
    aus: str = ""
    aus_title: str = "Action Units"  # the AU column as the sheet spells it, for messages
    #: ``True``: clip folders sit in emotion folders named as the sheet's emotion (MMEW's
    #: ``Micro_Expression/happiness/{clip}``), not in subject folders.
    clips_by_emotion: bool = False
    #: Returns why a row is left out on purpose (``None``: keep it), e.g. not a micro-expression.
    keep: Callable[[SheetRow], str | None] = lambda row: None
    warn_repeated_clips: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return ("subject", "filename", self.onset, self.apex, self.offset, self.emotion)


class AnnotatedDataset:
    """Base of the sheet-annotated adapters; subclasses set ``layout`` and type ``classes``."""

    layout: SheetLayout

    def __init__(self, root: str, annotation: str | None = None, classes: str = "megc3",
                 missing_apex: MissingApex = "spot") -> None:
        self.root, self.annotation, self.classes, self.missing_apex = root, annotation, classes, missing_apex

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_protocol(self.layout.dataset, self.classes).names

    def load(self) -> DatasetLoad:
        return load_annotated(self.layout, self.root, self.annotation, classes=self.classes,
                              missing_apex=self.missing_apex)


def load_annotated(layout: SheetLayout, root: str | Path, annotation: str | Path | None = None, *,
                   classes: str = "megc3", missing_apex: MissingApex = "spot", name: str | None = None) -> DatasetLoad:
    """Read one sheet-annotated dataset.

    Args:
        layout: The dataset's folder and sheet description.
        root: The folder holding the subject folders, or its parent.
        annotation: The sheet; default: found by ``layout.annotation_patterns`` near ``root``.
        classes: Class protocol name (see :mod:`mertk.data.labels`).
        missing_apex: ``spot`` or ``midpoint`` for rows without an apex.
        name: Dataset name and subject prefix of the samples (default ``layout.dataset``).

    Raises:
        MertkError: the root or the sheet cannot be found or read (per-row defects are returned
            as problems instead).
    """
    name = name or layout.dataset
    folder = _emotion_root(root, layout) if layout.clips_by_emotion else resolve_root(
        root, layout.subject_prefix, layout.layout_folders, layout.title)
    sheet = Path(annotation).expanduser() if annotation else (
        find_annotation(folder, layout.annotation_patterns)
        or find_annotation(Path(root).expanduser(), layout.annotation_patterns))
    if sheet is None:
        raise MertkError(f"{root}: no {layout.annotation_patterns[0]} found here or in the parent folder. "
                         f"Fix: set dataset.annotation to the {layout.title} annotation sheet")
    protocol = class_protocol(layout.dataset, classes)
    subjects = {} if layout.clips_by_emotion else numbered_folders(folder, layout.subject_prefix)
    emotions = {f.name.lower(): f for f in sorted(folder.iterdir()) if f.is_dir()} if layout.clips_by_emotion else {}
    samples: list[Sample] = []
    problems: list[Problem] = []
    excluded: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    for row in read_sheet(sheet, layout.columns):
        reason = layout.keep(row)
        emotion = row.text(layout.emotion).lower()
        label = protocol.label(emotion)
        if reason is None and label is None:
            reason = f"emotion {emotion!r} is outside class protocol {classes}"
        if reason is not None:
            count_excluded(excluded, reason)
            continue
        number, clip = last_number(row.text("subject")), row.text("filename")
        if number is None or not clip:
            problems.append(Problem(str(sheet), f"unreadable Subject {row.text('subject')!r} or Filename {clip!r}",
                                    "correct the row", row=row.row))
            continue
        subject = f"{name}/{layout.subject_name(number)}"
        key = unique_key(clip, seen, subject)
        if key != clip and layout.warn_repeated_clips:
            problems.append(Problem(str(sheet), f"clip {clip!r} of {subject} is annotated more than once; this "
                                    f"row becomes sample {subject}/{key}", "none needed", row=row.row,
                                    sample=f"{subject}/{key}", fatal=False))
        if layout.clips_by_emotion:
            clip_folder = emotions.get(emotion, folder / row.text(layout.emotion)) / clip
        else:
            clip_folder = subjects.get(number, folder / layout.subject_name(number)) / clip
        if layout.frames_subfolder and (clip_folder / layout.frames_subfolder).is_dir():
            clip_folder = clip_folder / layout.frames_subfolder
        aus = sample_aus(row.text(layout.aus), problems, file=str(sheet), row=row.row, sample=f"{subject}/{key}",
                         column=layout.aus_title) if layout.aus else None
        annotated = AnnotatedClip(
            dataset=name, subject=subject, clip=clip, key=key, label=label, emotion=emotion, folder=clip_folder,
            onset=row.cells.get(layout.onset), apex=row.cells.get(layout.apex),
            offset=row.cells.get(layout.offset), file=str(sheet), row=row.row,
            meta={field: row.text(column) for field, column in layout.meta_columns}, aus=aus,
        )
        sample = clip_sample(annotated, problems, missing_apex=missing_apex)
        if sample is not None:
            samples.append(sample)
    return DatasetLoad(samples, problems, protocol.names, excluded)


def _emotion_root(root: str | Path, layout: SheetLayout) -> Path:
    """The folder holding the emotion folders: the first of ``layout.layout_folders`` inside
    ``root``, else ``root`` itself.

    Raises:
        MertkError: ``root`` is not a folder.
    """
    path = Path(root).expanduser()
    if not path.is_dir():
        raise MertkError(f"{path}: {layout.title} root folder not found. Fix: set dataset.root to the folder holding "
                         f"the emotion folders (or its parent: {', '.join(layout.layout_folders)})")
    return next((path / c for c in layout.layout_folders if (path / c).is_dir()), path)
