"""A config value made what its field or factory argument expects, before pydantic checks it.

Two things pydantic's lax mode gets wrong for configs:

- a YAML 1.1 word (``off``, ``yes``, ... read as :class:`mertk.yamlfile.BoolWord`) must be the
  string where a string is expected (``stack_folds: off``) and the boolean elsewhere
  (``checkpoints: yes``);
- ``true``/``false`` where a number is expected (``batch_size: true``) must be refused, not read
  as 1 or 0.

:func:`as_expected` does both, walking lists, tuples and mappings item by item as their
annotation says. Section models (:class:`mertk.settings.Strict`) run it on every field and
:meth:`mertk.registry.Components.validate` on every component argument, so it holds everywhere.
Component specs (annotations carrying a :class:`mertk.registry.Ref`) and nested pydantic models
are left to their own validation.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import pydantic

from mertk.refs import Ref
from mertk.yamlfile import BoolWord

__all__ = ["NotExpected", "as_expected", "plain"]

_UNIONS = (typing.Union, types.UnionType)
_SEQUENCES = (list, tuple, set, frozenset, typing.Sequence, typing.MutableSequence)
_MAPPINGS = (dict, typing.Mapping, typing.MutableMapping)


class NotExpected(ValueError):
    """``true``/``false`` (or a YAML 1.1 word) given where a number is expected."""


def plain(value: Any) -> Any:
    """``value`` with every :class:`BoolWord` in it replaced by its YAML 1.1 boolean (where
    nothing says a string is expected)."""
    if isinstance(value, BoolWord):
        return value.value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def as_expected(annotation: Any, value: Any) -> Any:
    """``value`` as ``annotation`` expects it (see the module docs); ``None`` or ``Any``: the
    YAML 1.1 meaning.

    >>> from typing import Literal
    >>> as_expected(Literal["auto", "off"], BoolWord("off")), as_expected(bool, BoolWord("off"))
    ('off', False)

    Raises:
        NotExpected: a boolean where a number is expected.
    """
    annotation = _strip(annotation)
    if annotation is _COMPONENT:
        return value
    if annotation in (None, Any, object):
        return plain(value)
    leaves = _leaves(annotation)
    if isinstance(value, BoolWord):
        return _word(leaves, value)
    if isinstance(value, bool):
        if bool not in leaves and any(t in (int, float) for t in leaves) and Any not in leaves:
            raise NotExpected("expected a number, not true/false")
        return value
    for arm in leaves:
        origin = typing.get_origin(arm)
        args = typing.get_args(arm)
        if isinstance(value, (list, tuple)) and (origin in _SEQUENCES or arm in _SEQUENCES):
            if origin is tuple and args and args[-1] is not Ellipsis:
                items = [as_expected(args[i] if i < len(args) else None, v) for i, v in enumerate(value)]
            else:
                items = [as_expected(args[0] if args else None, v) for v in value]
            return type(value)(items)
        if isinstance(value, Mapping) and (origin in _MAPPINGS or arm in _MAPPINGS):
            return {k: as_expected(args[1] if len(args) == 2 else None, v) for k, v in value.items()}
    return value


#: What :func:`_strip` returns for a component spec, which the registry validates.
_COMPONENT = object()


def _strip(annotation: Any) -> Any:
    """The annotation without ``Annotated`` metadata, or :data:`_COMPONENT` for a component spec."""
    while typing.get_origin(annotation) is typing.Annotated:
        if any(isinstance(m, Ref) for m in annotation.__metadata__):
            return _COMPONENT
        annotation = typing.get_args(annotation)[0]
    return annotation


def _leaves(annotation: Any) -> list[Any]:
    """The arms of a union (flattened, ``Annotated`` stripped); ``[annotation]`` otherwise."""
    if typing.get_origin(annotation) in _UNIONS:
        return [leaf for arm in typing.get_args(annotation) for leaf in _leaves(_strip(arm))]
    return [annotation]


def _word(leaves: list[Any], word: BoolWord) -> Any:
    """A YAML 1.1 word: a literal it spells, else the boolean where one is allowed, else the text
    where a string is expected, else the boolean (refused where a number is expected)."""
    literals = [v for leaf in leaves if typing.get_origin(leaf) is typing.Literal for v in typing.get_args(leaf)]
    if str(word) in literals:
        return str(word)
    if bool in leaves or Any in leaves or object in leaves or _COMPONENT in leaves:
        return word.value
    if any(isinstance(v, str) for v in literals) or any(_is_text(leaf) for leaf in leaves):
        return str(word)
    if any(t in (int, float) for t in leaves):
        raise NotExpected("expected a number, not true/false")
    return word.value


def _is_text(leaf: Any) -> bool:
    return isinstance(leaf, type) and issubclass(leaf, (str, PurePath)) and not issubclass(leaf, pydantic.BaseModel)
