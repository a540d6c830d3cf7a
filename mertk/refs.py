"""Marks that make a factory parameter or config field a nested component spec.

Its own module, so that reading a factory's outline from source (:mod:`mertk.signatures`) and
the registry (:mod:`mertk.registry`, which re-exports :class:`Ref`) both use it without
importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Ref"]


@dataclass(frozen=True)
class Ref:
    """Marks a factory parameter or config field as a component spec of ``kind`` (see module docs).

    ``options`` are ``(key, default)`` or ``(key, default, annotation)`` entries that a spec may
    carry beside the component's own arguments and that its user reads itself (a loss term's
    ``weight``); they are checked against ``annotation`` (default: the default's type), ranges
    included (``Annotated[float, Field(ge=0)]``), and never passed to the factory (see :meth:`split`).
    """

    kind: str
    provided: tuple[str, ...] = ()
    options: tuple[tuple[Any, ...], ...] = ()

    def split(self, spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``spec`` without the options, and the options' values (defaults where left out).

        >>> Ref("loss", options=(("weight", 1.0),)).split({"name": "focal", "gamma": 2, "weight": 0.5})
        ({'name': 'focal', 'gamma': 2}, {'weight': 0.5})
        """
        names = {option[0] for option in self.options}
        component = {k: v for k, v in spec.items() if k not in names}
        return component, {k: spec.get(k, default) for k, default, *_ in self.options}

    def option_types(self) -> dict[str, Any]:
        """Each option's annotation: the one given, else its default's type."""
        return {k: annotation[0] if annotation else type(default) for k, default, *annotation in self.options}
