"""Make the numbers and picture of the docs' *Getting started* page from one run.

    python tools/getting_started.py            # the 2-epoch demo run the page shows

runs, in a fresh temporary folder holding a copy of the bundled config (so paths print as a user
sees them)::

    mertk run dual-atme.yaml --set train.epochs=2

and writes what the page includes:

- ``docs/_snippets/getting-started/command.txt``: the command;
- ``docs/_snippets/getting-started/output.txt``: everything it printed (stderr and stdout, in order);
- ``docs/_snippets/getting-started/report.md``: the run's ``report.md``;
- ``docs/images/getting-started-confusion.png``: the run's ``confusion_matrix.png``;
- ``docs/_snippets/getting-started/run.json``: the run's metrics, machine and the SHA-256 of the
  four files above, so a test can check they belong together.

The demo dataset comes from (and is generated into) mertk's cache, as for any user.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = ROOT / "docs" / "_snippets" / "getting-started"
PICTURE = ROOT / "docs" / "images" / "getting-started-confusion.png"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="train.epochs of the run (default 2)")
    args = parser.parse_args(argv)
    command = ["mertk", "run", "dual-atme.yaml", "--set", f"train.epochs={args.epochs}"]
    with tempfile.TemporaryDirectory(prefix="mertk-getting-started-") as tmp:
        work = Path(tmp)
        shown = subprocess.run([sys.executable, "-m", "mertk", "config", "show", "dual-atme.yaml"],
                               capture_output=True, text=True, check=True).stdout
        (work / "dual-atme.yaml").write_text(shown)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
        proc = subprocess.run([sys.executable, "-m", "mertk", *command[1:]], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        output = proc.stdout.replace(str(work) + os.sep, "")
        if proc.returncode != 0:
            sys.stderr.write(output)
            return proc.returncode
        run_dir = work / output.strip().splitlines()[-1]  # the run prints its folder last
        SNIPPETS.mkdir(parents=True, exist_ok=True)
        (SNIPPETS / "command.txt").write_text(" ".join(command) + "\n")
        (SNIPPETS / "output.txt").write_text(output)
        shutil.copyfile(run_dir / "report.md", SNIPPETS / "report.md")
        shutil.copyfile(run_dir / "confusion_matrix.png", PICTURE)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        environment = json.loads((run_dir / "environment.json").read_text())
    record = {
        "command": " ".join(command),
        "made_by": "python tools/getting_started.py" + (f" --epochs {args.epochs}" if args.epochs != 2 else ""),
        "overall": {k: metrics["overall"][k] for k in ("uf1", "uar", "accuracy", "n")},
        "machine": {"processor": platform.processor() or platform.machine(), "threads": environment["threads"],
                    "arithmetic": environment["arithmetic"], "time": environment["time"]},
        "sha256": {p.name: sha256(p) for p in (SNIPPETS / "command.txt", SNIPPETS / "output.txt",
                                               SNIPPETS / "report.md", PICTURE)},
    }
    (SNIPPETS / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {SNIPPETS.relative_to(ROOT)}/ and {PICTURE.relative_to(ROOT)} (UF1 {record['overall']['uf1']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
