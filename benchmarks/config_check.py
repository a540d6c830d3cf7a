"""How long `mertk config check` takes, as ratios against starting Python (`python -c pass`).

A typo in a component or argument name is found from the factories' source
(:mod:`mertk.signatures`) before torch loads; a valid config is type-checked with the imported
factories, which loads torch. The target: a typo reported in under 1 s on an idle 2-core
machine, shown here as a ratio to the interpreter's start in the same run (the machine's load
scales both).

Usage::

    python benchmarks/config_check.py [--repeat 7] [--config dual-atme.yaml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], repeat: int, expect_fail: bool) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if (proc.returncode != 0) != expect_fail:
            sys.exit(f"unexpected exit {proc.returncode} from {' '.join(command)}:\n{proc.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--config", default="dual-atme.yaml")
    args = parser.parse_args()
    mertk = [sys.executable, "-m", "mertk", "config", "check", args.config]
    cases = {
        "python -c pass": ([sys.executable, "-c", "pass"], False),
        "typo in an argument name": ([*mertk, "--set", "model.attention.reductoin=8"], True),
        "typo in a component name": ([*mertk, "--set", "preprocess.flow.name=tvl2"], True),
        "valid config (types checked, torch loads)": (mertk, False),
    }
    print(f"median of {args.repeat} runs; load average (1, 5, 15 min) {os.getloadavg()}")
    baseline = None
    for label, (command, fails) in cases.items():
        seconds = median_seconds(command, args.repeat, fails)
        baseline = baseline or seconds
        print(f"{label:<44} {seconds:6.2f} s  x{seconds / baseline:5.1f} python start")


if __name__ == "__main__":
    main()
