"""Make the numbers and picture of the docs' *Getting started* page from one run.

    python tools/getting_started.py            # the 2-epoch demo run the page shows

runs, in a fresh temporary folder holding a copy of the bundled config (so paths print as a user
sees them)::

    mertk run dual-atme.yaml --set train.epochs=2

and writes what the page includes:

- ``docs/_snippets/getting-started/command.txt``: the command;
- ``docs/_snippets/getting-started/output.txt``: everything it printed (stderr and stdout, in order);
- ``docs/_snippets/getting-started/report.md``: the run's ``report.md``;
- ``docs/_snippets/getting-started/tree.txt``: the run folder's entries, each described (:data:`ENTRIES`);
- ``docs/images/getting-started-confusion.png``: the run's ``confusion_matrix.png``;
- ``docs/_snippets/getting-started/run.json``: the run's metrics, machine, precision and date
  and the SHA-256 of the five files above, so a test can check they belong together.

The demo dataset comes from (and is generated into) mertk's cache, as for any user.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = ROOT / "docs" / "_snippets" / "getting-started"
PICTURE = ROOT / "docs" / "images" / "getting-started-confusion.png"


#: What each entry of a run folder holds, for the page's tree (``tree.txt``). An entry of the
#: run that is not here stops the script, so the tree cannot silently miss a file.
ENTRIES = {
    "config.yaml": "the merged, validated config (extends and --set applied), written once",
    "fingerprint.json": "what the results depend on; `--resume` refuses to continue with anything else",
    "environment.json": "command line, Python, platform, device, threads, arithmetic, package versions",
    "run.log": "the lines printed above",
    "preprocessing.csv": "per kept sample: the face detector used, onset and apex frames, where the apex "
                         "and the landmarks came from",
    "folds/": "one file per finished fold (000.json ...): training history, test ids, true and "
              "predicted labels, class probabilities, seconds",
    "predictions.csv": "every test prediction of every fold, with class probabilities",
    "history.csv": "per fold and epoch: loss (total and each term), training accuracy, learning rate, "
                   "seconds; appended as training goes",
    "metrics.json": "UF1, UAR, accuracy, n and confusion matrix: overall and per source dataset",
    "problems.csv": "data problems met (skipped samples, warnings), with file and row",
    "report.md": "the human-readable summary (below)",
    "confusion_matrix.png": "confusion matrices, overall and per source dataset",
    "per_class.png": "precision, recall and F1 per class",
    "training_curves.png": "loss and training accuracy per epoch: mean over folds, min-max band",
    "model/": "a model trained on all samples, for `mertk predict` / `mertk explain`",
}


def folder_tree(run_dir: Path, width: int = 22) -> str:
    """The run folder as a tree, one described line per entry, in the order of :data:`ENTRIES`
    (a folder's files listed under it, except ``folds/``, which has one file per fold)."""
    names = {p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir()}
    unknown = sorted(names - set(ENTRIES))
    if unknown:
        raise SystemExit(f"tools/getting_started.py: the run folder has {unknown}, which ENTRIES does not describe; "
                         "add each to ENTRIES")
    stamp = run_dir.name.rsplit("-", 2)
    lines = [f"runs/{stamp[0]}-<timestamp>/"]
    shown = [name for name in ENTRIES if name in names]
    for i, name in enumerate(shown):
        last = i == len(shown) - 1
        lines.append(f"{'└──' if last else '├──'} {name:<{width}} {ENTRIES[name]}")
        if name == "model/":
            children = sorted(p.name for p in (run_dir / "model").iterdir())
            for j, child in enumerate(children):
                lines.append(f"{'    ' if last else '│   '}{'└──' if j == len(children) - 1 else '├──'} {child}")
    return "\n".join(lines) + "\n"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's ``model name`` from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def fresh_run(overrides: list[str], recipe: str = "dual-atme.yaml") -> Iterator[tuple[str, Path]]:
    """Run ``mertk run RECIPE --set OVERRIDE ...`` (a bundled config, ``dual-atme.yaml`` by default)
    as a new user would and yield what it printed (stderr and stdout in order, the folder's path
    removed) and its run folder.

    The run happens in an empty temporary folder holding a copy of the bundled config (so paths
    print as a user sees them); the folder is removed on exit. A failed run stops the script
    with its output and exit status.
    """
    with tempfile.TemporaryDirectory(prefix="mertk-fresh-run-") as tmp:
        work = Path(tmp)
        shown = subprocess.run([sys.executable, "-m", "mertk", "config", "show", recipe],
                               capture_output=True, text=True, check=True).stdout
        (work / recipe).write_text(shown)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
        sets = [arg for override in overrides for arg in ("--set", override)]
        proc = subprocess.run([sys.executable, "-m", "mertk", "run", recipe, *sets], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        output = proc.stdout.replace(str(work) + os.sep, "")
        if proc.returncode != 0:
            sys.stderr.write(output)
            raise SystemExit(proc.returncode)
        yield output, work / output.strip().splitlines()[-1]  # the run prints its folder last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="train.epochs of the run (default 2)")
    args = parser.parse_args(argv)
    command = ["mertk", "run", "dual-atme.yaml", "--set", f"train.epochs={args.epochs}"]
    with fresh_run([f"train.epochs={args.epochs}"]) as (output, run_dir):
        SNIPPETS.mkdir(parents=True, exist_ok=True)
        (SNIPPETS / "command.txt").write_text(" ".join(command) + "\n")
        (SNIPPETS / "output.txt").write_text(output)
        (SNIPPETS / "tree.txt").write_text(folder_tree(run_dir))
        shutil.copyfile(run_dir / "report.md", SNIPPETS / "report.md")
        shutil.copyfile(run_dir / "confusion_matrix.png", PICTURE)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        environment = json.loads((run_dir / "environment.json").read_text())
    record = {
        "command": " ".join(command),
        "made_by": "python tools/getting_started.py" + (f" --epochs {args.epochs}" if args.epochs != 2 else ""),
        "overall": {k: metrics["overall"][k] for k in ("uf1", "uar", "accuracy", "n")},
        "machine": {"processor": cpu_model(), "threads": environment["threads"],
                    "arithmetic": environment["arithmetic"], "time": environment["time"]},
        "sha256": {p.name: sha256(p) for p in (SNIPPETS / "command.txt", SNIPPETS / "output.txt",
                                               SNIPPETS / "tree.txt", SNIPPETS / "report.md", PICTURE)},
    }
    (SNIPPETS / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {SNIPPETS.relative_to(ROOT)}/ and {PICTURE.relative_to(ROOT)} (UF1 {record['overall']['uf1']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
