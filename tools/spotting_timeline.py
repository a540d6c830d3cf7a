"""The timeline picture of the docs' *Spotting* page, from a `mertk spot` run on the long demo.

    python tools/spotting_timeline.py        # seed 1, one recording of 30 s at 20 fps; a minute or two

Runs ``mertk spot spotting-demo.yaml`` as a user would (the bundled config, with a smaller demo:
``--set dataset.videos=1 dataset.seconds=30``) into a temporary folder, and copies the recording's
timeline (the strain signals with their thresholds, the inserted expressions and the detections) to
``docs/images/spotting-timeline.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "images" / "spotting-timeline.png"


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        run = Path(work) / "run"
        subprocess.run([sys.executable, "-m", "mertk", "spot", "spotting-demo.yaml", "--run-dir", str(run),
                        "--set", "dataset.videos=1", "--set", "dataset.seconds=30"], check=True)
        (picture,) = sorted((run / "timelines").glob("*.png"))
        shutil.copyfile(picture, OUTPUT)
        print(f"{picture.name} -> {OUTPUT}")
        print((run / "run.log").read_text().splitlines()[-1])


if __name__ == "__main__":
    main()
