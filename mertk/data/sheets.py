"""Read annotation sheets (``.xlsx`` or ``.csv``) into rows keyed by normalised column names.

Column names are normalised to lower-case letters and digits (``"Onset Frame"`` and
``"OnsetFrame"`` both become ``"onsetframe"``), and the header row is found by looking for the
required columns, so preambles (SAMM's 13 rows) and renamed copies of a sheet load alike.
Row numbers are 1-based as a spreadsheet program shows them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mertk.errors import MertkError
from mertk.textfiles import NotUtf8, read_utf8

__all__ = ["SheetRow", "normalise_column", "read_text_file", "read_sheet", "read_headerless", "find_annotation"]

_HEADER_SEARCH_ROWS = 40


@dataclass(frozen=True)
class SheetRow:
    """One data row: its 1-based row number and its cells by normalised column name."""

    row: int
    cells: dict[str, Any]

    def text(self, column: str) -> str:
        """The cell as stripped text (``""`` when blank)."""
        value = self.cells.get(column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()


def normalise_column(name: Any) -> str:
    """``"Onset Frame"`` -> ``"onsetframe"``."""
    return re.sub(r"[^a-z0-9]", "", str(name or "").lower())


_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab"}


def _check_delimiter(path: Path, line: str, named_by: str) -> None:
    """Refuse a CSV whose first non-blank line is split by semicolons or tabs rather than commas
    (Excel writes semicolons where the comma is the decimal separator); read as comma-separated,
    every row would be one cell and the header would not be found."""
    commas = line.count(",")
    for delimiter, name in _OTHER_DELIMITERS.items():
        if line.count(delimiter) > commas:
            raise MertkError(f"{path}: looks {name}-delimited (its first line has {line.count(delimiter)} "
                             f"{name}s and {commas} commas), but mertk reads comma-separated CSV. Fix: save it as "
                             "comma-separated CSV (in Excel: 'CSV UTF-8 (Comma delimited)') or as .xlsx, and point "
                             f"{named_by} to it")


def _raw_rows(path: Path, named_by: str, sheet: int | str = 0) -> Iterator[list[Any]]:
    if path.suffix.lower() == ".csv":
        if sheet not in (0, ""):
            raise MertkError(f"{path}: a CSV file has one sheet, and the data needs the workbook's sheet "
                             f"{sheet!r} too. Fix: point {named_by} to the original .xlsx workbook")
        text = read_text_file(path, named_by)
        _check_delimiter(path, next((line for line in text.splitlines() if line.strip()), ""), named_by)
        yield from csv.reader(io.StringIO(text, newline=""))
        return
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip/xml errors of a damaged or mislabelled file
        raise MertkError(f"{path}: cannot read the annotation sheet ({exc}). Fix: re-export it as .xlsx "
                         f"or .csv, or point {named_by} to the right file") from None
    try:
        if isinstance(sheet, str):
            names = {normalise_column(name): name for name in book.sheetnames}
            if normalise_column(sheet) not in names:
                raise MertkError(f"{path}: the workbook has no sheet {sheet!r} (its sheets: "
                                 f"{', '.join(book.sheetnames)}). Fix: point {named_by} to the original workbook")
            worksheet = book[names[normalise_column(sheet)]]
        elif sheet < len(book.worksheets):
            worksheet = book.worksheets[sheet]
        else:
            raise MertkError(f"{path}: the workbook has {len(book.worksheets)} sheet(s), the data needs sheet "
                             f"{sheet + 1}. Fix: point {named_by} to the original workbook")
        for values in worksheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()


def read_text_file(path: Path, named_by: str) -> str:
    """The text of a data file (CSV sheet, fold list) in UTF-8, with or without a byte-order mark.

    Raises:
        MertkError: the file is UTF-16, binary or otherwise not UTF-8, saying how to convert it.
    """
    try:
        return read_utf8(path)
    except NotUtf8 as exc:
        fix = f"point {named_by} to the right file"
        fix = fix if exc.encoding == "binary" else f"{exc.fix}, or {fix}"
        raise MertkError(f"{path}: {exc}. Fix: {fix}") from None


def read_sheet(path: Path, required: Sequence[str], *, header_row: int | None = None,
               named_by: str = "the dataset's 'annotation' argument") -> list[SheetRow]:
    """Read the data rows below the header of ``path``'s first sheet.

    Args:
        path: ``.xlsx`` or ``.csv`` file.
        required: Normalised column names that identify the header row.
        header_row: 1-based header row, when it is known; otherwise searched for.
        named_by: What names ``path``, for the fix in error messages (the adapter argument).

    Raises:
        MertkError: the file is missing or unreadable (a CSV not in UTF-8 is named with its
            encoding), or no row has the required columns.
    """
    if not path.is_file():
        raise MertkError(f"{path}: annotation file not found. Fix: set {named_by} to the sheet's path")
    header: list[str] | None = None
    rows: list[SheetRow] = []
    for number, values in enumerate(_raw_rows(path, named_by), start=1):
        if header is None:
            names = [normalise_column(v) for v in values]
            is_header = number == header_row if header_row else all(c in names for c in required)
            if is_header:
                header = names
            elif number >= (header_row or _HEADER_SEARCH_ROWS):
                break
            continue
        cells = {name: value for name, value in zip(header, values) if name}
        if any(v is not None and str(v).strip() for v in cells.values()):
            rows.append(SheetRow(number, cells))
    if header is None:
        raise MertkError(f"{path}: no header row with the columns {', '.join(required)} (compared without case "
                         f"and spaces). Fix: point {named_by} to the dataset's original sheet")
    missing = [c for c in required if c not in header]
    if missing:
        raise MertkError(f"{path}: the header has no column {', '.join(missing)}. Fix: use the original sheet")
    return rows


def read_headerless(path: Path, columns: Sequence[str], *, sheet: int | str = 0,
                    named_by: str = "the dataset's 'annotation' argument") -> list[SheetRow]:
    """Read every non-blank row of a sheet that has no header row, naming its cells by position.

    Args:
        path: ``.xlsx`` (or ``.csv`` for ``sheet`` 0) file.
        columns: A name for each column, in order (``""`` skips a column); extra cells are dropped.
        sheet: The worksheet: its 0-based position, or its name (compared like column names).
        named_by: What names ``path``, for the fix in error messages.

    Raises:
        MertkError: the file or the sheet is missing or unreadable.
    """
    if not path.is_file():
        raise MertkError(f"{path}: annotation file not found. Fix: set {named_by} to the sheet's path")
    rows = []
    for number, values in enumerate(_raw_rows(path, named_by, sheet), start=1):
        cells = {name: value for name, value in zip(columns, values) if name}
        if any(v is not None and str(v).strip() for v in cells.values()):
            rows.append(SheetRow(number, cells))
    return rows


def find_annotation(root: Path, patterns: Sequence[str]) -> Path | None:
    """The first file matching one of ``patterns`` in ``root`` or its parent (sorted, newest name last)."""
    for folder in (root, root.parent):
        for pattern in patterns:
            found = sorted(folder.glob(pattern))
            if found:
                return found[-1]
    return None
