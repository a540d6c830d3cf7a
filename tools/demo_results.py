"""Measure the quickstart recipe (``mertk run dual-atme.yaml``, 60 epochs, demo data, LOSO) over
several seeds, and record each run with everything a quoted number needs.

    python tools/demo_results.py --seeds 1 2 3      # one run after another, ~3-6 min each on 2 cores

Each seed runs ``mertk run dual-atme.yaml --set seed=S`` as a new user would
(:func:`getting_started.fresh_run`: an empty folder, the bundled config) and appends one JSON line
to ``benchmarks/results/demo-dual-atme.jsonl`` as soon as it finishes: the seed, the command,
UF1 / UAR / accuracy / n, what ``train.precision`` resolved to (``arithmetic`` in the run's
``environment.json``), the CPU model (``/proc/cpuinfo``), the cores the run could use and why,
the device, the mertk version and git commit, torch's version, the date and the seconds the run
took. A seed already in the file for this CPU model is skipped, so the script can be stopped and continued.

The docs do not type these numbers: ``docs/_hooks/results.py`` renders a summary (mean, min-max,
number of seeds, machine, precision, version and date) wherever a page has
``<!-- demo-results -->``. Runs on another machine or precision are listed as a separate row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from getting_started import cpu_model, fresh_run

from mertk.cpus import available_cpus

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo-dual-atme.jsonl"


def git_commit() -> str:
    """``git describe --always --dirty`` of this checkout: the code the runs used."""
    proc = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def measure(seed: int, commit: str) -> dict[str, Any]:
    """One fresh run of the quickstart recipe with ``seed`` (the checkout at ``commit``); its
    record (see the module docstring)."""
    overrides = [f"seed={seed}"]
    start = time.perf_counter()
    with fresh_run(overrides) as (_, run_dir):
        seconds = time.perf_counter() - start
        metrics = json.loads((run_dir / "metrics.json").read_text())
        environment = json.loads((run_dir / "environment.json").read_text())
    cores = available_cpus()
    return {
        "recipe": "dual-atme.yaml",
        "seed": seed,
        "command": "mertk run dual-atme.yaml " + " ".join(f"--set {o}" for o in overrides),
        **{k: metrics["overall"][k] for k in ("uf1", "uar", "accuracy", "n")},
        "precision": environment["arithmetic"],
        "device": environment["device"],
        "cpu": cpu_model(),
        "cores": cores.count,
        "cores_reason": cores.reason,
        "threads": environment["threads"],
        "mertk": environment["packages"]["mertk"],
        "commit": commit,
        "torch": environment["packages"]["torch"],
        "date": environment["time"],
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds to run (default 1 2 3)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"JSON lines file (default {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    commit, cpu = git_commit(), cpu_model()  # the code as the script starts: each run imports it
    done = set()
    if args.out.exists():
        records = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
        done = {r["seed"] for r in records if r["cpu"] == cpu}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        if seed in done:
            print(f"seed {seed}: already in {args.out} for this CPU, skipped")
            continue
        record = measure(seed, commit)
        with args.out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        print(f"seed {seed}: UF1 {record['uf1']:.4f} ({record['precision']}, {record['cpu']}, "
              f"{record['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
