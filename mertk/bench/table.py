"""The bench comparison: scores of every run, aggregated over seeds, as markdown, CSV and a chart."""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mertk.bench.runs import BenchRun
from mertk.errors import MertkError
from mertk.registry import Components

__all__ = ["METRICS", "AU_METRICS", "Row", "collect", "read_run", "write_outputs", "metrics_for"]

#: Scores in the table of an emotion bench: key in ``metrics.json`` -> column title (the first
#: is the headline).
METRICS = {"uf1": "UF1", "uar": "UAR", "accuracy": "Acc"}
#: The same for an action-unit bench (task ``aus``): the mean per-AU F1.
AU_METRICS = {"au_f1": "AU F1"}
OVERALL = "overall"


def metrics_for(overall: Mapping[str, Any]) -> dict[str, str]:
    """The table's scores for a run whose overall scores are ``overall``: the task's, headline first."""
    return AU_METRICS if "au_f1" in overall else METRICS


def read_run(run_dir: Path) -> dict[str, Any]:
    """A finished run's scores and costs.

    Returns:
        ``{"scores": {scope: {metric: value}}, "num_classes": K, "train_seconds": [per fold],
        "columns": {metric: title}}``, ``scope`` being ``"overall"`` or a source dataset name, the
        metrics the run's task's (:func:`metrics_for`), ``K`` the model's outputs (classes or AUs);
        a fold's seconds are the engine's wall time to build, train and test its model.
    """
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    groups = metrics.get("per_dataset", metrics.get("per_group", {}))
    scores = {OVERALL: metrics["overall"], **groups}
    folds = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((run_dir / "folds").glob("*.json"))]
    seconds = [float(f["seconds"]) for f in folds if f.get("seconds") is not None]
    columns = metrics_for(metrics["overall"])
    k = len(metrics["aus"]) if "aus" in metrics else len(metrics["overall"]["confusion"])
    return {"scores": {scope: {m: float(s[m]) for m in columns} for scope, s in scores.items()},
            "num_classes": k, "train_seconds": seconds, "columns": columns}


@dataclass
class Row:
    """One config's results over its seeds.

    Attributes:
        label: Config name (file stem).
        model: Model component name.
        seeds: Seeds that finished.
        scores: ``{scope: {metric: [value per seed]}}``.
        params: Trainable and frozen parameters (``None`` for non-network models).
        flops: Forward FLOPs per sample at the configured input size.
        train_seconds: Mean training seconds per fold over all seeds' folds.
        columns: The scores of its task: metric -> column title (:func:`metrics_for`).
    """

    label: str
    model: str
    seeds: list[int] = field(default_factory=list)
    scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    params: int | None = None
    flops: int | None = None
    train_seconds: float | None = None
    columns: dict[str, str] = field(default_factory=lambda: dict(METRICS))


def collect(runs: Sequence[BenchRun], components: Components,
            cost: Callable[..., dict[str, Any]] | None = None) -> list[Row]:
    """One :class:`Row` per config (in the order given), from the finished run folders."""
    if cost is None:
        from mertk.bench.cost import model_cost as cost
    rows: dict[str, Row] = {}
    seconds: dict[str, list[float]] = {}
    for run in runs:
        if not run.finished:
            raise MertkError(f"{run.run_dir}: the run has no metrics.json; run `mertk bench` again to finish it")
        result = read_run(run.run_dir)
        row = rows.get(run.label)
        if row is None:
            row = rows[run.label] = Row(run.label, run.loaded.config.model["name"], columns=result["columns"])
            row.__dict__.update(cost(run.loaded.config, components, result["num_classes"]))
        row.seeds.append(run.seed)
        for scope, values in result["scores"].items():
            for metric, value in values.items():
                row.scores.setdefault(scope, {}).setdefault(metric, []).append(value)
        seconds.setdefault(run.label, []).extend(result["train_seconds"])
    for label, values in seconds.items():
        rows[label].train_seconds = statistics.fmean(values) if values else None
    _columns(list(rows.values()))
    return list(rows.values())


