"""CASME (Chinese Academy of Sciences Micro-expression database, the first one; 60 fps).

Layout: ``root`` is the folder holding the ``subNN`` folders, or its parent holding one of the
trees MEB (tvaranka/meb) reads::

    CASME_raw_selected/sub01/<Filename>/<frames>     onset..offset frames
    Cropped/sub01/<Filename>/<frames>                face crops

(frame files: any names whose last digits are the frame number).

Annotation: the CASME coding sheet (``CASME*.xlsx`` or ``.csv`` in ``root`` or its parent;
``annotation`` names another file). Columns, as MEB's loader reads them: ``Subject`` (number;
folder ``subNN``), ``Filename`` (clip folder), ``OnsetF``, ``ApexF1`` (the apex; a second apex
column ``ApexF2`` is ignored), ``OffsetF``, ``AU``, ``Emotion``. The AU cell is parsed into
``Sample.aus`` by :mod:`mertk.data.action_units` and kept as released in
``meta["action_units"]``.

Not confirmed from the release itself (no public documentation of it was found): the sheet's
file name (hence the broad pattern; set ``annotation`` if it is not found) and the emotion
spellings, taken from the CASME paper (amusement, contempt, disgust, fear, repression, sadness,
surprise, tense). A row with another emotion is counted as excluded, so a different spelling
shows up in ``mertk datasets inspect`` as excluded rows, never as a wrong label.

Samples: dataset ``casme``, subject ``casme/sub01``, id ``casme/sub01/{Filename}``.
Class protocols (``classes``): ``megc3`` (amusement/happiness -> positive; surprise; disgust,
sadness, fear, contempt, repression -> negative; tense left out) and ``8class`` (the eight
emotions).
"""

from __future__ import annotations

from typing import Literal

from mertk.data.annotated import AnnotatedDataset, SheetLayout
from mertk.data.clips import MissingApex

__all__ = ["Casme", "CASME_LAYOUT"]

CASME_LAYOUT = SheetLayout(
    dataset="casme", title="CASME", subject_prefix="sub", subject_name="sub{:02d}".format,
    layout_folders=("CASME_raw_selected", "CASME_RAW_selected", "Cropped"),
    annotation_patterns=("CASME_*.xlsx", "CASME*.xlsx", "casme*.xlsx", "CASME*.csv", "casme*.csv"),
    onset="onsetf", apex="apexf1", offset="offsetf", emotion="emotion",
    meta_columns=(("action_units", "au"),), aus="au", aus_title="AU",
)


class Casme(AnnotatedDataset):
    """CASME: subNN/{Filename} clip folders annotated in the CASME coding sheet."""

    layout = CASME_LAYOUT

    def __init__(self, root: str, annotation: str | None = None, classes: Literal["megc3", "8class"] = "megc3",
                 missing_apex: MissingApex = "spot") -> None:
        super().__init__(root, annotation, classes, missing_apex)
