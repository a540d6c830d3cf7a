"""MkDocs hook: ``<!-- demo-results -->`` becomes the table of the quickstart recipe's measured
results, read from ``benchmarks/results/demo-dual-atme.jsonl`` (written by
``python tools/demo_results.py``), so no page types a demo number by hand.

One row per machine, precision and code version: the number of seeds, UF1 as mean and min-max
over them, UAR's mean, the CPU and the cores the runs could use, mertk's version and commit, the
dates and the mean seconds per run.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "demo-dual-atme.jsonl"
MARKER = "<!-- demo-results -->"


def read(path: Path = RESULTS) -> list[dict[str, Any]]:
    """The records of ``path``, one per JSON line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _group(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, ...], list[Mapping[str, Any]]]:
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for r in records:
        key = (r["cpu"], str(r["cores"]), r["precision"], r["mertk"], r["commit"])
        groups.setdefault(key, []).append(r)
    return groups


def table(records: Iterable[Mapping[str, Any]]) -> str:
    """The markdown table (see the module docs) of ``records``."""
    rows = ["| seeds | UF1 mean | UF1 min-max | UAR mean | precision | machine | mertk (commit) | date | s per run |",
            "|---|---|---|---|---|---|---|---|---|"]
    for (cpu, cores, precision, version, commit), runs in _group(records).items():
        uf1 = [r["uf1"] for r in runs]
        dates = sorted(r["date"][:10] for r in runs)
        span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
        seeds = ", ".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        rows.append(f"| {len(runs)} ({seeds}) | {statistics.fmean(uf1):.4f} | {min(uf1):.4f}-{max(uf1):.4f} | "
                    f"{statistics.fmean(r['uar'] for r in runs):.4f} | {precision} | {cpu}, {cores} cores | "
                    f"{version} ({commit}) | {span} | {statistics.fmean(r['seconds'] for r in runs):.0f} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return markdown.replace(MARKER, table(read())) if MARKER in markdown else markdown
