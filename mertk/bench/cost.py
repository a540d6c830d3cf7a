"""Model size and compute: parameters and forward FLOPs at a config's input size."""

from __future__ import annotations

from typing import Any

from mertk.config import RunConfig
from mertk.registry import Components

__all__ = ["view_shapes", "model_cost"]


def view_shapes(config: RunConfig, components: Components) -> dict[str, tuple[int, ...]]:
    """``{view: (C, S, S)}`` the config's ROI selectors produce, found by running each selector
    once on a blank encoded image of the aligned size with template landmarks (a blank
    8-frame clip for selectors that read frames)."""
    import torch

    from mertk.api import view_source
    from mertk.preprocess.template import template_landmarks

    pre = config.preprocess
    size = pre.align.size
    inputs = {"flow": torch.zeros(len(pre.encoding.channels), size, size), "frames": torch.zeros(8, 1, size, size)}
    landmarks = template_landmarks(size, pre.align.margin)
    shapes = {}
    for name, spec in pre.views.items():
        selector = components.build("roi_selector", spec, key=f"preprocess.views.{name}")
        shapes[name] = tuple(selector(inputs[view_source(selector)], landmarks).shape)
    return shapes


def model_cost(config: RunConfig, components: Components, num_classes: int) -> dict[str, Any]:
    """Parameters and forward FLOPs per sample of the config's model, freshly built.

    FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` for one sample in
    eval mode (a multiply-add counts as 2); it counts matrix products and convolutions, not
    element-wise operations, pooling or normalisation.

    Returns:
        ``{"params": int, "flops": int}``; both ``None`` for a model that is not an
        ``nn.Module`` (e.g. a fitted classical pipeline).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    shapes = view_shapes(config, components)
    in_channels = shapes[next(iter(shapes))][0]  # as the engine: the first view's channels
    model = components.build("model", config.model, key="model", num_classes=num_classes, in_channels=in_channels)
    if not isinstance(model, torch.nn.Module) or hasattr(model, "fit"):
        return {"params": None, "flops": None}
    views = {name: torch.rand(1, *shape) for name, shape in shapes.items()}
    model.eval()
    with torch.no_grad():
        model(views)  # materialise lazy layers before counting parameters
        counter = FlopCounterMode(display=False)
        with counter:
            model(views)
    return {"params": sum(p.numel() for p in model.parameters()), "flops": int(counter.get_total_flops())}
