"""CAS(ME)^3 part A (30 fps, 1280x720).

Layout: ``root`` holds the ``spNO.N`` subject folders (or is their parent ``part_A``); frames
are numbered without zero padding and some are dropped::

    part_A/spNO.1/a/color/0.jpg ...

Annotation: ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (found in ``root`` or its parent;
``annotation`` names another file) with ``Subject``, ``Filename``, ``Onset``, ``Apex``,
``Offset``, ``AU``, ``Objective class``, ``emotion``, ``Expression type``. Rows whose expression
type is not ``Micro-expression`` are counted as excluded. A clip name may repeat within a
subject (several expressions in one recording): the second becomes ``a.2``, the third ``a.3``
(reported as a warning). The ``AU`` column (FACS codes joined by ``+``; prefixes and side letters dropped) is parsed
into ``Sample.aus`` by :mod:`mertk.data.action_units` and kept as released in ``meta["action_units"]``.

Samples: dataset ``casme3``, subject ``casme3/spNO.1``, id ``casme3/spNO.1/a``.
Class protocols (``classes``): ``megc3`` (disgust, fear, anger, sad -> negative; happy ->
positive; surprise), ``4class`` (megc3 + others) and ``7class`` (the seven emotions).
"""

from __future__ import annotations

from typing import Literal

from mertk.data.annotated import AnnotatedDataset, SheetLayout
from mertk.data.clips import MissingApex
from mertk.data.sheets import SheetRow

__all__ = ["Casme3", "CASME3_LAYOUT"]


def _micro_only(row: SheetRow) -> str | None:
    kind = row.text("expressiontype")
    if kind and kind.lower().replace(" ", "") != "micro-expression":
        return f"expression type {kind!r} (only micro-expressions are used)"
    return None


CASME3_LAYOUT = SheetLayout(
    dataset="casme3", title="CAS(ME)^3 part A", subject_prefix="spNO.", subject_name="spNO.{}".format,
    layout_folders=("part_A", "Part_A"),
    annotation_patterns=("cas(me)3_part_A*.xlsx", "*part_A*label*.xlsx", "*part_A*.csv"),
    onset="onset", apex="apex", offset="offset", emotion="emotion", frames_subfolder="color",
    meta_columns=(("action_units", "au"), ("objective_class", "objectiveclass")),
    keep=_micro_only, warn_repeated_clips=True, aus="au", aus_title="AU",
)


class Casme3(AnnotatedDataset):
    """CAS(ME)^3 part A: spNO.N/x/color clip folders annotated in the part A label sheet."""

    layout = CASME3_LAYOUT

    def __init__(self, root: str, annotation: str | None = None,
                 classes: Literal["megc3", "4class", "7class"] = "megc3", missing_apex: MissingApex = "spot") -> None:
        super().__init__(root, annotation, classes, missing_apex)
