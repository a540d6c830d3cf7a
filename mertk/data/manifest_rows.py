"""A manifest CSV's rows as one item each (a sample, a recording), every id listed once.

Both manifest adapters (:mod:`mertk.data.manifest` for clips, :mod:`mertk.data.long_manifest`
for long recordings) read their CSV the same way: each row becomes an item or a problem, an id
listed a second time is a problem naming its row, and a manifest with a header and no rows is
a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from mertk.api import Problem
from mertk.data.sheets import SheetRow

__all__ = ["unique_rows"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_HasId)


def unique_rows(path: Path, rows: Sequence[SheetRow], build: Callable[[SheetRow], Item | None],
                problems: list[Problem], *, noun: str, plural: str) -> list[Item]:
    """The items ``build`` makes of the manifest ``path``'s ``rows``, in order.

    ``build`` returns ``None`` for a row it cannot use (having added its problem to
    ``problems``). A row whose item has the id of an earlier one is left out with a problem
    (``"sample casme2/sub01/EP01 is listed twice"``); no rows at all give a warning.

    Args:
        path: The manifest, named in the problems.
        rows: Its rows (:func:`mertk.data.sheets.read_sheet`).
        build: One row -> its item, or ``None``.
        problems: Where the problems go.
        noun: What one row lists, for the messages (``"sample"``, ``"recording"``).
        plural: The same, plural (``"samples"``, ``"recordings"``).
    """
    items: list[Item] = []
    seen: set[str] = set()
    for row in rows:
        item = build(row)
        if item is None:
            continue
        if item.id in seen:
            problems.append(Problem(str(path), f"{noun} {item.id} is listed twice", "remove one of the rows",
                                    row=row.row, sample=item.id))
            continue
        seen.add(item.id)
        items.append(item)
    if not rows:
        problems.append(Problem(str(path), f"the manifest lists no {plural} (a header and no rows)",
                                f"add one row per {noun}", fatal=False))
    return items
