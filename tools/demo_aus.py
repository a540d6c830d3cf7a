"""Count the action units of the demo data sets, for the docs' *Action units* page.

    python tools/demo_aus.py            # seed 0; generates the demos into mertk's cache if needed

Loads the three demo variants (``basic``, ``composite``, ``flows``) as a user's run would and
writes ``docs/_snippets/action-units/demo-aus.md``: per variant and source, the number of clips and
how many list each AU (``Sample.aus``), with the seed, the machine, the mertk commit and the date.
The counts are of generated data (no arithmetic precision is involved); a change of the demo
generators or of :data:`mertk.data.demo_faces.VISIBLE_PX` changes them, so rerun this then.
"""

from __future__ import annotations

import argparse
import datetime
from collections import Counter
from pathlib import Path

from demo_results import git_commit
from getting_started import cpu_model

from mertk.data.action_units import DEFAULT_AUS, au_number
from mertk.data.demo import Demo

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "_snippets" / "action-units" / "demo-aus.md"


def counts_table(seed: int) -> str:
    """The markdown table: one row per demo variant and source, one column per AU that occurs."""
    rows: list[tuple[str, str, int, int, Counter[str]]] = []
    for variant in ("basic", "composite", "flows"):
        samples = Demo(seed=seed, variant=variant).load().samples
        sources = [None] if variant == "basic" else [None, *sorted({s.dataset for s in samples})]
        for source in sources:
            chosen = [s for s in samples if source is None or s.dataset == source]
            rows.append((variant, source or "all", len(chosen), sum(1 for s in chosen if not s.aus),
                         Counter(a for s in chosen for a in s.aus or ())))
    aus = sorted({a for *_, counts in rows for a in counts}, key=au_number)
    head = [f"{a}{'*' if a in DEFAULT_AUS else ''}" for a in aus]
    lines = ["| variant | source | clips | " + " | ".join(head) + " | no AU |",
             "|---|---|---|" + "---|" * (len(aus) + 1)]
    for variant, source, total, empty, counts in rows:
        lines.append(f"| {variant} | {source} | {total} | " + " | ".join(str(counts[a]) for a in aus) + f" | {empty} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = counts_table(args.seed)
    stamp = (f"Demo seed {args.seed}; counted by `python tools/demo_aus.py` on {cpu_model()}, mertk "
             f"{git_commit()}, {datetime.date.today().isoformat()} (counts of generated data: no training, "
             "no arithmetic precision involved). `*`: in the default AU set.")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(table + "\n\n" + stamp + "\n", encoding="utf-8")
    print(OUTPUT.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
