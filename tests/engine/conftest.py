"""Fixtures for engine tests: a tiny config and synthetic prepared data (no preprocessing)."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
import yaml

import mertk
from mertk.api import Sample
from mertk.config import load_config
from mertk.engine import fold as fold_module
from mertk.engine import run as run_module
from mertk.engine.fold import FoldContext
from mertk.engine.run import ExperimentData

TINY = {
    "name": "tiny",
    "dataset": {"name": "demo"},
    "protocol": "loso",
    "model": {"name": "dual-atme", "hidden": 32},
    "preprocess": {"views": {"face": "full-face", "hars": "hars"}},  # the views dual-atme reads
    "loss": [{"name": "focal"}, {"name": "similarity", "weight": 0.01}],
    "train": {"epochs": 3, "batch_size": 8},
    "output": {"export_model": False},
    "executor": {"name": "local", "workers": 1},  # folds in this process, where monkeypatches reach them
}


@pytest.fixture(scope="session")
def components() -> mertk.Components:
    return mertk.load_components()


def synthetic_data(subjects: int = 4, per_subject: int | Sequence[int] = 6, size: int = 28) -> ExperimentData:
    """Separable 3-class data: class k brightens channel k of both views.

    ``per_subject``: samples of every subject, or of each subject in turn.
    """
    g = torch.Generator().manual_seed(0)
    counts = [per_subject] * subjects if isinstance(per_subject, int) else list(per_subject)
    samples, tensors = [], []
    for s, count in enumerate(counts):
        for c in range(count):
            label = c % 3
            dataset = "alpha" if s % 2 else "beta"
            samples.append(Sample(id=f"{dataset}/s{s}/c{c}", subject=f"{dataset}/s{s}", clip=f"c{c}",
                                  dataset=dataset, label=label))
            x = torch.rand(3, size, size, generator=g) * 0.3
            x[label] += 0.5
            tensors.append(x)
    face = torch.stack(tensors)
    return ExperimentData(samples, {"face": face, "hars": face.flip(-1).clone()}, ("negative", "positive", "surprise"), [])


@pytest.fixture
def tiny_config() -> dict:
    """A copy of the tiny config mapping (test modules cannot import conftest under importlib mode)."""
    return copy.deepcopy(TINY)


@pytest.fixture
def make_config(tmp_path: Path, components: mertk.Components):
    """Write a tiny config (with ``changes`` merged in) and load it."""
    def make(changes: dict | None = None, overrides: tuple[str, ...] = ()):
        data = {**TINY, "output": {**TINY["output"], "dir": str(tmp_path / "runs")}, **(changes or {})}
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_config(path, components, overrides)
    return make


@pytest.fixture
def fake_data(monkeypatch: pytest.MonkeyPatch) -> ExperimentData:
    """Replace dataset loading and preprocessing by :func:`synthetic_data`."""
    data = synthetic_data()
    monkeypatch.setattr(run_module, "load_data", lambda loaded, components, **kwargs: data)
    return data


def folds_of(run_dir: Path) -> dict[str, dict]:
    """``folds/NNN.json`` by file name, less the wall-clock ``seconds`` of the fold and of each
    epoch (the only fields that differ)."""
    out = {}
    for path in sorted((run_dir / "folds").glob("*.json")):
        record = json.loads(path.read_text())
        record.pop("seconds")
        for epoch in record["history"]:
            epoch.pop("seconds")
        out[path.name] = record
    return out


def crash_on_fold(monkeypatch: pytest.MonkeyPatch, fold: int) -> list[str]:
    """Make the run stop (``KeyboardInterrupt``) once, when fold number ``fold`` (1-based, in the
    order folds start) starts training; the folds before it are written.

    Returns:
        The progress descriptions (``"fold 3/4 ..."``) of every fold that started, this one included;
        a test may clear it to count the folds a resume trains.
    """
    real, calls = fold_module.train_folds, []

    def train_folds(ctx, indices):
        for index in indices:
            calls.append(f"fold {index + 1}/{len(ctx.folds)} {ctx.folds[index].name}")
            if len(calls) == fold:
                monkeypatch.setattr(fold_module, "train_folds", counting)
                raise KeyboardInterrupt("simulated crash")
        return real(ctx, indices)

    def counting(ctx, indices):
        calls.extend(f"fold {index + 1}/{len(ctx.folds)} {ctx.folds[index].name}" for index in indices)
        return real(ctx, indices)

    monkeypatch.setattr(fold_module, "train_folds", train_folds)
    return calls


def context_of(loaded, components: mertk.Components, data: ExperimentData, inputs, labels, folds) -> FoldContext:
    """The fold context a run builds from these parts (``folds``: a protocol's folds)."""
    return FoldContext(loaded, components, tuple(data.samples), data.class_names, inputs, labels, tuple(folds))
