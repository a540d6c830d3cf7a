"""The timeline picture of one recording: the spotter's signals, the truth and the detections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mertk.api import Interval

__all__ = ["plot_timeline"]

_COLOURS = {"micro": "tab:red", "macro": "tab:blue"}


def plot_timeline(path: Path, *, fps: float, frames: int, signals: Mapping[str, np.ndarray],
                  thresholds: Mapping[str, float], truths: Sequence[Interval], detections: Sequence[Interval],
                  title: str, labels: Sequence[str] = ()) -> None:
    """Write a PNG: the signals over time (seconds) with their thresholds, then one band of truth
    intervals and one of detections (micro red, macro blue).

    Args:
        frames: Frames in the recording (the time axis when there is no signal).
        labels: One text per detection drawn above it (``mertk analyze``'s classes), or none.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, (top, bands) = plt.subplots(2, 1, figsize=(12, 3.6), sharex=True, height_ratios=[3, 1.3])
    seconds = np.arange(frames) / fps
    for name, signal in signals.items():
        line, = top.plot(seconds[:len(signal)], signal, lw=0.7, label=f"{name} signal")
        if name in thresholds:
            top.axhline(thresholds[name], color=line.get_color(), lw=0.7, ls="--")
    if signals:
        top.legend(loc="upper right", fontsize=7)
    top.set_ylabel("signal")
    top.set_title(title, fontsize=9)
    for row, (what, intervals) in enumerate((("truth", truths), ("detected", detections))):
        for k, interval in enumerate(intervals):
            start, end = interval.onset / fps, (interval.offset + 1) / fps
            bands.axvspan(start, end, ymin=(1 - row) * 0.5 + 0.05, ymax=(1 - row) * 0.5 + 0.45,
                          color=_COLOURS.get(interval.expression, "grey"), alpha=0.8)
            if what == "detected" and k < len(labels) and labels[k]:
                bands.text((start + end) / 2, 0.5, labels[k], fontsize=6, ha="center", va="bottom", rotation=60)
    bands.set_yticks([0.25, 0.75], ["detected", "truth"])
    bands.set_ylim(0, 1)
    bands.set_xlim(0, max(frames, 1) / fps)
    bands.set_xlabel("time (s)")
    bands.legend(handles=[Patch(color=c, label=n) for n, c in _COLOURS.items()], loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
