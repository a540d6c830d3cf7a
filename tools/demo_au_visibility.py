"""Measure how visible each action unit of the flows demo is, for the docs' *Action units* page.

    python tools/demo_au_visibility.py            # seed 0; seconds, nothing is trained

The bundled AU configs train on the flows demo (28 x 28 u, v, strain images). This script
regenerates its clips in memory (:func:`mertk.data.demo_flows.flow_clips`: the bytes the demo
writes) and measures, for each AU the configs detect, what a model could see of it, from each
clip's own motion before noise (``fields``), so the numbers are of the generator, not of a model:

* **listed**: clips whose ``aus`` list it (it moved at least :data:`~mertk.data.demo_faces.VISIBLE_PX`,
  0.3 px for a 128 px face, at the apex);
* **apex px**: the median apex displacement of its motion unit in those clips, px for a 128 px face,
  and how many of them moved less than 1.5 times the threshold (0.45 px);
* **px / noise**: the median of its largest flow at 28 px divided by the smooth flow noise of the
  clip's source (:data:`mertk.data.demo_flows.NOISE`): below about 2 a clip's motion is hardly
  above the noise around it;
* **area**: the median number of flow pixels where the unit moves at least half its peak;
* **label checks**: the unit's region (where a unit-strength copy of its motion is at least half
  its peak, on that face) is looked at in every clip, with all units and the blink summed, and the
  motion taken along the unit's own direction (a brow lowered is not a brow raised): clips *not*
  listing the AU whose region still moved that way by at least 0.3 px (other units nearby), and
  clips listing it whose region moved less on the 28 px grid (the threshold is on the motion's
  peak, which can fall between pixels);
* **listed with**: the other AU of :data:`AUS` (not AU1 with AU2, which one unit moves)
  most often listed in the same clips, and in how many of them.

Writes ``docs/_snippets/action-units/demo-au-visibility.md`` with the seed, the machine, the mertk
commit and the date (generated data and float32 arithmetic in numpy; nothing depends on a device).
"""

from __future__ import annotations

import argparse
import datetime
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from demo_results import git_commit
from getting_started import cpu_model

from mertk.data import demo_faces
from mertk.data.demo_flows import NOISE, SIZE, flow_clips

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "_snippets" / "action-units" / "demo-au-visibility.md"
#: The AUs the bundled AU configs detect (``task.aus`` of resnet18-aus.yaml and dual-atme-aus.yaml).
AUS = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU10", "AU12")
#: AU -> the demo's motion unit that moves it.
UNIT_OF = {au: unit for unit, codes in demo_faces.UNIT_AUS.items() for au in codes}


def _along(unit: str, landmarks: np.ndarray, motion: np.ndarray) -> float:
    """The largest motion (``(2, 28, 28)`` px) along ``unit``'s own direction inside its region: where a
    unit-strength copy of its motion on this face is at least half its peak."""
    face = demo_faces.Face(np.zeros((SIZE, SIZE), np.float32), landmarks, float(np.ptp(landmarks[:, 0])))
    template = demo_faces.displacement([unit], face, 1.0, np.random.default_rng(0))
    norm = np.hypot(*template)
    region = norm >= norm.max() / 2
    return float(((motion * template)[:, region].sum(axis=0) / norm[region]).max())


def measure(seed: int) -> dict[str, dict[str, Any]]:
    """Per AU of :data:`AUS`, the measures of the module docs on the flows demo of ``seed``."""
    rows: dict[str, dict[str, list[float]]] = {au: {"apex": [], "snr": [], "area": [], "quiet": [], "spill": []}
                                               for au in AUS}
    together: dict[str, Counter[str]] = {au: Counter() for au in AUS}
    for made in flow_clips(seed):
        to_128 = 128.0 / float(np.ptp(made.landmarks[:, 0]))
        listed = set(demo_faces.visible_aus(made.moved))
        motion = sum(made.fields.values()) if made.fields else np.zeros((2, SIZE, SIZE))
        for au in AUS:
            unit, row = UNIT_OF[au], rows[au]
            in_region = _along(unit, made.landmarks, motion) * to_128
            if au not in listed:
                row["spill"].append(in_region >= demo_faces.VISIBLE_PX)
                continue
            own = np.hypot(*made.fields[unit])
            row["apex"].append(made.moved[unit])
            row["snr"].append(float(own.max()) / NOISE[made.clip.source])
            row["area"].append(float((own >= own.max() / 2).sum()))
            row["quiet"].append(in_region < demo_faces.VISIBLE_PX)
            together[au].update(a for a in listed if a in AUS and UNIT_OF[a] != unit)
    return {au: {"listed": len(r["apex"]), "apex": float(np.median(r["apex"])),
                 "near": int(sum(a < 1.5 * demo_faces.VISIBLE_PX for a in r["apex"])),
                 "snr": float(np.median(r["snr"])), "area": float(np.median(r["area"])),
                 "spill": int(sum(r["spill"])), "unlisted": len(r["spill"]), "quiet": int(sum(r["quiet"])),
                 "with": together[au].most_common(1)[0] if together[au] else ("-", 0)}
            for au, r in rows.items()}


def table(measures: dict[str, dict[str, Any]]) -> str:
    """The markdown table of :func:`measure`'s result, one row per AU."""
    lines = ["| AU | listed | apex px (128 px face), median | listed below 0.45 px | px / noise at 28 px, median | "
             "area, flow px | not listed, region moved its way >= 0.3 px | listed, below 0.3 px on the grid | "
             "listed with |",
             "|---|---|---|---|---|---|---|---|---|"]
    for au, m in measures.items():
        lines.append(f"| {au} | {m['listed']} | {m['apex']:.2f} | {m['near']} ({m['near'] / m['listed']:.0%}) | "
                     f"{m['snr']:.1f} | {m['area']:.0f} | {m['spill']} of {m['unlisted']} | {m['quiet']} | "
                     f"{m['with'][0]} in {m['with'][1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="demo seed (default 0, the seed runs use)")
    args = parser.parse_args()
    text = table(measure(args.seed))
    stamp = (f"Flows demo seed {args.seed}; measured by `python tools/demo_au_visibility.py` on {cpu_model()}, mertk "
             f"{git_commit()}, {datetime.date.today().isoformat()} (generated motion, float32 numpy; no training).")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text + "\n\n" + stamp + "\n", encoding="utf-8")
    print(OUTPUT.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
