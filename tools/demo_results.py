"""Measure the quickstart recipe (``mertk run dual-atme.yaml``, 60 epochs, demo data, LOSO) over
several seeds, and record each run with everything a quoted number needs.

    python tools/demo_results.py --seeds 1 2 3      # one run after another, ~3-6 min each on 2 cores
    python tools/demo_results.py --aus --seeds 1 2 3 --set train.epochs=N   # the two AU configs

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

With ``--aus`` it runs the bundled action-unit configs instead (:data:`AU_RECIPES`:
``resnet18-aus.yaml`` and ``dual-atme-aus.yaml``, flows demo, leave-one-dataset-out), each seed of
each config, and appends to ``benchmarks/results/demo-aus.jsonl``: the same fields, with the mean AU
F1 (``au_f1``), the per-AU F1 (``per_au``) and positives (``support``) in place of UF1 / UAR /
accuracy, and ``chance``: what two predictors that learn nothing score on the same clips and the
same leave-one-dataset-out folds, computed from the run's true labels (:func:`chance_levels`).
``--set KEY=VALUE`` adds an override to every run (for instance fewer epochs), and it is part of
the recorded command. ``<!-- demo-au-results -->`` renders this file.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from getting_started import cpu_model, fresh_run

from mertk.cpus import available_cpus
from mertk.evaluation.metrics import multilabel_scores

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "demo-dual-atme.jsonl"
AU_RESULTS = ROOT / "benchmarks" / "results" / "demo-aus.jsonl"
#: The bundled action-unit configs ``--aus`` runs, in this order for each seed.
AU_RECIPES = ("resnet18-aus.yaml", "dual-atme-aus.yaml")
#: Random draws averaged for the prevalence predictor's expected F1 (:func:`chance_levels`).
CHANCE_DRAWS = 1000


def git_commit() -> str:
    """``git describe --always --dirty`` of this checkout: the code the runs used."""
    proc = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def chance_levels(predictions: Path, names: list[str], draws: int = CHANCE_DRAWS) -> dict[str, Any]:
    """Mean AU F1 of two predictors that learn nothing, on the clips and folds of a run's
    ``predictions.csv`` (its true 0/1 ``label`` per AU and its ``fold``), pooled and scored as the
    run is (:func:`mertk.evaluation.metrics.multilabel_scores`):

    - ``all_present``: says every AU is present in every clip;
    - ``prevalence``: draws each AU of a test clip present with that AU's prevalence in the fold's
      training part (every other clip of the run: leave-one-dataset-out trains on all the other
      sources), independently; the mean over ``draws`` draws (seeded, so the file is reproducible).

    Returns ``{"all_present": {"au_f1", "per_au"}, "prevalence": {"au_f1", "per_au", "draws"}}``.
    """
    with predictions.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    true = np.array([[int(v) for v in row["label"].split()] for row in rows], dtype=bool).reshape(-1, len(names))
    folds = np.array([row["fold"] for row in rows], dtype=object)
    present = multilabel_scores(true, np.ones_like(true), names)
    rate = np.zeros(true.shape)
    for fold in sorted(set(folds)):
        test = folds == fold
        rate[test] = true[~test].mean(0)  # the training part's prevalence of each AU
    rng = np.random.default_rng(0)
    per_au = np.zeros(len(names))
    for _ in range(draws):
        drawn = multilabel_scores(true, rng.random(true.shape) < rate, names)
        per_au += np.array([drawn["per_au"][a] for a in names])
    per_au /= draws
    return {"all_present": {"au_f1": present["au_f1"], "per_au": present["per_au"]},
            "prevalence": {"au_f1": float(per_au.mean()), "per_au": dict(zip(names, per_au.tolist())),
                           "draws": draws}}


def measure(seed: int, commit: str, recipe: str = "dual-atme.yaml", extra: list[str] | None = None) -> dict[str, Any]:
    """One fresh run of ``recipe`` (the quickstart recipe by default) with ``seed`` and the
    overrides ``extra`` (the checkout at ``commit``); its record (see the module docstring)."""
    overrides = [f"seed={seed}", *(extra or [])]
    start = time.perf_counter()
    with fresh_run(overrides, recipe) as (_, run_dir):
        seconds = time.perf_counter() - start
        metrics = json.loads((run_dir / "metrics.json").read_text())
        environment = json.loads((run_dir / "environment.json").read_text())
        if metrics.get("task") == "aus":
            names = list(metrics["aus"])
            scores = {"task": "aus", "aus": names,
                      **{k: metrics["overall"][k] for k in ("au_f1", "per_au", "support", "n")},
                      "chance": chance_levels(run_dir / "predictions.csv", names)}
        else:
            scores = {k: metrics["overall"][k] for k in ("uf1", "uar", "accuracy", "n")}
    cores = available_cpus()
    return {
        "recipe": recipe,
        "seed": seed,
        "command": f"mertk run {recipe} " + " ".join(f"--set {o}" for o in overrides),
        **scores,
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
    parser.add_argument("--aus", action="store_true",
                        help=f"run the action-unit configs ({', '.join(AU_RECIPES)}) instead, into "
                             f"{AU_RESULTS.relative_to(ROOT)} unless --out says otherwise")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every run, recorded in its command (repeatable)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON lines file (default {RESULTS.relative_to(ROOT)}, with --aus "
                             f"{AU_RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    out = args.out or (AU_RESULTS if args.aus else RESULTS)
    recipes = AU_RECIPES if args.aus else ("dual-atme.yaml",)
    commit, cpu = git_commit(), cpu_model()  # the code as the script starts: each run imports it
    done = set()
    if out.exists():
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        done = {(r["recipe"], r["command"]) for r in records if r["cpu"] == cpu}
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for recipe in recipes:
            overrides = [f"seed={seed}", *args.overrides]
            if (recipe, f"mertk run {recipe} " + " ".join(f"--set {o}" for o in overrides)) in done:
                print(f"{recipe} seed {seed}: already in {out} for this CPU, skipped")
                continue
            record = measure(seed, commit, recipe, args.overrides)
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            chance = record.get("chance", {})
            score = (f"mean AU F1 {record['au_f1']:.4f} (chance: all present {chance['all_present']['au_f1']:.4f}, "
                     f"prevalence {chance['prevalence']['au_f1']:.4f})" if args.aus else f"UF1 {record['uf1']:.4f}")
            print(f"{recipe} seed {seed}: {score} ({record['precision']}, {record['cpu']}, "
                  f"{record['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
