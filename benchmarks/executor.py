"""Whole-LOSO wall time of a run config on each executor, as speed-ups over local 1 worker x 2 threads.

Usage::

    python benchmarks/executor.py [--configs dual-atme.yaml dual-atme-demo-composite.yaml]
        [--arms local-1x2 local-2x1 ray] [--epochs 2 0] [--repeats 1] [--set KEY=VALUE ...] [--out DIR]
        [--before DIR]

``--epochs`` takes one or more ``train.epochs`` values (0: the config's); the default, ``2 0``,
times a short run (2 epochs: mostly start-up) and a long one (the config's epochs) in the same
invocation, so their ratios are measured under the same load.

Each arm is one ``mertk run CONFIG`` in a fresh process, timed wall-clock from start to exit:
start-up, reading the cached views, every LOSO fold, the report (and for ``ray`` starting a
local Ray with the machine's cores). The exported all-samples model is off in every arm (it
trains in the driver after the folds, the same whatever the executor). The config's
preprocessing is cached once beforehand (``mertk preprocess``), so no arm pays for it. With
``--repeats`` above 1 the arms run interleaved and the median is reported.

Arms (``--arms``):
    local-1x2: ``executor: {name: local, workers: 1}`` with ``train.threads: 2`` (the baseline);
    local-2x1: ``executor: {name: local, workers: 2, threads: 1}``;
    local-3x1, local-4x1: more single-thread workers (oversubscribed on 2 cores);
    ray: ``executor: {name: ray, num_cpus: 1}`` (a local Ray, one thread per task).

``--before DIR`` times every arm a second time with mertk imported from ``DIR`` (another
checkout of the code, e.g. ``git archive BASE | tar -x -C DIR``), interleaved with the arms of
this checkout, as ``ARM@before``: a change and the code before it, measured under the same load.

Prints one line per run and a table: arm, seconds, speed-up over the baseline, the load average
before and after, and how the arm's per-fold predictions compare with the baseline's (folds
whose predicted classes all agree, and the largest difference of a class probability). Results
also go to ``OUT/executor.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARMS = {
    "local-1x2": ["executor={name: local, workers: 1}", "train.threads=2"],
    "local-2x1": ["executor={name: local, workers: 2, threads: 1}"],
    "local-3x1": ["executor={name: local, workers: 3, threads: 1}"],
    "local-4x1": ["executor={name: local, workers: 4, threads: 1}"],
    "ray": ["executor={name: ray, num_cpus: 1}"],
}
BASELINE = "local-1x2"


def mertk(args: list[str], log: Path, code: Path | None = None) -> float:
    """Run ``python -m mertk ARGS`` (mertk imported from ``code`` when given), stderr to ``log``;
    returns the wall time in seconds. ``python -m`` would import mertk from the working folder
    first; ``PYTHONSAFEPATH`` stops that, so ``code`` (on ``PYTHONPATH``) is what runs."""
    env = {**os.environ, "PYTHONSAFEPATH": "1",
           "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])} if code else None
    start = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.run([sys.executable, "-m", "mertk", *args], stdout=subprocess.DEVNULL, stderr=err, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"mertk {' '.join(args)} failed; see {log}")
    return seconds


def folds(run_dir: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((run_dir / "folds").glob("*.json"))}


def compare(run_dir: Path, baseline_dir: Path) -> tuple[int, int, float]:
    """(folds with identical predicted classes, folds, largest |probability difference|)."""
    mine, base = folds(run_dir), folds(baseline_dir)
    same = sum(mine[k]["y_pred"] == base[k]["y_pred"] for k in base)
    diff = max((abs(a - b) for k in base for pa, pb in zip(mine[k]["probs"], base[k]["probs"])
                for a, b in zip(pa, pb)), default=0.0)
    return same, len(base), diff


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)"


def bench(config: str, epochs: int, arms: list[str], args: argparse.Namespace, stamp: str) -> list[dict]:
    """Time every arm on ``config`` with ``train.epochs=epochs`` (0: the config's); print the table."""
    common = ["output.export_model=false", *([f"train.epochs={epochs}"] if epochs else []), *args.overrides]
    sets = [x for o in common for x in ("--set", o)]
    stem = f"{Path(config).stem}-e{epochs or 'cfg'}"
    print(f"{config}, common settings: {' '.join(common)}", flush=True)
    seconds = mertk(["preprocess", config, *sets], args.out / f"{stem}-preprocess.log")
    print(f"{config}: preprocessing cached ({seconds:.0f} s)", flush=True)
    times: dict[str, list[float]] = {a: [] for a in arms}
    loads: dict[str, list[tuple[float, float]]] = {a: [] for a in arms}
    for repeat in range(args.repeats):
        for arm in arms if repeat % 2 == 0 else arms[::-1]:
            run_dir = args.out / f"{stem}-{stamp}-{arm}-{repeat}"
            before = os.getloadavg()[0]
            name, _, code = arm.partition("@")
            seconds = mertk(["run", config, "--run-dir", str(run_dir), *sets,
                             *[x for o in ARMS[name] for x in ("--set", o)]], args.out / f"{run_dir.name}.log",
                            args.before if code else None)
            after = os.getloadavg()[0]
            times[arm].append(seconds)
            loads[arm].append((before, after))
            n = len(folds(run_dir))
            print(f"{config} epochs={epochs or 'config'} {arm} #{repeat}: {seconds:.1f} s for {n} folds "
                  f"(load {before:.1f} -> {after:.1f})", flush=True)
    base = statistics.median(times[BASELINE])
    env = json.loads((args.out / f"{stem}-{stamp}-{BASELINE}-0" / "environment.json").read_text())
    print(f"\n{config}, epochs {epochs or 'of the config'}: {n} folds, arithmetic {env['arithmetic']}\n")
    print("| arm | seconds | speed-up | load before -> after | folds with the same predictions | max prob. diff |")
    print("|---|---|---|---|---|---|")
    results = []
    for arm in arms:
        median = statistics.median(times[arm])
        same, total, diff = compare(args.out / f"{stem}-{stamp}-{arm}-0", args.out / f"{stem}-{stamp}-{BASELINE}-0")
        load = f"{statistics.mean(b for b, _ in loads[arm]):.1f} -> {statistics.mean(a for _, a in loads[arm]):.1f}"
        print(f"| {arm} | {median:.1f} | {base / median:.2f}x | {load} | {same}/{total} | {diff:.2g} |")
        results.append({"config": config, "epochs": epochs or "config", "arm": arm, "seconds": times[arm],
                        "median": median, "speedup": base / median, "loads": loads[arm], "folds": total,
                        "same_predictions": same, "max_prob_diff": diff, "arithmetic": env["arithmetic"],
                        "settings": common, "date": stamp})
    print(flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["dual-atme.yaml", "dual-atme-demo-composite.yaml"])
    parser.add_argument("--arms", nargs="+", default=["local-1x2", "local-2x1", "ray"], choices=list(ARMS))
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 0],
                        help="train.epochs of each length timed, short then long (0: the config's)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-executor"))
    parser.add_argument("--before", type=Path, help="also time each arm with mertk imported from this checkout")
    args = parser.parse_args()
    arms = [BASELINE] + [a for a in args.arms if a != BASELINE]
    if args.before:
        args.before = args.before.resolve()
        arms = [x for a in arms for x in (a, f"{a}@before")]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"cores: {len(os.sched_getaffinity(0))}, load average {_load()}"
          + (f"; ARM@before: mertk from {args.before}" if args.before else ""), flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    for config in args.configs:
        for epochs in args.epochs:
            results.extend(bench(config, epochs, arms, args, stamp))
    print(f"load average at the end: {_load()}", flush=True)
    with open(args.out / "executor.jsonl", "a") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
