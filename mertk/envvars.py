"""``${NAME}`` environment-variable expansion in the string values of a config node."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from mertk.errors import ConfigError

__all__ = ["expand_env"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(node: Any, *, file: str = "<config>", key: str = "",
               environ: Mapping[str, str] | None = None) -> Any:
    """Return ``node`` with every ``${NAME}`` in its strings replaced by the variable's value.

    Mappings and lists are walked recursively; other values are returned unchanged. ``$$``
    is not special and a bare ``$NAME`` is left as it is: only the braced form expands.

    Raises:
        ConfigError: a variable is not set; the message names the key and how to set it.
    """
    env = os.environ if environ is None else environ
    if isinstance(node, str):
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(file, key, f"environment variable {name} is not set; export {name}=PATH "
                                             f"or override the value with --set {key}=PATH")
            return env[name]
        return _VAR.sub(value, node) if "${" in node else node  # keeps a str subclass (a YAML bool word)
    if isinstance(node, Mapping):
        return {k: expand_env(v, file=file, key=f"{key}.{k}" if key else str(k), environ=env) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, file=file, key=f"{key}.{i}", environ=env) for i, v in enumerate(node)]
    return node
