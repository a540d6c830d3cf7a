"""Switch mertk's Dual-ATME fast paths back to plain torch, one at a time, for the parity benchmarks.

:func:`plain_torch` takes any of :data:`SWITCHES`:

* ``nn-conv``: :class:`mertk_dual_atme.conv.Conv2d` computes with ``nn.Conv2d.forward``
  (its initialisation is ``nn.Conv2d``'s either way: the class does not override it);
* ``nn-pool``: :func:`mertk_dual_atme.pooling.max_pool2d` is ``F.max_pool2d``;
* ``plain-adam``: the trainer's Adam is ``torch.optim.Adam`` with the single-tensor update
  (``foreach=False``, what the reference uses) instead of the fused kernel.

The rest of mertk's departures from the reference are config keys (``model.fused_branches``,
``train.deterministic``, ``train.precision``) and need no patch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

__all__ = ["SWITCHES", "plain_torch"]

SWITCHES = ("nn-conv", "nn-pool", "plain-adam")


@contextlib.contextmanager
def plain_torch(*switches: str) -> Iterator[None]:
    """Inside the block, each named fast path of mertk is plain torch (see the module docstring)."""
    from mertk.engine import trainer
    from mertk_dual_atme import conv, pooling

    unknown = set(switches) - set(SWITCHES)
    if unknown:
        raise ValueError(f"unknown fast-path switches {sorted(unknown)}; known: {', '.join(SWITCHES)}")
    saved = conv.Conv2d.forward, pooling.max_pool2d, trainer.make_optimizer
    if "nn-conv" in switches:
        conv.Conv2d.forward = torch.nn.Conv2d.forward
    if "nn-pool" in switches:
        pooling.max_pool2d = lambda x, kernel, stride, padding=0: F.max_pool2d(x, kernel, stride, padding)
    if "plain-adam" in switches:
        def make_optimizer(params, settings, device):
            if settings.name != "adam":
                return saved[2](params, settings, device)
            return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay, foreach=False)

        trainer.make_optimizer = make_optimizer
    try:
        yield
    finally:
        conv.Conv2d.forward, pooling.max_pool2d, trainer.make_optimizer = saved
