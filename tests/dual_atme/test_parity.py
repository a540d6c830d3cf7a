"""benchmarks/parity.py on any flows manifest (``--config dual-atme-flows.yaml --set dataset.path=...``):
every arm trains on the same folds, and the report pairs the arms overall and per source dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_parity_runs_on_a_flows_manifest_and_reports_each_dataset(flow_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "parity.jsonl"
    command = [sys.executable, str(ROOT / "benchmarks" / "parity.py"), "--config", "dual-atme-flows.yaml",
               "--set", f"dataset.path={flow_manifest}", "--set", "train.epochs=1", "--set", "train.batch_size=8",
               "--set", f"preprocess.cache_dir={tmp_path / 'cache'}", "--set", "preprocess.workers=1",
               "--folds", "2", "--seeds", "2", "--jobs", "1", "--out", str(out),
               "--arms", "reference", "reference-upper", "mertk", "mertk-plain-adam"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MERTK_FLOW_MANIFEST": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["arm"], r["seed"]) for r in runs) == sorted(
        (arm, seed) for arm in ("reference", "reference-upper", "mertk", "mertk-plain-adam") for seed in (1, 2))
    assert all(set(r["per_dataset"]) == {"alpha", "beta"} for r in runs)
    lines = result.stdout.splitlines()
    for arm, base in (("mertk", "reference"), ("mertk", "reference-upper"), ("reference-upper", "reference"),
                      ("mertk-plain-adam", "mertk")):
        rows = [line.split()[3] for line in lines if line.startswith(f"{arm} - {base} ")]
        assert rows == ["all", "alpha", "beta"], (arm, base, result.stdout)
    assert not any(line.startswith("reference - reference-upper") for line in lines)

    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert again.returncode == 0 and "trainings to run" not in again.stdout  # finished runs are kept
    assert len(out.read_text().splitlines()) == len(runs)


def test_same_init_arm_starts_each_fold_from_the_reference_weights(flow_manifest: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``mertk-same-init``: the model mertk's fold training builds for seed ``1000 s + i`` has exactly the
    weights ``train_reference(seed=1000 s + i, attention="upper")`` starts from, and the global generator is
    left where mertk's own build leaves it (mertk's dropout masks); without the arm the weights differ."""
    import argparse

    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import parity
    from reference import AuthorsDualATME, to_mertk_state

    from mertk.engine.fold import setup_fold

    monkeypatch.setenv("MERTK_FLOW_MANIFEST", "")
    folds = parity.prepare(argparse.Namespace(config="dual-atme-flows.yaml", folds=2, set=[
        f"dataset.path={flow_manifest}", f"preprocess.cache_dir={tmp_path / 'cache'}", "preprocess.workers=1"]))
    ctx, fold = parity.fold_context("mertk-same-init"), folds[1]
    torch.manual_seed(1001)
    expected = to_mertk_state(AuthorsDualATME(3, 3, "upper"))
    with parity.reference_init("upper"):
        same = setup_fold(ctx, fold.train, seed=1001)
        after_same = torch.get_rng_state()
    own = setup_fold(ctx, fold.train, seed=1001)
    assert torch.equal(torch.get_rng_state(), after_same)
    state, own_state = same.model.state_dict(), own.model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in expected.items())
    assert not torch.equal(own_state["head.0.weight"], expected["head.0.weight"])
    assert not torch.equal(own_state["upper.layers.0.entry.0.weight"], expected["upper.layers.0.entry.0.weight"])
