"""Fixtures of the inference tests: a tiny real run on a few demo clips, and a tiny model.

The run is real end to end (demo frames on disk -> dlib -> TV-L1 -> views -> LOSO training ->
exported artefact), kept small: 3 demo subjects (27 clips) listed in a manifest CSV, a narrow
fusion layer and a few epochs. It is shared by the tests of this folder (session scope).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

import mertk

SUBJECTS = 3
EPOCHS = 12
VIEWS = {"face": {"name": "full-face", "size": 28}, "hars": {"name": "hars", "regions": ["eyes", "mouth"], "size": 28}}


@pytest.fixture(scope="session")
def components() -> mertk.Components:
    return mertk.load_components(autoload=False)


@dataclass
class TinyRun:
    """A finished run: its folder, the manifest it read, the manifest's rows and the config file."""

    path: Path
    manifest: Path
    rows: list[dict[str, str]]
    config: Path


def write_manifest(path: Path, samples, class_names) -> list[dict[str, str]]:
    """A manifest CSV of demo samples (frames folders with annotated frame numbers)."""
    rows = [{"sample": s.clip, "subject": s.subject.split("/")[1], "dataset": "demo", "label": class_names[s.label],
             "frames": str(s.frames[0].parent), "onset": str(s.meta["onset_frame"]),
             "apex": str(s.meta["apex_frame"]), "offset": str(s.meta["offset_frame"])} for s in samples]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, components: mertk.Components) -> TinyRun:
    from mertk.config import load_config
    from mertk.engine.runner import run_experiment

    base = tmp_path_factory.mktemp("inference")
    load = components.build("dataset", {"name": "demo", "root": str(base / "demo")}).load()
    subjects = sorted({s.subject for s in load.samples})[:SUBJECTS]
    manifest = base / "manifest.csv"
    rows = write_manifest(manifest, [s for s in load.samples if s.subject in subjects], load.class_names)
    config = {
        "name": "tiny", "seed": 1, "dataset": {"name": "manifest", "path": str(manifest)}, "protocol": "loso",
        "preprocess": {"views": VIEWS, "cache_dir": str(base / "cache"), "workers": 2},
        "model": {"name": "dual-atme", "hidden": 32},
        "loss": [{"name": "focal"}, {"name": "similarity", "weight": 0.01}],
        "train": {"epochs": EPOCHS, "batch_size": 16, "device": "cpu"},
        "output": {"dir": str(base / "runs"), "checkpoints": True, "export_model": True},
    }
    config_file = base / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(config))
    path = run_experiment(load_config(config_file, components), components, run_dir=base / "runs" / "tiny")
    return TinyRun(path, manifest, rows, config_file)


@pytest.fixture(scope="session")
def small_model(components: mertk.Components):
    """A DualATME (random weights, lazy layers materialised) with its config, for fast artefact tests."""
    from mertk.config import validate_config
    from mertk.engine.trainer import build_model

    config = validate_config({"dataset": {"name": "demo"}, "model": {"name": "dual-atme", "hidden": 16},
                              "preprocess": {"views": VIEWS}}, components)
    torch.manual_seed(0)
    sample = {name: torch.rand(2, 3, 28, 28) for name in VIEWS}
    model = build_model(config.model, components, num_classes=3, in_channels=3, sample=sample)
    return model, config
