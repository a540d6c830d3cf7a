"""SAMM (Spontaneous Actions and Micro-Movements, 200 fps, 2040x1088 grey).

Layout: ``root`` holds the three-digit subject folders (or is their parent)::

    SAMM/006/006_1_2/006_05562.jpg

Frame numbers are zero-padded to 5 digits in some clips and 4 in others; mertk parses them.

Annotation: ``SAMM_Micro_FACS_Codes_v2.xlsx`` (found in ``root`` or its parent; ``annotation``
names another file): 13 preamble rows, then the header ``Subject``, ``Filename``, ``Inducement
Code``, ``Onset Frame``, ``Apex Frame``, ``Offset Frame``, ``Duration``, ``Type``, ``Action
Units``, ``Estimated Emotion``, ``Objective Classes``, ``Notes`` (the header row is found by its
columns). An apex of ``-1`` or blank counts as missing. ``Action Units`` (``R12+R15``, ``R14A``:
side and intensity letters) are parsed into ``Sample.aus`` by :mod:`mertk.data.action_units` and
kept as released in ``meta["action_units"]``.

Samples: dataset ``samm``, subject ``samm/006``, id ``samm/006/006_1_2``.
Class protocols (``classes``): ``megc3`` (anger, contempt, disgust, fear, sadness -> negative;
happiness -> positive; surprise) and ``5class`` (anger, contempt, happiness, surprise, other).
"""

from __future__ import annotations

from typing import Literal

from mertk.data.annotated import AnnotatedDataset, SheetLayout
from mertk.data.clips import MissingApex

__all__ = ["Samm", "SAMM_LAYOUT"]

SAMM_LAYOUT = SheetLayout(
    dataset="samm", title="SAMM", subject_prefix="", subject_name="{:03d}".format, layout_folders=("SAMM",),
    annotation_patterns=("SAMM_Micro_FACS_Codes*.xlsx", "SAMM*.xlsx", "SAMM*.csv"),
    onset="onsetframe", apex="apexframe", offset="offsetframe", emotion="estimatedemotion",
    meta_columns=(("action_units", "actionunits"), ("objective_class", "objectiveclasses")), aus="actionunits",
)


class Samm(AnnotatedDataset):
    """SAMM: NNN/NNN_x_y clip folders annotated in SAMM_Micro_FACS_Codes_v2.xlsx."""

    layout = SAMM_LAYOUT

    def __init__(self, root: str, annotation: str | None = None, classes: Literal["megc3", "5class"] = "megc3",
                 missing_apex: MissingApex = "spot") -> None:
        super().__init__(root, annotation, classes, missing_apex)
