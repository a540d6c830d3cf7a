"""Helpers for testing mertk plugins (used by mertk's own tests too).

Example, in a plugin package's tests::

    from mertk.testing import components_with, check_attention

    import my_plugin

    def test_my_attention_follows_the_contract():
        components = components_with(my_plugin)
        check_attention(components.create("attention", "my-attention", channels=48))
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from click.testing import CliRunner, Result

from mertk.plugins import check_hooks, load_components, plugin_manager
from mertk.registry import Components

__all__ = ["components_with", "invoke", "check_attention", "check_backbone", "check_loss", "check_model",
           "check_deferred_factory"]


def components_with(*plugins: ModuleType | object, autoload: bool = False) -> Components:
    """Fresh registries with the built-ins, the given plugin objects/modules and (optionally)
    installed third-party plugins. Hook typos in the given plugins raise ``PluginError``."""
    pm = plugin_manager(autoload=autoload)
    for plugin in plugins:
        pm.register(plugin)
    check_hooks(pm)
    return load_components(pm)


def check_deferred_factory(factory: Any) -> None:
    """A factory made with :func:`mertk.deferred.builds` takes what its class takes, with the same
    defaults, and answers for the same factory attributes (``check_arguments``, ``cannot_stack``,
    ``fit``) as the class has. Imports the class.

    Raises:
        AssertionError: naming the component and what differs.
    """
    import inspect

    from mertk.deferred import FACTORY_ATTRIBUTES, import_target

    built = import_target(factory.builds)
    mine = {n: (p.kind, p.default) for n, p in inspect.signature(factory).parameters.items()}
    theirs = {n: (p.kind, p.default) for n, p in inspect.signature(built).parameters.items()}
    assert mine == theirs, f"{factory.__qualname__} takes {mine}, but {factory.builds} takes {theirs}"
    mine_attrs = {a for a in FACTORY_ATTRIBUTES if hasattr(factory, a)}
    theirs_attrs = {a for a in FACTORY_ATTRIBUTES if hasattr(built, a)}
    assert mine_attrs == theirs_attrs, (f"{factory.__qualname__} forwards {sorted(mine_attrs)}, but "
                                        f"{factory.builds} has {sorted(theirs_attrs)}")


def invoke(args: Sequence[str], **kwargs: Any) -> Result:
    """Run ``mertk ARGS`` in-process with click's test runner; returns exit code and output."""
    from mertk.cli import build_cli

    args = list(args)
    return CliRunner().invoke(build_cli(args), args, **kwargs)


def _grad_flows(module: Any, out: Any) -> None:
    import torch

    out.float().square().mean().backward()
    params = [p for p in module.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params), \
        "some parameters got no (or a non-finite) gradient"


def check_attention(module: Any, channels: int = 48, size: int = 7, batch: int = 2) -> None:
    """Assert the attention contract: ``(B, C, H, W) -> (B, C, H, W)``, finite, differentiable."""
    import torch

    x = torch.randn(batch, channels, size, size, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape, f"attention changed the shape: {tuple(x.shape)} -> {tuple(y.shape)}"
    assert torch.isfinite(y).all()
    _grad_flows(module, y)
    assert x.grad is not None


def check_backbone(module: Any, in_channels: int = 3, size: int = 28, batch: int = 2) -> None:
    """Assert the backbone contract: ``(B, in, S, S) -> (B, out_channels, h, w)``, differentiable."""
    import torch

    y = module(torch.randn(batch, in_channels, size, size))
    assert y.ndim == 4 and y.shape[0] == batch, f"expected (B, C, h, w), got {tuple(y.shape)}"
    assert y.shape[1] == module.out_channels, f"out_channels={module.out_channels} but got {y.shape[1]}"
    _grad_flows(module, y)


def check_loss(module: Any, num_classes: int = 3, batch: int = 4, features: dict[str, int] | None = None) -> None:
    """Assert the loss contract: ``(ModelOutput, (B,) int64) -> scalar``, finite, differentiable."""
    import torch

    from mertk.api import ModelOutput

    logits = torch.randn(batch, num_classes, requires_grad=True)
    feats = {k: torch.randn(batch, d, requires_grad=True) for k, d in (features or {}).items()}
    value = module(ModelOutput(logits, feats), torch.arange(batch) % num_classes)
    assert value.ndim == 0 and torch.isfinite(value), f"loss must be a finite scalar, got {value}"
    value.backward()
    assert logits.grad is not None or any(f.grad is not None for f in feats.values())


def check_model(module: Any, views: dict[str, tuple[int, ...]], num_classes: int, batch: int = 2) -> None:
    """Assert the model contract: ``{view: (B, C, S, S)} -> ModelOutput(logits (B, K))``."""
    import torch

    from mertk.api import ModelOutput

    out = module({k: torch.rand(batch, *shape) for k, shape in views.items()})
    assert isinstance(out, ModelOutput), f"models return ModelOutput, got {type(out).__name__}"
    assert out.logits.shape == (batch, num_classes)
    _grad_flows(module, out.logits)
