"""Run report: a markdown summary, console tables and the plots of each task's results section
(confusion matrices and per-class bars for classes, per-AU bars for action units)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mertk.engine.history import plot_training_curves
from mertk.evaluation.metrics import per_class

__all__ = ["summary_table", "write_report", "plot_confusions", "per_class_figure", "plot_per_class",
           "classification_results", "au_summary_table", "per_au_figure", "action_unit_results"]


def _rows(metrics: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [("overall", metrics["overall"]), *sorted(metrics.get("per_group", {}).items())]


def summary_table(metrics: Mapping[str, Any]) -> str:
    """A markdown table: one row overall and one per source dataset (UF1, UAR, accuracy, n)."""
    lines = ["| data | UF1 | UAR | accuracy | n |", "|---|---|---|---|---|"]
    for name, s in _rows(metrics):
        lines.append(f"| {name} | {s['uf1']:.4f} | {s['uar']:.4f} | {s['accuracy']:.4f} | {s['n']} |")
    return "\n".join(lines)


def plot_confusions(metrics: Mapping[str, Any], class_names: Sequence[str], path: Path) -> None:
    """One confusion-matrix panel overall and per source dataset, counts and row-normalised colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(metrics)
    if len(rows) == 2:  # a single dataset: its panel would repeat the overall one
        rows = rows[:1]
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.4), squeeze=False)
    for ax, (name, s) in zip(axes[0], rows):
        m = np.asarray(s["confusion"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = np.nan_to_num(m / m.sum(1, keepdims=True))
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, int(m[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
        ax.set_yticks(range(len(class_names)), class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: UF1 {s['uf1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def per_class_figure(metrics: Mapping[str, Any], class_names: Sequence[str]) -> Any:
    """A matplotlib figure of grouped bars: per-class precision, recall and F1 (overall pooled
    predictions), each bar labelled with its value; the legend sits below the axes, where it
    cannot cover a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = per_class(metrics["overall"]["confusion"])
    x = np.arange(len(class_names))
    fig, ax = plt.subplots(figsize=(1.9 * len(class_names) + 2, 3.6), layout="constrained")
    width = 0.27
    for offset, key in ((-width, "precision"), (0.0, "recall"), (width, "f1")):
        bars = ax.bar(x + offset, scores[key], width=width, label="F1" if key == "f1" else key)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, class_names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score")
    ax.set_title("per class (all folds pooled)")
    fig.legend(loc="outside lower center", ncols=3, fontsize=8)
    return fig


def plot_per_class(metrics: Mapping[str, Any], class_names: Sequence[str], path: Path) -> None:
    """Write :func:`per_class_figure` to ``path``."""
    import matplotlib.pyplot as plt

    fig = per_class_figure(metrics, class_names)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _preprocessing_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Counts of face detectors, apex sources and landmark sources used (details per sample:
    ``preprocessing.csv``)."""
    def counts(key: str, count_first: bool = False) -> str:
        found = Counter(str(r.get(key) or "none") for r in records).most_common()
        return ", ".join(f"{n} {name}" if count_first else f"{name} {n}" for name, n in found) or "none"

    faces = (f"Face found by: {counts('face_method')}. Apex from: {counts('apex_source')}. "
             "Per sample: `preprocessing.csv`.")
    landmarks = (f"Landmarks: {counts('landmarks_source', count_first=True)} (`detected`: on the face the detector "
                 "found; `whole-crop`: the whole face crop as the face box; `supplied`: from the manifest; "
                 "`template`: a mean face, no face crop).")
    return [faces, "", landmarks]


def classification_results(metrics: Mapping[str, Any], class_names: Sequence[str], folder: Path) -> list[str]:
    """The results section of a classification run (the ``emotion`` task): the score table,
    confusion matrices and per-class scores; writes ``confusion_matrix.png`` and ``per_class.png``."""
    plot_confusions(metrics, class_names, folder / "confusion_matrix.png")
    plot_per_class(metrics, class_names, folder / "per_class.png")
    scores = per_class(metrics["overall"]["confusion"])
    return [
        "Scores as in MEGC 2019: UF1 and UAR over the fixed class set.",
        "",
        summary_table(metrics),
        "",
        "![confusion matrices](confusion_matrix.png)",
        "",
        "## Per class (pooled)",
        "",
        "| class | precision | recall | F1 |",
        "|---|---|---|---|",
        *[f"| {c} | {scores['precision'][i]:.4f} | {scores['recall'][i]:.4f} | {scores['f1'][i]:.4f} |"
          for i, c in enumerate(class_names)],
        "",
        "![per-class scores](per_class.png)",
    ]


def au_summary_table(metrics: Mapping[str, Any]) -> str:
    """A markdown table: mean AU F1 and n, overall and per source dataset."""
    lines = ["| data | AU F1 | n |", "|---|---|---|"]
    for name, s in _rows(metrics):
        lines.append(f"| {name} | {s['au_f1']:.4f} | {s['n']} |")
    return "\n".join(lines)


def per_au_figure(metrics: Mapping[str, Any], names: Sequence[str]) -> Any:
    """A matplotlib figure of per-AU F1 bars, one bar per source dataset and overall (pooled
    predictions), each labelled with its value; the legend sits below the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(metrics)
    if len(rows) == 2:  # a single dataset: its bars would repeat the overall ones
        rows = rows[:1]
    x = np.arange(len(names))
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(0.5 * len(names) * len(rows) + 2.5, 3.6), layout="constrained")
    for i, (scope, s) in enumerate(rows):
        bars = ax.bar(x + (i - (len(rows) - 1) / 2) * width, [s["per_au"][n] for n in names], width=width,
                      label=f"{scope} (mean {s['au_f1']:.2f})")
        ax.bar_label(bars, fmt="%.2f", fontsize=6)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("F1")
    ax.set_title("per action unit (all folds pooled)")
    fig.legend(loc="outside lower center", ncols=min(len(rows), 4), fontsize=8)
    return fig


def action_unit_results(metrics: Mapping[str, Any], names: Sequence[str], folder: Path) -> list[str]:
    """The results section of an action-unit run: mean AU F1 per source dataset, per-AU F1 and
    positives; writes ``per_au.png``."""
    import matplotlib.pyplot as plt

    fig = per_au_figure(metrics, names)
    fig.savefig(folder / "per_au.png", dpi=110)
    plt.close(fig)
    overall = metrics["overall"]
    return [
        au_summary_table(metrics),
        "",
        "## Per action unit (pooled)",
        "",
        "F1 of each AU's present/absent decision (score >= 0.5) over the pooled test predictions; an AU "
        "neither present nor predicted in a slice scores 0.",
        "",
        "| AU | F1 | positives |",
        "|---|---|---|",
        *[f"| {n} | {overall['per_au'][n]:.4f} | {overall['support'][n]} |" for n in names],
        "",
        "![per-AU F1](per_au.png)",
    ]


def write_report(folder: Path, *, name: str, results: Sequence[str], config_file: str,
                 folds: Sequence[Mapping[str, Any]], problems: Sequence[Any], settings_summary: str,
                 preprocessing: Sequence[Mapping[str, Any]] = (), left_out: Mapping[str, int] | None = None) -> Path:
    """Write ``report.md`` (with the task's ``results`` section, whose figures the task wrote) and the
    training curves into ``folder``; returns the report's path. ``left_out``: samples the task could
    not use, by reason."""
    curves = plot_training_curves(folds, folder / "training_curves.png")
    skipped = [p for p in problems if getattr(p, "fatal", False)]
    warnings = [p for p in problems if not getattr(p, "fatal", False)]
    seconds = sum(f.get("seconds", 0.0) for f in folds)
    lines = [
        f"# {name}",
        "",
        f"Config: `{config_file}` (merged copy: `config.yaml`). Protocol: {len(folds)} folds; every fold's "
        "model is the one of its **last training epoch** (no selection on the test fold). Metrics pool the "
        "predictions of all folds, then score them as the run's task says.",
        "",
        "## Results",
        "",
        *results,
        "",
        "## Training",
        "",
        settings_summary,
        "",
        *(["![training curves: mean over folds, band from the lowest to the highest fold](training_curves.png)",
           "", "Per fold and epoch: `history.csv` (loss terms are shown before their weights).", ""]
          if curves else []),
        f"Training time over all folds: {seconds:.1f} s. Per-fold predictions: `predictions.csv`, `folds/`.",
        "",
        "## Preprocessing",
        "",
        *_preprocessing_lines(preprocessing),
        "",
        "## Data problems",
        "",
        f"{len(skipped)} sample(s) skipped, {len(warnings)} warning(s); all listed in `problems.csv`.",
        *[f"- left out for the task: {n} x {reason}" for reason, n in sorted((left_out or {}).items())],
    ]
    for p in skipped[:50]:
        lines.append(f"- skipped: {p}")
    if len(skipped) > 50:
        lines.append(f"- ... and {len(skipped) - 50} more in `problems.csv`")
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
