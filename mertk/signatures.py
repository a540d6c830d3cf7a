"""A component factory's arguments read from its source, without importing its module.

Checking a config's component names and argument names must not wait for torch: a lazily
registered factory (``"package.module:Class"``) is found with :func:`importlib.util.find_spec`
(which imports the parent packages only) and its ``__init__`` or function signature is read
from the module's syntax tree. Only what a name check needs is read: each parameter's name,
whether it is required, whether it takes a nested component (``Ref(...)`` in its annotation,
alone or as ``list[...]`` items) and whether the factory takes ``**kwargs``. Types are checked
later, with the imported factory.

When the source does not say (a class without its own ``__init__``, a factory made by a call,
a compiled module), :func:`read_outline` returns ``None`` and the check waits for the import.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mertk.refs import Ref

__all__ = ["Parameter", "Outline", "read_outline"]


@dataclass(frozen=True)
class Parameter:
    """One config-settable parameter: ``ref`` marks a nested component (``many``: a list of them)."""

    name: str
    required: bool
    ref: Ref | None = None
    many: bool = False


@dataclass(frozen=True)
class Outline:
    """The config-settable parameters of a factory and whether it takes any keyword."""

    parameters: dict[str, Parameter]
    any_keyword: bool


@functools.cache
def read_outline(target: str) -> Outline | None:
    """The outline of ``"package.module:attribute"`` from its source, or ``None`` if unknown."""
    module_name, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    aliases = {n.targets[0].id: n.value for n in tree.body
               if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)}
    node: ast.AST | None = tree
    for part in attr.split("."):
        node = next((n for n in getattr(node, "body", []) if isinstance(n, (ast.ClassDef, ast.FunctionDef))
                     and n.name == part), None)
        if node is None:
            return None
    if isinstance(node, ast.ClassDef):
        if node.decorator_list:  # dataclasses and the like make their own __init__
            return None
        node = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if node is None:
            return None
        return _outline(node.args, aliases, skip_first=True)
    return _outline(node.args, aliases, skip_first=False) if isinstance(node, ast.FunctionDef) else None


def _outline(args: ast.arguments, aliases: dict[str, ast.AST], *, skip_first: bool) -> Outline:
    positional = [*args.posonlyargs, *args.args]
    defaults_from = len(positional) - len(args.defaults)
    params: list[Parameter] = []
    for i, arg in enumerate(positional):
        if i < len(args.posonlyargs) or (skip_first and i == 0):
            continue
        params.append(_parameter(arg, aliases, required=i < defaults_from))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(_parameter(arg, aliases, required=default is None))
    return Outline({p.name: p for p in params if not p.name.startswith("_")}, any_keyword=args.kwarg is not None)


def _parameter(arg: ast.arg, aliases: dict[str, ast.AST], *, required: bool) -> Parameter:
    """A parameter; its annotation may name a module-level alias (``Backbone = Annotated[...]``)."""
    annotation = arg.annotation
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            annotation = None
    if annotation is None:
        return Parameter(arg.arg, required)
    many = isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name) \
        and annotation.value.id == "list"
    return Parameter(arg.arg, required, _ref_in(annotation, aliases), many)


def _ref_in(annotation: ast.AST, aliases: dict[str, ast.AST]) -> Ref | None:
    """The ``Ref(kind, provided=(...))`` written in an annotation, or in a module-level alias it
    names, if its arguments are literals."""
    nodes = list(ast.walk(annotation))
    nodes += [n for name in nodes if isinstance(name, ast.Name) and name.id in aliases
              for n in ast.walk(aliases[name.id])]
    for node in nodes:
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Ref":
            try:
                args = [ast.literal_eval(a) for a in node.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
                return Ref(*args, **{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
            except (ValueError, TypeError):
                return None
    return None
