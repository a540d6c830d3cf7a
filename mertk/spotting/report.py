"""The report of a ``mertk spot`` run: ``report.md`` with the scores and one timeline per recording."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mertk.api import LongVideo
from mertk.files import write_text_atomic

__all__ = ["scores_table", "write_spot_report"]

TYPES = ("micro", "macro", "overall")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def scores_table(rows: Mapping[str, Mapping[str, Any]], label: str) -> str:
    """A markdown table: one row per slice and type (TP, FP, FN, precision, recall, F1); ``-`` is undefined."""
    lines = [f"| {label} | type | TP | FP | FN | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|"]
    for name, scores in rows.items():
        for t in TYPES:
            s = scores[t]
            lines.append(f"| {name} | {t} | {s['tp']} | {s['fp']} | {s['fn']} | {_f(s['precision'])} | "
                         f"{_f(s['recall'])} | {_f(s['f1'])} |")
    return "\n".join(lines)


def write_spot_report(folder: Path, metrics: Mapping[str, Any], videos: Sequence[LongVideo],
                      timelines: Sequence[str]) -> None:
    """Write ``report.md`` into the run folder ``folder``: overall, per dataset and per subject scores,
    then each recording's timeline (paths relative to ``folder``; those not drawn are left out)."""
    how = ("trained per fold on the other subjects' recordings" if metrics["trained_per_fold"] else
           "training-free: the same fixed settings for every fold")
    parts = [f"# Spotting: {folder.name}", "",
             f"Spotter `{metrics['spotter']}` ({how}); protocol LOSO over {metrics['subjects']} subjects, "
             f"{metrics['recordings']} recordings. MEGC metric: a detection is a true positive at IoU >= 0.5 with a "
             "truth of its type; counts pooled over the slice before the ratios.", "",
             "## Overall", "", scores_table({"all": metrics}, "data"), ""]
    if len(metrics["per_dataset"]) > 1:
        parts += ["## Per dataset", "", scores_table(metrics["per_dataset"], "dataset"), ""]
    parts += ["## Per subject", "", scores_table(metrics["per_subject"], "subject"), "", "## Timelines", "",
              "Signal (dashed: the threshold a peak must reach), truth and detections: micro red, macro blue.", ""]
    for video, picture in zip(videos, timelines):
        if (folder / picture).is_file():
            parts += [f"### {video.id}", "", f"![{video.id}]({picture})", ""]
    write_text_atomic(folder / "report.md", "\n".join(parts))
