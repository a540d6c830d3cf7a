"""Whether a run's model and losses can be trained stacked (``train.stack_folds``), from the config.

Decided without building anything, so ``mertk config check`` reports it. A component factory
(class or function) that cannot be computed stacked says why in a ``cannot_stack`` attribute:
a string, or a function of the component's config arguments returning the reason or ``None``::

    class MyModel(nn.Module):
        cannot_stack = "its forward keeps per-fold state in plain attributes"

    class MyBackbone(nn.Module):
        @staticmethod
        def cannot_stack(arguments: dict) -> str | None:
            return "its dropout is functional (F.dropout)" if arguments.get("drop_rate") else None

A model with a ``fit`` method is fitted, not trained by gradient steps, and never stacks.
Components that declare nothing are tried: a stack whose first step fails under
:func:`torch.func.vmap` is reported then (see :mod:`mertk.engine.stacked`).
"""

from __future__ import annotations

from typing import Any

from mertk.api import CannotStack, Fitted
from mertk.registry import Components

__all__ = ["stacking_obstacle"]


def stacking_obstacle(config: Any, components: Components) -> str | None:
    """Why the config's model, one of its parts or a loss cannot be trained stacked, naming it
    by its config key; ``None`` when nothing declares it cannot.

    Args:
        config: A validated :class:`mertk.config.RunConfig`.
        components: The registries the config was validated against.
    """
    parts = list(components.parts("model", config.model, "model"))
    for i, spec in enumerate(config.loss):
        parts += components.parts("loss", spec, f"loss.{i}")
    for key, info, spec in parts:
        reason = info.factory.cannot_stack if isinstance(info.factory, CannotStack) else None
        if callable(reason):
            reason = reason({k: v for k, v in spec.items() if k != "name"})
        if reason is None and key == "model" and isinstance(info.factory, Fitted):
            reason = "it is fitted by its fit() method, not trained by gradient steps"
        if reason:
            where = "" if key == info.kind else f" ({key})"
            return f"{info.kind} {info.name!r}{where} cannot be trained stacked: {reason}"
    return None