def _columns(rows: Sequence[Row]) -> dict[str, str]:
    """The scores every row shares (one task per bench).

    Raises:
        MertkError: rows of different tasks (emotion classes and action units score differently).
    """
    columns = rows[0].columns if rows else METRICS
    other = [r for r in rows if r.columns != columns]
    if other:
        raise MertkError(f"the bench mixes tasks: {rows[0].label} is scored by {', '.join(columns.values())}, "
                         f"{', '.join(r.label for r in other)} by {', '.join(other[0].columns.values())}. "
                         "Fix: bench configs of one task together (emotion configs in one bench, action-unit configs "
                         "in another)")
    return columns


# --------------------------------------------------------------------------- formatting


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _pm(values: Sequence[float] | None) -> str:
    if not values:
        return "-"
    mean, std = _mean_std(values)
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}".rstrip()
    return f"{value:g} {unit}".rstrip()


def scopes(rows: Sequence[Row]) -> list[str]:
    """``"overall"`` then the source datasets, sorted."""
    return [OVERALL] + sorted({s for r in rows for s in r.scores} - {OVERALL})


def markdown(rows: Sequence[Row]) -> str:
    """One table for the overall scores with costs, then one per source dataset."""
    columns = _columns(rows)
    how = "MEGC" if columns == METRICS else "per-AU F1, mean over AUs"
    lines = ["# Bench", "", f"Scores pooled over the folds of each run ({how}), mean ± std over seeds.", ""]
    for scope in scopes(rows):
        lines.append(f"## {'Overall' if scope == OVERALL else scope}")
        lines.append("")
        head = ["config", "model", "seeds", *columns.values()]
        if scope == OVERALL:
            head += ["params", "FLOPs/sample", "train s/fold"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r.label, r.model, str(len(r.seeds)), *(_pm(r.scores.get(scope, {}).get(m)) for m in columns)]
            if scope == OVERALL:
                cells += [_si(r.params), _si(r.flops),
                          "-" if r.train_seconds is None else f"{r.train_seconds:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """One line per (config, scope): means and standard deviations, costs."""
    columns = _columns(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["config", "model", "scope", "seeds", *(f"{m}_{s}" for m in columns for s in ("mean", "std")),
                         "params", "flops", "train_seconds_per_fold"])
        for r in rows:
            for scope in scopes(rows):
                values = r.scores.get(scope)
                if not values:
                    continue
                stats = []
                for m in columns:
                    mean, std = _mean_std(values[m])
                    stats += [f"{mean:.4f}", "" if std is None else f"{std:.4f}"]
                writer.writerow([r.label, r.model, scope, len(values[next(iter(columns))]), *stats,
                                 "" if r.params is None else r.params, "" if r.flops is None else r.flops,
                                 "" if r.train_seconds is None else f"{r.train_seconds:.3f}"])



def chart(rows: Sequence[Row], path: Path) -> None:
    """Grouped bars of the overall UF1 and UAR (action units: mean AU F1) per config, with the std over
    seeds as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = _columns(rows)
    shown = ("uf1", "uar") if columns == METRICS else tuple(columns)
    x = np.arange(len(rows))
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(rows) + 1.5), 3.6), layout="constrained")
    for i, metric in enumerate(shown):
        stats = [_mean_std(r.scores[OVERALL][metric]) for r in rows]
        means = [m for m, _ in stats]
        errors = [0.0 if s is None else s for _, s in stats]
        ax.bar(x + (i - (len(shown) - 1) / 2) * width, means, width, yerr=errors, capsize=3, label=columns[metric])
    crowded = len(rows) > 4
    ax.set_xticks(x, [r.label for r in rows], rotation=20 if crowded else 0, ha="right" if crowded else "center")
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (pooled over folds)")
    ax.set_title("Overall scores, mean ± std over seeds")
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(rows: Sequence[Row], bench_dir: Path) -> dict[str, Path]:
    """Write ``bench.md``, ``bench.csv`` and ``bench.png`` in ``bench_dir``; returns their paths."""
    paths = {"markdown": bench_dir / "bench.md", "csv": bench_dir / "bench.csv", "chart": bench_dir / "bench.png"}
    paths["markdown"].write_text(markdown(rows), encoding="utf-8")
    write_csv(rows, paths["csv"])
    chart(rows, paths["chart"])
    return paths
