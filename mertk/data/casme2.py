"""CASME II (Chinese Academy of Sciences Micro-expression database II, 200 fps, 640x480).

Layout: ``root`` is the folder holding the ``subNN`` folders, or its parent holding one of the
released trees::

    CASME2_RAW_selected/sub01/EP02_01f/img46.jpg     onset..offset frames
    CASME2-RAW/sub01/EP02_01f/img1.jpg               whole clips
    Cropped/sub01/EP02_01f/reg_img46.jpg             official face crops

Annotation: ``CASME2-coding-20140508.xlsx`` (any ``CASME2-coding-*.xlsx`` or ``.csv`` in ``root``
or its parent is found; ``annotation`` names another file). Columns ``Subject`` (number; folder
``subNN``), ``Filename`` (clip folder), ``OnsetFrame``, ``ApexFrame``, ``OffsetFrame`` (frame
numbers; some releases write ``/`` for a missing apex), ``Action Units``, ``Estimated Emotion``.
Action units (``4+7``, ``R12``, ``L2``, ``AU4``) are parsed into ``Sample.aus`` by
:mod:`mertk.data.action_units` and kept as released in ``meta["action_units"]``.

Samples: dataset ``casme2``, subject ``casme2/sub01``, id ``casme2/sub01/EP02_01f``.
Class protocols (``classes``): ``megc3`` (happiness -> positive, surprise, disgust and
repression -> negative) and ``5class`` (disgust, happiness, repression, surprise, others);
rows with other emotions are counted as excluded.
"""

from __future__ import annotations

from typing import Literal

from mertk.data.annotated import AnnotatedDataset, SheetLayout
from mertk.data.clips import MissingApex

__all__ = ["Casme2", "CASME2_LAYOUT"]

CASME2_LAYOUT = SheetLayout(
    dataset="casme2", title="CASME II", subject_prefix="sub", subject_name="sub{:02d}".format,
    layout_folders=("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped"),
    annotation_patterns=("CASME2-coding-*.xlsx", "CASME2-coding*.csv", "CASME2*.xlsx"),
    onset="onsetframe", apex="apexframe", offset="offsetframe", emotion="estimatedemotion",
    meta_columns=(("action_units", "actionunits"),), aus="actionunits",
)


class Casme2(AnnotatedDataset):
    """CASME II: subNN/EPxx_yy clip folders annotated in CASME2-coding-*.xlsx."""

    layout = CASME2_LAYOUT

    def __init__(self, root: str, annotation: str | None = None, classes: Literal["megc3", "5class"] = "megc3",
                 missing_apex: MissingApex = "spot") -> None:
        super().__init__(root, annotation, classes, missing_apex)
