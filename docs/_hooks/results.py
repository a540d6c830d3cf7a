"""MkDocs hook: ``<!-- demo-results -->`` becomes the table of the quickstart recipe's measured
results, read from ``benchmarks/results/demo-dual-atme.jsonl`` (written by
``python tools/demo_results.py``), so no page types a demo number by hand.

One row per machine, precision and code version: the number of seeds, UF1 as mean and min-max
over them, UAR's mean, the CPU and the cores the runs could use, mertk's version and commit, the
dates and the mean seconds per run.

``<!-- demo-au-results -->`` becomes the table of the action-unit configs' results, read from
``benchmarks/results/demo-aus.jsonl`` (``python tools/demo_results.py --aus``): one row per config,
command (its overrides other than the seed), machine, precision and code version, with the mean AU
F1 as mean ± sample standard deviation and min-max over the seeds and each AU's F1 averaged over
them; then the chance levels the script computed from the same runs' labels and folds (every AU
present; each AU drawn at its training-fold prevalence).
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
AU_RESULTS = ROOT / "benchmarks" / "results" / "demo-aus.jsonl"
AU_MARKER = "<!-- demo-au-results -->"


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


def _command(record: Mapping[str, Any]) -> str:
    """The record's command with its seed written ``S`` (the seeds are a column of their own)."""
    return record["command"].replace(f"--set seed={record['seed']}", "--set seed=S")


def au_table(records: Iterable[Mapping[str, Any]]) -> str:
    """The markdown table of action-unit ``records`` (see the module docs)."""
    records = list(records)
    aus = list(dict.fromkeys(a for r in records for a in r["aus"]))
    rows = ["| config | seeds | mean AU F1, mean ± sd | min-max | " + " | ".join(aus)
            + " | command | precision | machine | mertk (commit) | date | s per run |",
            "|---|---|---|---|" + "---|" * len(aus) + "---|---|---|---|---|---|"]
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for r in records:
        key = (r["recipe"], _command(r), r["cpu"], str(r["cores"]), r["precision"], r["mertk"], r["commit"])
        groups.setdefault(key, []).append(r)
    for (recipe, command, cpu, cores, precision, version, commit), runs in groups.items():
        f1 = [r["au_f1"] for r in runs]
        sd = statistics.stdev(f1) if len(f1) > 1 else 0.0
        dates = sorted(r["date"][:10] for r in runs)
        span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
        seeds = ", ".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        per_au = " | ".join(f"{statistics.fmean(r['per_au'][a] for r in runs):.3f}"
                            if all(a in r["per_au"] for r in runs) else "" for a in aus)
        rows.append(f"| `{recipe}` | {len(runs)} ({seeds}) | {statistics.fmean(f1):.4f} ± {sd:.4f} | "
                    f"{min(f1):.4f}-{max(f1):.4f} | {per_au} | `{command}` | {precision} | {cpu}, {cores} cores | "
                    f"{version} ({commit}) | {span} | {statistics.fmean(r['seconds'] for r in runs):.0f} |")
    names = {"all_present": "chance: every AU present",
             "prevalence": "chance: each AU drawn at its training-fold prevalence"}
    shown: set[str] = set()
    for r in records:
        for kind, label in names.items():
            chance = r["chance"][kind]
            per_au = " | ".join(f"{chance['per_au'][a]:.3f}" if a in chance["per_au"] else "" for a in aus)
            draws = f" (mean of {chance['draws']} draws)" if "draws" in chance else ""
            row = f"| {label}{draws} | | {chance['au_f1']:.4f} | | {per_au} | same clips and folds | | | | | |"
            if row not in shown:
                shown.add(row)
                rows.append(row)
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, table(read()))
    if AU_MARKER in markdown:
        markdown = markdown.replace(AU_MARKER, au_table(read(AU_RESULTS)))
    return markdown
