"""The ``tensorboard`` tracker: TensorBoard event files, one TensorBoard run per fold plus a summary.

Layout, under ``RUN_DIR/tensorboard/`` by default::

    summary/     the config and environment as text; when the run is done, the scores
                 (test/uf1, test/uar, test/accuracy, test/{dataset}/...), the mean training
                 curves (mean/train/...) and the report's plots as images (confusion matrix, ...)
    fold-000/    train/loss, train/loss/{term}, train/accuracy, train/lr, train/seconds per
                 epoch, then the fold's test/accuracy and fold/... at its last epoch

``tensorboard --logdir runs`` shows every run of a folder; the folds of a run overlay in one
chart per tag. A fold that trains again after an interruption is written with TensorBoard's
purge step: what the cut-short attempt logged is hidden, so no epoch appears twice. A resumed
run adds to its ``summary/``: the config is written once, and the scores and mean curves once
(``summary/finished`` marks that they are there, for a finished run resumed again).

Needs the extra ``mertk[tensorboard]``, imported only when a run starts.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mertk.api import RunResult, RunStart
from mertk.trackers import require

__all__ = ["TensorBoardTracker", "FINISHED_MARK"]

#: File in ``summary/`` written once the scores are logged, so a finished run resumed again
#: does not log them a second time.
FINISHED_MARK = "finished"


class TensorBoardTracker:
    """Write the run as TensorBoard event files: scalars per fold and overall, the confusion
    matrix (and the report's other plots) as images, the config as text.

    Args:
        log_dir: Parent folder of the event files, one subfolder per run (named like the run
            folder). Default: ``RUN_DIR/tensorboard``.
    """

    def __init__(self, log_dir: str | None = None) -> None:
        require("tensorboard", "tensorboard")
        self.log_dir = log_dir
        self.root: Path | None = None
        self.summary: Any = None
        self.fold: Any = None
        self.last_epoch = 0

    def _writer(self, name: str, purge: bool = True) -> Any:
        """A writer for ``root/name``; ``purge``: hide whatever was logged there before (purge step 0)."""
        from torch.utils.tensorboard import SummaryWriter

        assert self.root is not None
        return SummaryWriter(str(self.root / name), purge_step=0 if purge else None)

    def start(self, run: RunStart) -> str:
        self.root = (Path(self.log_dir) / Path(run.run_dir).name if self.log_dir
                     else Path(run.run_dir) / "tensorboard").resolve()
        where = (f"tensorboard: event files in {self.root}; "
                 f"open them with: tensorboard --logdir {shlex.quote(str(self.root))}")
        continued = run.resumed and any((self.root / "summary").glob("events.out.tfevents.*"))
        self.summary = self._writer("summary", purge=False)
        if continued:  # the config and environment are there from the first start
            return where
        config = yaml.safe_dump(dict(run.config), sort_keys=False)
        self.summary.add_text("config", f"```yaml\n{config}```", 0)
        environment = json.dumps(dict(run.environment), indent=2, default=str)
        self.summary.add_text("environment", f"```json\n{environment}\n```", 0)
        self.summary.flush()
        return where

    def start_fold(self, index: int, name: str) -> None:
        if self.fold is not None:
            self.fold.close()
        folder = self.root / f"fold-{index:03d}"
        # a fold starts from its first epoch: what an interrupted attempt logged goes, file and all
        # (a purge step alone depends on the event files' name order, which is not the write order
        # for writers made in one process within one second)
        for stale in folder.glob("events.out.tfevents.*"):
            stale.unlink()
        self.fold = self._writer(folder.name)
        self.fold.add_text("fold", f"fold {index} ({name})", 0)
        self.last_epoch = 0

    def log_epoch(self, index: int, epoch: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.fold.add_scalar(f"train/{key}", value, epoch)
        self.fold.flush()  # a killed run keeps every epoch it logged
        self.last_epoch = epoch

    def end_fold(self, index: int, name: str, metrics: Mapping[str, float]) -> None:
        for key, value in metrics.items():
            tag = f"test/{key[5:]}" if key.startswith("test_") else f"fold/{key}"
            self.fold.add_scalar(tag, value, self.last_epoch)
        self.fold.close()
        self.fold = None

    def finish(self, result: RunResult) -> None:
        import numpy as np
        from PIL import Image

        assert self.root is not None
        mark = self.root / "summary" / FINISHED_MARK
        if mark.is_file():  # a finished run resumed again: its scores and curves are there
            return
        for key, value in result.metrics.items():
            self.summary.add_scalar(f"test/{key}", value, 0)
        for key, curve in result.curves.items():
            for epoch, value in enumerate(curve, 1):
                self.summary.add_scalar(f"mean/train/{key}", value, epoch)
        for name, path in result.images.items():
            with Image.open(path) as image:
                self.summary.add_image(name, np.asarray(image.convert("RGB")), 0, dataformats="HWC")
        self.summary.flush()
        mark.write_text("the scores, mean curves and plots of this run are logged in summary/\n", encoding="utf-8")

    def close(self, status: str) -> None:
        for writer in (self.fold, self.summary):
            if writer is not None:
                writer.close()
        self.fold = self.summary = None
