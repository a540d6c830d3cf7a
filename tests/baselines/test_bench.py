"""``mertk bench``: the comparison table from two bundled baseline configs, and reuse of finished runs."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from mertk.testing import invoke

CONFIGS = ["ststnet.yaml", "off-apexnet.yaml"]


def tiny(manifest: Path) -> list[str]:
    """``--set`` options: the manifest data, two epochs, one process."""
    return ["--set", f"dataset={{name: manifest, path: {manifest}}}", "--set", "train.epochs=2",
            "--set", "train.batch_size=8", "--set", "train.threads=1", "--set", "preprocess.workers=1",
            "--set", "preprocess.cache=false", "--set", "executor.workers=1"]


def bench(bench_dir: Path, manifest: Path, *extra: str):
    result = invoke(["bench", *CONFIGS, "--seeds", "2", "--dir", str(bench_dir), *tiny(manifest), *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def stamps(bench_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(bench_dir)): p.stat().st_mtime_ns
            for p in bench_dir.glob("*-seed*/**/*") if p.is_file() and p.suffix in (".json", ".csv")}


@pytest.mark.slow
def test_bench_table_then_rerun_reuses_every_finished_run(tmp_path, flow_manifest, monkeypatch):
    bench_dir = tmp_path / "bench"
    first = bench(bench_dir, flow_manifest)
    assert "0 reused, 0 resumed, 4 new" in first.output
    runs = sorted(p.name for p in bench_dir.iterdir() if p.is_dir())
    assert runs == ["off-apexnet-seed1", "off-apexnet-seed2", "ststnet-seed1", "ststnet-seed2"]

    # the CSV holds the mean and std over seeds of what each run folder's metrics.json says
    with open(bench_dir / "bench.csv", newline="") as f:
        table = {(r["config"], r["scope"]): r for r in csv.DictReader(f)}
    assert set(table) == {(c, s) for c in ("ststnet", "off-apexnet") for s in ("overall", "alpha", "beta")}
    for config in ("ststnet", "off-apexnet"):
        metrics = [json.loads((bench_dir / f"{config}-seed{s}" / "metrics.json").read_text()) for s in (1, 2)]
        for scope in ("overall", "beta"):
            uf1 = [m["overall"]["uf1"] if scope == "overall" else m["per_group"][scope]["uf1"] for m in metrics]
            row = table[(config, scope)]
            assert float(row["uf1_mean"]) == pytest.approx(statistics.fmean(uf1), abs=1e-4)
            assert float(row["uf1_std"]) == pytest.approx(statistics.stdev(uf1), abs=1e-4)
            assert row["seeds"] == "2"
        folds = [json.loads(p.read_text()) for s in (1, 2) for p in (bench_dir / f"{config}-seed{s}" / "folds").glob("*.json")]
        assert len(folds) == 8  # 4 subjects (LOSO) x 2 seeds
        assert float(table[(config, "overall")]["train_seconds_per_fold"]) == pytest.approx(
            statistics.fmean(f["seconds"] for f in folds), abs=1e-3)
    # STSTNet at 28 x 28: three 3x3 convs on 3 channels (3, 5, 8 filters) with BatchNorm, FC 16*5*5 -> 3
    assert int(table[("ststnet", "overall")]["params"]) == (27 + 1) * 16 + 2 * 16 + (400 + 1) * 3
    # multiply-adds x 2: the convs at 28 x 28 and the FC layer
    assert int(table[("ststnet", "overall")]["flops"]) == 2 * (27 * 16 * 28 * 28 + 400 * 3)
    assert int(table[("off-apexnet", "overall")]["params"]) > 1_000_000

    markdown = (bench_dir / "bench.md").read_text()
    assert "## Overall" in markdown and "## alpha" in markdown and "## beta" in markdown
    assert "| ststnet | ststnet | 2 |" in markdown and "±" in markdown
    assert (bench_dir / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # second invocation: nothing is trained again, every run file is left as it was
    before = stamps(bench_dir)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("mertk.engine.schedule.run_experiments", no_training)
    second = bench(bench_dir, flow_manifest)
    assert "4 reused, 0 resumed, 0 new" in second.output
    assert stamps(bench_dir) == before
    assert (bench_dir / "bench.csv").read_text().count("\n") == 7


@pytest.mark.slow
def test_bench_resumes_an_interrupted_run_and_keeps_its_finished_folds(tmp_path, flow_manifest):
    bench_dir = tmp_path / "bench"
    bench(bench_dir, flow_manifest)
    run = bench_dir / "ststnet-seed2"
    (run / "metrics.json").unlink()
    (run / "folds" / "003.json").unlink()  # as if stopped during the last fold
    kept = {p.name: p.stat().st_mtime_ns for p in (run / "folds").glob("*.json")}
    result = bench(bench_dir, flow_manifest)
    assert "3 reused, 1 resumed, 0 new" in result.output
    assert (run / "metrics.json").is_file() and (run / "folds" / "003.json").is_file()
    assert {p: (run / "folds" / p).stat().st_mtime_ns for p in kept} == kept


def test_bench_refuses_a_run_folder_made_with_another_config(tmp_path, flow_manifest):
    bench_dir = tmp_path / "bench"
    run = bench_dir / "ststnet-seed1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: ststnet\nseed: 1\ntrain: {epochs: 99}\n")
    result = invoke(["bench", "ststnet.yaml", "--dir", str(bench_dir), *tiny(flow_manifest)])
    assert result.exit_code == 1
    assert "ststnet-seed1: cannot resume" in result.output and "train.epochs: 99 -> 2" in result.output
    assert "--dir" in result.output


def test_bench_refuses_to_resume_a_run_with_another_recipe_naming_the_key(tmp_path, flow_manifest, monkeypatch):
    """A started run folder of a bench is resumed only with the recipe its fingerprint.json recorded."""
    from mertk.engine import run

    def stop(*args, **kwargs):
        raise KeyboardInterrupt("stopped before any fold")

    monkeypatch.setattr(run, "split_folds", stop)
    bench_dir = tmp_path / "bench"
    invoke(["bench", "ststnet.yaml", "--dir", str(bench_dir), *tiny(flow_manifest)])
    run = bench_dir / "ststnet-seed1"
    assert (run / "fingerprint.json").is_file() and not (run / "metrics.json").exists()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = invoke(["bench", "ststnet.yaml", "--dir", str(bench_dir), *tiny(flow_manifest),
                     "--set", "train.optimizer.lr=0.5"])
    assert result.exit_code == 1 and "train.optimizer.lr: 0.001 -> 0.5" in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_bench_refuses_configs_on_different_data(tmp_path, flow_manifest):
    other = tmp_path / "other.yaml"
    other.write_text(f"extends: ststnet.yaml\nname: other\ndataset: {{name: manifest, path: {tmp_path / 'x.csv'}}}\n")
    result = invoke(["bench", "ststnet.yaml", str(other), "--dir", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "same data and protocol" in result.output and "other.yaml" in result.output


def test_an_interrupted_bench_exits_130_says_how_to_resume_and_resumes(tmp_path, flow_manifest, monkeypatch):
    from mertk.engine import fold

    bench_dir, real, calls = tmp_path / "bench", fold.train_folds, []

    def interrupt_the_second_fold(ctx, indices):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(ctx, indices)

    monkeypatch.setattr(fold, "train_folds", interrupt_the_second_fold)
    args = ["bench", "ststnet.yaml", "--dir", str(bench_dir), *tiny(flow_manifest)]
    result = invoke(args)
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"interrupted; the finished folds are kept in {bench_dir}: run the same `mertk bench` command again to resume "
        "(each run's run.log says how to resume it alone)")
    run = bench_dir / "ststnet-seed1"
    assert (run / "run.log").read_text().splitlines()[-1] == f"interrupted; resume with `mertk run --resume {run}`"
    assert not (run / "run.lock").exists()
    monkeypatch.setattr(fold, "train_folds", real)
    again = invoke(args)
    assert again.exit_code == 0 and "0 reused, 1 resumed, 0 new" in again.output, again.output


@pytest.mark.slow
def test_bench_output_keeps_each_runs_lines_apart(tmp_path, flow_manifest):
    """Several runs go at once: every line a run prints (its start, data, folds, report, summary
    table and folder) names the run, so one run's summary cannot read as part of another run's
    folds; stdout holds the bench's table alone."""
    bench_dir = tmp_path / "bench"
    result = invoke(["bench", "ststnet.yaml", "--seeds", "2", "--dir", str(bench_dir), *tiny(flow_manifest),
                     "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.stdout.startswith("# Bench") and "| data | UF1 |" not in result.stdout
    own = ("[1/2] ", "[2/2] ", "runs: ", "wrote ")  # the bench's own lines
    by_run: dict[str, list[str]] = {"ststnet-seed1": [], "ststnet-seed2": []}
    for line in result.stderr.splitlines():
        if line.startswith(own):
            continue
        run, _, text = line.partition("] ")
        assert run.lstrip("[") in by_run, f"a line that names no run: {line!r}"
        by_run[run.lstrip("[")].append(text)
    for run, lines in by_run.items():
        assert lines[0].startswith(f"run ststnet: {bench_dir / run} (")
        assert [t.split(":")[0] for t in lines if t.startswith("fold ")] == [f"fold {i}/4 {s}" for i, s in
                                                                           enumerate(("alpha/s1", "alpha/s2",
                                                                                      "beta/s1", "beta/s2"), 1)]
        assert f"report: {bench_dir / run / 'report.md'}" in lines and "| data | UF1 | UAR | accuracy | n |" in lines
        assert lines[-1] == str(bench_dir / run)
    assert "[ststnet-seed1]" not in (bench_dir / "ststnet-seed1" / "run.log").read_text()  # the log is the run's own
