"""The out-of-tree example plugin, installed as a real distribution, is found via its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mertk-example-plugin"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """pip-install the example (its own pyproject, no dependencies) into a private folder."""
    target = tmp_path_factory.mktemp("example-site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(target.glob("mertk_example_plugin-0.2.0.dist-info"))
    return target


def _run(code: str, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("MERTK_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def test_listed_by_mertk_plugins(example_site):
    proc = _run("from mertk.cli import main; main(['plugins'])", example_site)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("example  (mertk-example-plugin 0.2.0)")
    assert sorted([lines[start + 1].split(), lines[start + 2].split()]) == [["attention", "eca"], ["loss", "poly1"]]


def test_components_follow_contracts(example_site):
    proc = _run("""
        import mertk
        from mertk.testing import check_attention, check_loss
        components = mertk.load_components()
        assert components["attention"].get("eca").plugin == "example"
        check_attention(components.create("attention", "eca", channels=48, kernel_size=5))
        check_loss(components.create("loss", "poly1", epsilon=2.0))
        print("ok")
    """, example_site)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_not_loaded_when_autoload_disabled(example_site):
    proc = _run("""
        import os
        os.environ["MERTK_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        import mertk
        print("eca" in mertk.load_components()["attention"])
    """, example_site)
    assert proc.stdout.strip() == "False", proc.stderr


def test_config_using_both_components_runs(example_site, tmp_path):
    """A LOSO run with the example's attention and loss, on a manifest of flow images."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["sample,subject,dataset,label,flow"]
    for subject in range(3):
        for clip in range(6):
            label = clip % 3
            image = (rng.random((32, 32, 3)) * 60).astype(np.uint8)
            image[..., label] += 120  # the class brightens one channel: learnable in a few epochs
            cv2.imwrite(str(tmp_path / f"s{subject}c{clip}.png"), image)
            rows.append(f"c{clip},s{subject},toy,{label},s{subject}c{clip}.png")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "example.yaml").write_text(textwrap.dedent(f"""
        extends: dual-atme-flows.yaml
        name: example-plugin-run
        dataset: {{name: manifest, path: {tmp_path / 'manifest.csv'}}}
        model: {{name: dual-atme, attention: {{name: eca, kernel_size: 3}}}}
        loss: [{{name: poly1, epsilon: 1.0}}]
        train: {{epochs: 2, batch_size: 8}}
        preprocess: {{cache_dir: {tmp_path / 'cache'}}}
        output: {{export_model: false}}
    """))
    proc = _run(f"""
        from mertk.cli import main
        main(["run", {str(tmp_path / 'example.yaml')!r}, "--run-dir", {str(tmp_path / 'run')!r}])
    """, example_site)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 18
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "eca" in config and "poly1" in config
    import csv

    with open(tmp_path / "run" / "preprocessing.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 18 and {r["apex_source"] for r in rows} == {"precomputed"}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Apex from: precomputed 18." in report
