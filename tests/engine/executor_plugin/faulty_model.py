"""Test-only plugin for the executor tests: a small model that can kill its own worker process once,
mid-training, or reject one fold's input, the faults an executor must survive or report."""

from __future__ import annotations

import json
import os
import signal
import sys

import torch
from torch import nn

import mertk
from mertk.api import ModelOutput

#: Modules a process that only trains and tests folds has no use for.
HEAVY = ("mlflow", "tensorboard", "matplotlib", "cv2", "dlib", "ray")


class FaultyModel(nn.Module):
    """A small conv net on the ``face`` view ``(B, C, S, S) -> (B, K)``.

    Args:
        die_once: A marker file: the first process to create it kills itself (SIGKILL) at its
            third training forward pass; the others train normally.
        fail_seed: The fold seeded with this value raises ``ValueError`` while being built, after
            appending a line to ``attempts``.
        attempts: A file counting the attempts to build the failing fold's model.
        modules: A file: each process appends, at its first prediction after training, its pid
            and which of :data:`HEAVY` it has imported.
    """

    views = ("face",)

    def __init__(self, num_classes: int, in_channels: int, die_once: str = "", fail_seed: int = -1,
                 attempts: str = "", modules: str = "") -> None:
        super().__init__()
        if torch.initial_seed() == fail_seed:
            with open(attempts, "a") as f:
                f.write(f"{os.getpid()}\n")
            raise ValueError(f"this fold's input is rejected (seed {fail_seed})")
        self.die_once, self.calls, self.modules = die_once, 0, modules
        self.features = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(8, num_classes)

    def forward(self, views):
        if self.training and self.die_once:
            self.calls += 1
            if self.calls == 3:
                try:
                    os.close(os.open(self.die_once, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    os.kill(os.getpid(), signal.SIGKILL)
        if not self.training and self.modules:
            with open(self.modules, "a") as f:
                f.write(json.dumps([os.getpid(), sorted(m for m in HEAVY if m in sys.modules)]) + "\n")
            self.modules = ""
        return ModelOutput(self.head(self.features(views["face"]).flatten(1)))


@mertk.hookimpl
def register_models(register):
    register("faulty", FaultyModel)


def die(shared, task):
    """An executor task whose worker process always dies."""
    os.kill(os.getpid(), signal.SIGKILL)
