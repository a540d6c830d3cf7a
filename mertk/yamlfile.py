"""Config YAML read as the user wrote it.

PyYAML reads YAML 1.1, where a repeated key silently replaces the first one and the plain words
``yes``, ``no``, ``on`` and ``off`` are booleans, so ``stack_folds: off`` reaches a field that
expects the string ``"off"`` as ``False``. :func:`load_yaml` refuses repeated keys, naming the
key and both lines, and reads those four words (any capitalisation) as :class:`BoolWord`: the
text as typed, which also knows its YAML 1.1 boolean. Validation
(:func:`mertk.config_values.as_expected`) turns a :class:`BoolWord` into the string where the
field or factory argument expects a string and into the boolean everywhere else, so
``checkpoints: yes`` still means true. ``true`` and ``false`` are always booleans.

A :class:`BoolWord` is written back by :func:`yaml.safe_dump` as the word it was, so a saved
config reads back the same.
"""

from __future__ import annotations

from typing import Any

import yaml

from mertk.errors import ConfigError

__all__ = ["BoolWord", "DuplicateKey", "load_yaml"]

_TRUE_WORDS = frozenset({"yes", "on"})
_WORDS = frozenset({"yes", "no", "on", "off"})


class BoolWord(str):
    """A plain YAML 1.1 boolean word (``off``, ``Yes``, ...) kept as typed; :attr:`value` is its boolean.

    >>> word = BoolWord("off")
    >>> word == "off", word.value, bool(word)
    (True, False, False)
    """

    __slots__ = ()

    @property
    def value(self) -> bool:
        """What YAML 1.1 reads the word as: ``yes``/``on`` true, ``no``/``off`` false."""
        return self.lower() in _TRUE_WORDS

    def __bool__(self) -> bool:  # code that tests the raw value gets the YAML 1.1 meaning, never "non-empty"
        return self.value

    def __reduce__(self) -> tuple[type[BoolWord], tuple[str]]:
        return BoolWord, (str(self),)


class DuplicateKey(ConfigError):
    """A key given twice in one mapping (the message names it and both lines)."""


class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.1 boolean words kept as :class:`BoolWord`."""

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool | BoolWord:
        text = self.construct_scalar(node)
        return BoolWord(text) if text.lower() in _WORDS else text.lower() == "true"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        return {str(k) if isinstance(k, BoolWord) else k: v for k, v in mapping.items()}


_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml_bool)


def _represent_word(dumper: yaml.SafeDumper, word: BoolWord) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:bool", str(word))


for _dumper in (yaml.SafeDumper, yaml.Dumper):
    _dumper.add_representer(BoolWord, _represent_word)


def load_yaml(text: str, *, file: str, key: str = "") -> Any:
    """Parse one YAML document (safe types only) as the user wrote it (see the module docs).

    ``key`` is the dotted key the document is the value of (``--set model={...}``), for messages.

    Mapping keys are always strings as typed (``off:`` is the key ``"off"``).

    Raises:
        ConfigError: invalid YAML (with line and column), or a key repeated in one mapping
            (:class:`DuplicateKey`, naming its dotted key and both lines).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, file, key)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, "", f"{where}invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def _refuse_duplicate_keys(node: yaml.Node, file: str, key: str) -> None:
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, file, f"{key}.{i}" if key else str(i))
    elif isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            name = key_node.value
            dotted = f"{key}.{name}" if key else name
            if name in first:
                raise DuplicateKey(file, dotted, f"the key is given twice, {_where(first[name], key_node.start_mark)}; "
                                                 "YAML would silently keep the last one. Keep one of them")
            first[name] = key_node.start_mark
            _refuse_duplicate_keys(value_node, file, dotted)


def _where(first: yaml.Mark, second: yaml.Mark) -> str:
    """``on line 3 and on line 5``; with columns when both are on one line."""
    if first.line != second.line:
        return f"on line {first.line + 1} and on line {second.line + 1}"
    return (f"on line {first.line + 1}, column {first.column + 1} and on line {second.line + 1}, "
            f"column {second.column + 1}")
