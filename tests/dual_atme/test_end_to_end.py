"""`mertk run` end to end on precomputed flow images (manifest), then `--resume` after a lost fold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mertk.cli import build_cli


def write_flows(root: Path, subjects: int = 3, per_class: int = 2, size: int = 48) -> Path:
    """Flow PNGs whose class moves a different face region (u, v, strain channels), plus a manifest."""
    rng = np.random.default_rng(0)
    rows = ["sample,subject,dataset,label,flow"]
    for s in range(subjects):
        for label in range(3):
            for c in range(per_class):
                image = rng.normal(128, 10, (size, size, 3))
                rows_band = {0: slice(8, 18), 1: slice(30, 42), 2: slice(20, 30)}[label]
                image[rows_band, :, label] += 90
                name = f"flows/s{s}_{label}_{c}.png"
                (root / "flows").mkdir(parents=True, exist_ok=True)
                Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(root / name)
                rows.append(f"c{label}{c},s{s},{'casme2' if s % 2 else 'samm'},{label},{name}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def mertk(*args: str) -> str:
    result = CliRunner().invoke(build_cli(args), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_bundled_flow_config_runs_loso_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERTK_FLOW_MANIFEST", str(write_flows(tmp_path / "data")))
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    sets = ["--set", "train.epochs=4", "--set", "train.batch_size=8", "--set", "output.export_model=false",
            "--set", f"preprocess.cache_dir={tmp_path / 'cache'}", "--set", "preprocess.workers=1"]
    out = mertk("run", "dual-atme-flows.yaml", "--run-dir", str(run_dir), *sets)
    assert str(run_dir) in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 18 and set(metrics["per_group"]) == {"casme2", "samm"}
    assert metrics["folds"] == 3
    for name in ("report.md", "confusion_matrix.png", "per_class.png", "predictions.csv", "config.yaml"):
        assert (run_dir / name).is_file()

    # lose the last fold and the results, as if the run had been killed during fold 3
    kept = [(run_dir / "folds" / f"{i:03d}.json").read_text() for i in range(2)]
    (run_dir / "folds" / "002.json").unlink()
    (run_dir / "metrics.json").unlink()
    mertk("run", "--resume", str(run_dir))
    assert [(run_dir / "folds" / f"{i:03d}.json").read_text() for i in range(2)] == kept
    assert (run_dir / "folds" / "002.json").is_file()
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 18
    assert "finished earlier, kept" in (run_dir / "run.log").read_text()
