"""Facial action units as the datasets release them, turned into normalised FACS codes.

One job: a sheet's AU cell (``"4+7+L10"``, ``"R12 + R15"``, ``"AU4"``, ``"R14A"``) becomes the
tuple stored in :attr:`mertk.api.Sample.aus`: ``("AU4", "AU7", "AU10")``, one ``"AU{n}"`` per
action unit, without side or intensity, deduplicated and ordered by AU number.

The cell is split at ``+`` (``,`` and ``;`` too: CAS(ME)^3 part C writes commas); spaces and
case are ignored. Each piece must then read::

    [AU] [side] [intensity] number [intensity] [side]

=================  ==========================================  ===================  ===========
Piece              Meaning                                     Seen in              Becomes
=================  ==========================================  ===================  ===========
``AU`` prefix      "action unit"                               CASME II, CAS(ME)^3  dropped
``L`` / ``R``      left / right side only (unilateral)         CASME II, SAMM       dropped
``B``              both sides (bilateral)                      FACS coders          dropped
``T`` / ``U``      top / unilateral, side not given            FACS coders          dropped
``A`` ... ``E``    FACS intensity, trace (A) to maximum (E),   SAMM (``R14A``)      dropped
                   before or after the number
number             the FACS action unit (``12``; ``12.0`` as   all                  ``AU12``
                   a spreadsheet stores a number)
=================  ==========================================  ===================  ===========

A letter before the number is dropped whether it is a side or an intensity (``B4`` is AU4
either way), so the two readings never disagree. The numbers accepted are the FACS codes in
:data:`FACS_CODES` (main codes 1-46 as FACS 2002 numbers them, head and eye positions
50-66).

Cells that say "coded as none" (``none``, ``0``, ``neutral``) give ``()``. Anything else
(``?``, ``R12 or R15``, ``M57``, an AU number FACS does not have, a blank cell) is not
guessed: the clip gets ``aus=None`` (no AU coding) and a warning :class:`~mertk.api.Problem`
names the file, row and token. Dropping only the unreadable piece would train that AU as
absent in a clip where the coder saw something; the action-unit task skips the clip instead,
and the emotion task is unaffected.

:data:`DEFAULT_AUS` is the AU set used for cross-dataset work unless a config names another;
:func:`check_au_set` validates a user's choice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mertk.api import Problem
from mertk.errors import ArgumentError, did_you_mean

__all__ = ["FACS_CODES", "DEFAULT_AUS", "ParsedAus", "parse_action_units", "sample_aus", "au_code", "au_number",
           "check_au_set"]

#: FACS action-unit numbers accepted from sheets: main codes (FACS 2002 has no 3 or 40) and the
#: head (50-58) and eye (61-66) position codes.
FACS_CODES = frozenset({*range(1, 3), *range(4, 40), *range(41, 47), *range(50, 59), *range(61, 67)})

#: The default AU set for cross-dataset work: the 12 AUs MEB trains and scores on its
#: six-dataset composite (CASME, CASME II, SAMM, MMEW, CAS(ME)^3, 4DME; tvaranka/meb,
#: ``experiments/minimal_example.py``). mertk did not recount their frequencies (no real data
#: here); it adopts MEB's set so results compare with MEB's published numbers.
DEFAULT_AUS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17")

_SPLIT = re.compile(r"[+,;]")
_NONE = frozenset({"none", "0", "neutral"})
_TOKEN = re.compile(r"(?:AU)?[LRBTU]?(?:AU)?[A-E]?(?P<number>\d{1,2})(?:\.0+)?[A-E]?[LRBTU]?")


@dataclass(frozen=True)
class ParsedAus:
    """A parsed AU cell: ``aus`` (``None`` when it could not be read) and the unreadable pieces."""

    aus: tuple[str, ...] | None
    unknown: tuple[str, ...] = ()


def au_code(number: int) -> str:
    """``12`` -> ``"AU12"``."""
    return f"AU{number}"


def au_number(code: str) -> int:
    """``"AU12"`` -> ``12``."""
    return int(code[2:])


def _token_number(token: str) -> int | None:
    match = _TOKEN.fullmatch(token.upper())
    if match is None:
        return None
    number = int(match.group("number"))
    return number if number in FACS_CODES else None


def parse_action_units(text: str) -> ParsedAus:
    """Normalise one AU cell (see the module docs): ``"4+R12+L12B"`` -> ``("AU4", "AU12")``."""
    cell = re.sub(r"\s+", "", str(text))
    if not cell:
        return ParsedAus(None, ("",))
    if cell.lower() in _NONE:
        return ParsedAus(())
    numbers: set[int] = set()
    unknown: list[str] = []
    for token in _SPLIT.split(cell):
        number = _token_number(token)
        if number is None:
            unknown.append(token)
        else:
            numbers.add(number)
    if unknown:
        return ParsedAus(None, tuple(unknown))
    return ParsedAus(tuple(au_code(n) for n in sorted(numbers)))


def sample_aus(text: str, problems: list[Problem], *, file: str, row: int | None = None,
               sample: str | None = None, column: str = "AU") -> tuple[str, ...] | None:
    """The ``Sample.aus`` of one AU cell; a warning naming ``file``, ``row`` and the unreadable
    token is appended to ``problems`` when the cell cannot be read (``None`` is returned)."""
    parsed = parse_action_units(text)
    if parsed.aus is not None:
        return parsed.aus
    if parsed.unknown == ("",):
        message = f"the {column} cell is blank: no AU coding for this clip"
    else:
        tokens = ", ".join(repr(t) for t in parsed.unknown)
        message = (f"{column} {str(text).strip()!r}: cannot read {tokens} as a FACS action unit "
                   "(see docs/action-units.md)")
    problems.append(Problem(file, message + "; the action-unit task skips this clip (emotion labels are unaffected)",
                            "write the AUs as FACS codes joined by '+' (e.g. 4+L12), or 'none'", row=row,
                            sample=sample, fatal=False))
    return None


def check_au_set(aus: Iterable[str | int], key: str = "task.aus") -> tuple[str, ...]:
    """A user's AU set, validated and normalised: ``[4, "au12", "AU1"]`` -> ``("AU1", "AU4", "AU12")``.

    Raises:
        ArgumentError: an entry is not a FACS action unit, an AU is named twice, or the set is empty;
            its ``argument`` is ``key``, or ``key.<i>`` for the ``i``-th entry.
    """
    numbers: list[int] = []
    for i, entry in enumerate(aus):
        text = str(entry).strip()
        match = re.fullmatch(r"(?:AU)?(\d{1,2})", text, flags=re.IGNORECASE)
        if match is None or int(match.group(1)) not in FACS_CODES:
            hint = did_you_mean(text.upper(), DEFAULT_AUS)
            raise ArgumentError(f"{key}.{i}", f"{text!r} is not a FACS action unit. Fix: name AUs as AU1, AU12, ... "
                                f"(the default set is {', '.join(DEFAULT_AUS)}){hint}")
        if int(match.group(1)) in numbers:
            raise ArgumentError(f"{key}.{i}", f"{au_code(int(match.group(1)))} is named twice. Fix: name each AU once")
        numbers.append(int(match.group(1)))
    if not numbers:
        raise ArgumentError(key, f"the AU set is empty. Fix: name at least one AU, e.g. {', '.join(DEFAULT_AUS[:3])}")
    return tuple(au_code(n) for n in sorted(numbers))
