"""MMEW (Micro-and-Macro Expression Warehouse, micro-expression part; 90 fps, 1920x1080).

Layout: clip folders sit in **emotion** folders, not subject folders; ``root`` is the folder
holding the emotion folders, or its parent holding ``Micro_Expression``::

    Micro_Expression/happiness/<Filename>/<frames>

Annotation: ``MMEW_Micro_Exp.xlsx`` (found in ``root`` or its parent; ``annotation`` names
another file) with ``Subject``, ``Filename`` (clip folder), ``OnsetFrame``, ``ApexFrame``,
``OffsetFrame``, ``Action Units``, ``Estimated Emotion`` (and ``remarks``, ignored). The clip of
a row is ``{emotion folder}/{Filename}``, the emotion folder matched to ``Estimated Emotion``
without case. ``Action Units`` are parsed into ``Sample.aus`` by :mod:`mertk.data.action_units`
and kept as released in ``meta["action_units"]``.

Not confirmed from the release itself: the spelling of the ``Subject`` cells (any text ending in
the subject number works: ``S01``, ``1``), the frame file names (any names with the frame number
as their last digits work) and the emotion spellings, taken from the MMEW paper (happiness,
surprise, anger, disgust, fear, sadness, others); a row with another emotion is counted as
excluded, never given a wrong label.

Samples: dataset ``mmew``, subject ``mmew/S01`` (``S`` + two-digit number), id
``mmew/S01/{Filename}``. Class protocols (``classes``): ``megc3`` (happiness -> positive;
surprise; anger, disgust, fear, sadness -> negative; others left out) and ``7class``.
"""

from __future__ import annotations

from typing import Literal

from mertk.data.annotated import AnnotatedDataset, SheetLayout
from mertk.data.clips import MissingApex

__all__ = ["Mmew", "MMEW_LAYOUT"]

MMEW_LAYOUT = SheetLayout(
    dataset="mmew", title="MMEW", subject_prefix="S", subject_name="S{:02d}".format,
    layout_folders=("Micro_Expression", "MMEW/Micro_Expression"),
    annotation_patterns=("MMEW_Micro_Exp*.xlsx", "MMEW*.xlsx", "MMEW*.csv"),
    onset="onsetframe", apex="apexframe", offset="offsetframe", emotion="estimatedemotion",
    meta_columns=(("action_units", "actionunits"),), aus="actionunits", clips_by_emotion=True,
)


class Mmew(AnnotatedDataset):
    """MMEW: {emotion}/{clip} folders annotated in MMEW_Micro_Exp.xlsx."""

    layout = MMEW_LAYOUT

    def __init__(self, root: str, annotation: str | None = None, classes: Literal["megc3", "7class"] = "megc3",
                 missing_apex: MissingApex = "spot") -> None:
        super().__init__(root, annotation, classes, missing_apex)
