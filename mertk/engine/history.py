"""Per-epoch training history: ``history.csv`` in the run folder, fold means and the curves plot.

``history.csv`` has one row per fold and epoch, appended as training goes (a killed run keeps
every epoch it finished)::

    fold,fold_name,epoch,loss,loss/focal,loss/similarity,accuracy,lr,seconds
    0,alpha/s0,1,1.0893,1.0893,0.4112,0.3333,0.001,0.41

``loss`` is the weighted total, ``loss/{term}`` each loss term before its weight and
``accuracy`` the training accuracy. A fold that starts training again (a resumed run that was
interrupted inside it) first loses its rows, so every (fold, epoch) appears once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mertk.files import write_csv_atomic

__all__ = ["HISTORY_FILE", "HistoryFile", "epoch_values", "mean_curves", "plot_training_curves",
           "training_curves_figure"]

HISTORY_FILE = "history.csv"
_KEYS = ("fold", "fold_name", "epoch")


def epoch_values(stats: Any) -> dict[str, float]:
    """The logged values of one epoch (an :class:`~mertk.engine.trainer.EpochStats` or its
    ``vars()`` as a fold record keeps it): ``loss``, ``loss/{term}``, ``accuracy``, ``lr``, ``seconds``."""
    get = stats.get if isinstance(stats, Mapping) else lambda key, default=None: getattr(stats, key, default)
    values = {"loss": float(get("loss"))}
    values.update({f"loss/{key}": float(v) for key, v in (get("terms") or {}).items()})
    values.update(accuracy=float(get("accuracy")), lr=float(get("lr", 0.0) or 0.0),
                  seconds=float(get("seconds", 0.0) or 0.0))
    return values


class HistoryFile:
    """``history.csv`` of one run folder (see the module docs)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def rows(self) -> list[dict[str, str]]:
        """Every row written so far (none when the file does not exist)."""
        if not self.path.is_file():
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def start_fold(self, index: int) -> None:
        """Drop the rows of fold ``index`` (left by a run interrupted inside it)."""
        rows = self.rows()
        kept = [r for r in rows if r.get("fold") != str(index)]
        if len(kept) != len(rows):
            self._rewrite(kept, self._columns(rows, ()))

    def append(self, index: int, name: str, epoch: int, values: Mapping[str, float]) -> None:
        """Add one epoch of fold ``index``; the file is flushed before this returns."""
        row = {"fold": index, "fold_name": name, "epoch": epoch, **{k: f"{v:.6g}" for k, v in values.items()}}
        header = self._header()
        if header is None or not set(row) <= set(header):  # new file, or a column it lacks: write it whole
            rows = self.rows()
            self._rewrite([*rows, row], self._columns(rows, row))
            return
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, header, lineterminator="\n").writerow(row)

    def _header(self) -> list[str] | None:
        if not self.path.is_file():
            return None
        with open(self.path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), None)

    @staticmethod
    def _columns(rows: Sequence[Mapping[str, Any]], row: Iterable[str]) -> list[str]:
        columns = list(_KEYS)
        for key in [k for r in rows for k in r] + list(row):
            if key not in columns:
                columns.append(key)
        return columns

    def _rewrite(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
        write_csv_atomic(self.path, columns, ([r.get(c, "") for c in columns] for r in rows))


def mean_curves(folds: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per-epoch values averaged over the folds that trained, by key (as :func:`epoch_values`).

    Args:
        folds: Fold records with ``history`` (a list of per-epoch dicts); fitted models have none.

    Returns:
        Key -> ``[mean at epoch 1, mean at epoch 2, ...]``, as long as the shortest history.
    """
    stacks = _stacks(folds)
    return {key: stack.mean(0).tolist() for key, stack in stacks.items()}


def _stacks(folds: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Key -> ``(F, E)`` values of the ``F`` trained folds over their first ``E`` epochs."""
    histories = [[epoch_values(h) for h in f.get("history") or []] for f in folds]
    histories = [h for h in histories if h]
    if not histories:
        return {}
    epochs = min(len(h) for h in histories)
    keys = [k for k in histories[0][0] if all(k in h[0] for h in histories)]
    return {k: np.array([[h[e][k] for e in range(epochs)] for h in histories]) for k in keys}


def training_curves_figure(folds: Sequence[Mapping[str, Any]]) -> Any:
    """A matplotlib figure of loss and training accuracy per epoch: the mean over folds, with a
    band from the lowest to the highest fold; loss terms as thinner lines. One legend below both
    panels, where it cannot cover a curve. ``None`` when no fold trained by epochs (fitted models)."""
    stacks = _stacks(folds)
    if not stacks:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, stacks["loss"].shape[1] + 1)
    n = stacks["loss"].shape[0]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.9), layout="constrained")
    panels = ((ax_loss, "loss", "total loss", "C0"), (ax_acc, "accuracy", "training accuracy", "C1"))
    for ax, key, label, colour in panels:
        stack = stacks[key]
        ax.fill_between(epochs, stack.min(0), stack.max(0), color=colour, alpha=0.2,
                        label=f"{label}, min-max over {n} folds")
        ax.plot(epochs, stack.mean(0), color=colour, lw=2, label=f"{label}, mean over folds")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for i, key in enumerate(k for k in stacks if k.startswith("loss/")):
        ax_loss.plot(epochs, stacks[key].mean(0), lw=1, ls="--", color=f"C{i + 2}",
                     label=f"{key[5:]} (before weight), mean")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("training loss")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("training accuracy")
    handles, labels = [], []
    for ax in (ax_loss, ax_acc):
        more_handles, more_labels = ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=7)
    if len(epochs) <= 12:
        for ax in (ax_loss, ax_acc):
            ax.set_xticks(epochs)
    return fig


def plot_training_curves(folds: Sequence[Mapping[str, Any]], path: Path) -> bool:
    """Write :func:`training_curves_figure` to ``path``. Returns ``False`` (and writes nothing)
    when no fold trained by epochs (fitted models)."""
    fig = training_curves_figure(folds)
    if fig is None:
        return False
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
