"""Where a ``local`` worker pool's start-up time goes: a timeline, each process's imports, the shared data.

Usage::

    python benchmarks/worker_startup.py [--config dual-atme.yaml] [--workers 2] [--epochs 2]

Runs ``mertk run CONFIG`` once on ``executor: {name: local, workers: N, threads: 1}`` with
``PYTHONPROFILEIMPORTTIME=1`` (``python -X importtime`` in every process, worker processes
included) and a ``sitecustomize`` that notes each process's start and end time and which large
optional packages it imported. Prints when each process started (seconds after the driver),
each process's total import time and its largest top-level imports. Then builds the same run
in this process up to the point where the folds are handed out, and times pickling the shared
data that every worker receives (size, pickling, unpickling).

To profile another checkout of the code, run it with ``PYTHONSAFEPATH=1 PYTHONPATH=DIR`` (without
``PYTHONSAFEPATH``, ``python -m mertk`` imports mertk from the working folder first).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ["mlflow", "tensorboard", "matplotlib", "cv2", "dlib", "ray", "torch", "torch._dynamo"]

HOOK = '''
import atexit, json, os, sys, time
_T0 = time.time()
_DIR = os.environ["WORKER_STARTUP_DIR"]
os.dup2(os.open(f"{_DIR}/imports-{os.getpid()}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
def _end():
    with open(f"{_DIR}/process-{os.getpid()}.json", "w") as f:
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "argv": sys.argv, "start": _T0, "end": time.time(),
                   "heavy": [m for m in %r if m in sys.modules]}, f)
atexit.register(_end)
''' % HEAVY


def imports(path: Path) -> tuple[float, dict[str, float]]:
    """(total seconds, {top-level module: cumulative seconds}) from one process's importtime lines."""
    rows = [line.split("|") for line in path.read_text().splitlines()
            if line.startswith("import time:") and "self [us]" not in line]
    total = sum(int(r[0].split(":")[1]) for r in rows) / 1e6
    top = {r[2].strip(): int(r[1]) / 1e6 for r in rows if len(r[2]) - len(r[2].lstrip()) <= 1}
    return total, top


def shared_data(config: str, sets: list[str]) -> None:
    """Build the run in this process until the folds are handed out; time pickling what workers receive,
    then end this process."""
    import mertk.execution.local as local
    from mertk.cli import main as mertk_main

    def measure(self, function, shared, tasks):
        start = time.perf_counter()
        blob = pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)
        dumped = time.perf_counter() - start
        start = time.perf_counter()
        pickle.loads(blob)
        print(f"shared data sent to each worker: {len(blob) / 1e6:.2f} MB, pickled in {dumped * 1000:.0f} ms, "
              f"unpickled in {(time.perf_counter() - start) * 1000:.0f} ms (in the driver)", flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        os._exit(0)  # nothing else to measure: leave without training

    local.LocalExecutor._in_pool = measure  # noqa: SLF001 - the instrument: stop where the pool would start
    run_dir = tempfile.mkdtemp(prefix="worker-startup-")
    sys.argv = ["mertk", "run", config, "--run-dir", run_dir, *sets]
    mertk_main()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="dual-atme.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    sets = [x for o in ["output.export_model=false", f"train.epochs={args.epochs}",
                        f"executor={{name: local, workers: {args.workers}, threads: 1}}"] for x in ("--set", o)]
    print(f"cores: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        hook, out = Path(tmp, "hook"), Path(tmp, "out")
        hook.mkdir()
        out.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
               "PYTHONPROFILEIMPORTTIME": "1", "WORKER_STARTUP_DIR": str(out)}
        subprocess.run([sys.executable, "-m", "mertk", "run", args.config, "--run-dir", f"{tmp}/run", *sets],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs = sorted((json.loads(p.read_text()) for p in out.glob("process-*.json")), key=lambda p: p["start"])
        t0 = procs[0]["start"]
        for p in procs:
            role = ("driver" if p is procs[0] else "worker" if p["argv"] and p["argv"][0].endswith("__main__.py")
                    else "helper (" + " ".join(p["argv"])[:30] + ")")
            total, top = imports(out / f"imports-{p['pid']}.txt")
            largest = ", ".join(f"{m} {s:.2f}" for m, s in sorted(top.items(), key=lambda x: -x[1])[:4])
            print(f"{role} {p['pid']}: started at {p['start'] - t0:.2f} s, ended at {p['end'] - t0:.2f} s; "
                  f"imports {total:.2f} s ({largest}); imported {', '.join(p['heavy']) or 'none'} of {HEAVY}")
    print(f"load average {os.getloadavg()}", flush=True)
    shared_data(args.config, sets)


if __name__ == "__main__":
    main()
