"""MEGC 2019 composite dataset (MEGC2019-CD): 442 clips of CASME II, SAMM and SMIC-HS.

The clips come from an explicit list shipped with mertk (``mertk/data/megc2019_cd.csv``:
dataset, subject, clip, label 0 negative / 1 positive / 2 surprise, emotion, onset and apex frame
names), not from emotion filters, which add or drop clips. Counts: 68 subjects; CASME II 24
subjects (88/32/25 negative/positive/surprise), SAMM 28 (92/26/15), SMIC-HS 16 (70/51/43);
250/109/83 in total.

Arguments are the three dataset roots, in the layouts of the ``casme2``, ``samm`` and ``smic``
adapters (no annotation sheet is needed: onset and apex come from the list; offsets are left
unknown). Samples keep their source dataset (``casme2``, ``samm``, ``smic``) and subject keys
(``casme2/sub01``, ``samm/006``, ``smic/s01``), so ``loso`` gives the 68 MEGC folds and metrics
can be sliced per source dataset.

Action units (``Sample.aus``): the list has none, so they come from the CASME II and SAMM
coding sheets when one is found beside their roots (the adapters' file names, e.g.
``CASME2-coding-20140508.xlsx`` and ``SAMM_Micro_FACS_Codes_v2.xlsx``, in the root or its parent),
matched by subject and clip and parsed by :mod:`mertk.data.action_units`. Without the sheet, and
always for SMIC (which released no AU coding), ``aus`` is ``None``: the action-unit task skips
those clips and says so; the emotion task needs no sheet.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mertk.api import DatasetLoad, Problem, Sample
from mertk.data.action_units import sample_aus
from mertk.data.annotated import SheetLayout
from mertk.data.casme2 import CASME2_LAYOUT
from mertk.data.clips import AnnotatedClip, clip_sample
from mertk.data.frames import last_number
from mertk.data.labels import MEGC3
from mertk.data.layout import numbered_folders, resolve_root
from mertk.data.samm import SAMM_LAYOUT
from mertk.data.sheets import find_annotation, read_sheet
from mertk.data.smic import smic_clip_folders, smic_clip_name, smic_root
from mertk.errors import MertkError

__all__ = ["Megc2019Composite", "megc2019_list"]

LIST_COLUMNS = ("dataset", "subject", "clip", "label", "emotion", "onsetframe", "apexframe")


def megc2019_list() -> Path:
    """Path of the packaged 442-clip list."""
    return Path(str(resources.files("mertk.data") / "megc2019_cd.csv"))


class Megc2019Composite:
    """MEGC 2019 composite (CASME II + SAMM + SMIC-HS, 442 clips, 3 classes) from the official list."""

    class_names = MEGC3

    def __init__(self, casme2_root: str, samm_root: str, smic_root: str) -> None:
        self.casme2_root, self.samm_root, self.smic_root = casme2_root, samm_root, smic_root

    def _clip_folders(self) -> dict[str, "_Finder"]:
        casme2 = resolve_root(self.casme2_root, "sub", CASME2_LAYOUT.layout_folders, "CASME II")
        samm = resolve_root(self.samm_root, "", SAMM_LAYOUT.layout_folders, "SAMM")
        smic = smic_root(self.smic_root, "HS")
        return {"casme2": _Finder(casme2, "sub"), "samm": _Finder(samm, ""), "smic": _Finder(smic, "s", smic=True)}

    def load(self) -> DatasetLoad:
        finders = self._clip_folders()
        listing = megc2019_list()
        samples: list[Sample] = []
        problems: list[Problem] = []
        coded = {"casme2": _coded_aus(CASME2_LAYOUT, finders["casme2"].root, problems),
                 "samm": _coded_aus(SAMM_LAYOUT, finders["samm"].root, problems)}
        for row in read_sheet(listing, LIST_COLUMNS):
            dataset, subject, clip = row.text("dataset"), row.text("subject"), row.text("clip")
            cell = coded.get(dataset, {}).get((subject, clip))
            aus = None if cell is None else sample_aus(
                cell[0], problems, file=cell[1], row=cell[2], sample=f"{dataset}/{subject}/{clip}")
            annotated = AnnotatedClip(
                dataset=dataset, subject=f"{dataset}/{subject}", clip=clip, label=int(row.text("label")),
                emotion=row.text("emotion"), folder=finders[dataset].folder(subject, clip),
                onset=row.text("onsetframe"), apex=row.text("apexframe"), offset=None,
                file=str(listing), row=row.row, aus=aus,
            )
            sample = clip_sample(annotated, problems)
            if sample is not None:
                samples.append(sample)
        return DatasetLoad(samples, problems, self.class_names)


def _coded_aus(layout: SheetLayout, root: Path, problems: list[Problem]) -> dict[tuple[str, str], tuple[str, str, int]]:
    """``(subject folder, clip) -> (AU cell, sheet, row)`` from the dataset's coding sheet near
    ``root``; empty when there is no sheet, or (with a warning: the emotion labels do not need
    it) when the sheet found cannot be read."""
    sheet = find_annotation(root, layout.annotation_patterns)
    if sheet is None:
        return {}
    try:
        rows = read_sheet(sheet, layout.columns)
    except MertkError as exc:
        problems.append(Problem(str(sheet), f"the {layout.title} action units cannot be read from this sheet ({exc}); "
                                f"the {layout.title} clips have no AU labels", "put the original coding sheet beside "
                                "the dataset root, or ignore this if you do not use the action-unit task",
                                fatal=False))
        return {}
    cells = {}
    for row in rows:
        number = last_number(row.text("subject"))
        if number is not None:
            cells[(layout.subject_name(number), row.text("filename"))] = (row.text(layout.aus), str(sheet), row.row)
    return cells


class _Finder:
    """Clip folders of one source dataset, by (subject, clip) as the list names them."""

    def __init__(self, root: Path, prefix: str, *, smic: bool = False) -> None:
        self.root, self.smic = root, smic
        self.subjects = numbered_folders(root, prefix)
        self._smic_clips: dict[int, dict[str, Path]] = {}

    def folder(self, subject: str, clip: str) -> Path:
        number = last_number(subject)
        base = self.subjects.get(number) if number is not None else None
        if base is None:
            return self.root / subject / clip  # absent: reported by clip_sample
        if not self.smic:
            return base / clip
        if number not in self._smic_clips:
            self._smic_clips[number] = {smic_clip_name(p.name): p for _, p in smic_clip_folders(base)}
        return self._smic_clips[number].get(clip, base / "micro" / clip)
