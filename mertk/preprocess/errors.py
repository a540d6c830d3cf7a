"""The per-clip error of preprocessing: a :class:`MertkError` that carries a :class:`Problem`."""

from __future__ import annotations

from mertk.api import Problem
from mertk.errors import MertkError

__all__ = ["ClipError"]


class ClipError(MertkError):
    """A clip cannot be preprocessed; ``problem`` names the file, the sample and the fix.

    With ``on_error: stop`` it stops the run; with ``on_error: skip`` its problem is listed.
    """

    def __init__(self, file: object, sample: str | None, message: str, fix: str, row: int | None = None) -> None:
        self.problem = Problem(file=str(file), message=message, fix=fix, sample=sample, row=row)
        super().__init__(str(self.problem))

    def __reduce__(self):
        p = self.problem
        return ClipError, (p.file, p.sample, p.message, p.fix, p.row)
