"""Component factories whose config interface is known without importing what they build.

A component that is a torch module (or needs OpenCV, kornia, ...) is registered through a
small factory function in a module that imports none of that: its signature is the component's
config interface (types, ranges, defaults, nested components), its docstring the component's
description, and calling it imports the class and builds it. ``mertk config check`` and
``mertk components`` then read and check everything from the light module::

    # my_plugin/factories.py: no torch here
    @builds("my_plugin.nets:TinyNet", forward=("cannot_stack",))
    def tiny_net(num_classes: int, in_channels: int, width: PositiveInt = 8) -> Any:
        \"\"\"A tiny CNN on one view.\"\"\"

    # my_plugin/plugin.py
    register("tiny-net", "my_plugin.factories:tiny_net")

The function body is never run; the arguments (defaults filled in from the function's
signature) go to the class by name. ``forward`` names attributes mertk reads from a factory
before building it (``check_arguments``, ``cannot_stack``, ``fit``): each becomes an attribute
of the factory that imports the class and answers with the class's own (a value, or a call with
the same arguments). Keep the function's parameters and defaults the class's; ``mertk.testing``'s
:func:`~mertk.testing.check_deferred_factory` says where they differ.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mertk.errors import PluginError

__all__ = ["FACTORY_ATTRIBUTES", "builds", "import_target"]

F = TypeVar("F", bound=Callable[..., Any])

#: Attributes that mertk reads from a component's factory before building it.
FACTORY_ATTRIBUTES = ("check_arguments", "cannot_stack", "fit")


def import_target(target: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names, imported.

    Raises:
        PluginError: the module or attribute does not exist.
    """
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{target!r} cannot be imported ({exc}); reinstall the plugin that names it") from exc
    return obj


def builds(target: str, *, forward: Sequence[str] = ()) -> Callable[[F], F]:
    """Turn a function's signature into a factory of ``target`` (``"package.module:Class"``).

    Args:
        target: What the factory builds, imported when it is first called.
        forward: Attributes of ``target`` the factory also answers for (see the module docs).
    """
    unknown = sorted(set(forward) - set(FACTORY_ATTRIBUTES))
    if unknown:
        raise PluginError(f"builds({target!r}): cannot forward {unknown}; attributes mertk reads: "
                          f"{', '.join(FACTORY_ATTRIBUTES)}")

    def decorate(interface: F) -> F:
        signature = inspect.signature(interface)
        if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in signature.parameters.values()):
            raise PluginError(f"builds({target!r}): {interface.__qualname__} passes arguments by name only; "
                              "remove its positional-only and *args parameters")

        @functools.wraps(interface)
        def factory(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            by_name: dict[str, Any] = {}
            for name, value in bound.arguments.items():
                if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                    by_name.update(value)
                else:
                    by_name[name] = value
            return import_target(target)(**by_name)

        factory.builds = target  # type: ignore[attr-defined]
        for name in forward:
            setattr(factory, name, _forwarded(target, name))
        return factory  # type: ignore[return-value]

    return decorate


def _forwarded(target: str, name: str) -> Callable[..., Any]:
    """An attribute that answers with ``target``'s own ``name``: called with the arguments when
    it is callable, else its value."""

    def answer(*args: Any, **kwargs: Any) -> Any:
        value = getattr(import_target(target), name)
        return value(*args, **kwargs) if callable(value) else value

    answer.__name__ = answer.__qualname__ = name
    answer.__doc__ = f"``{target}``'s ``{name}`` (imported on first use)."
    return answer
