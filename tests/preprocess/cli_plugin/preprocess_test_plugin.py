"""A throwaway plugin for the ``mertk preprocess`` tests: a dataset of clip folders, a stub model.

``clip-folders`` reads every sub-folder of ``root`` as one clip (onset first frame, apex third); a
folder without frames is a fatal problem at load time.
"""

from __future__ import annotations

from pathlib import Path

import mertk
from mertk.api import DatasetLoad, Problem, Sample


class ClipFolders:
    """Every folder under ``root`` is a clip of subject ``s1``."""

    class_names = ("negative", "positive", "surprise")

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def load(self) -> DatasetLoad:
        from mertk.data.frames import list_frames

        samples, problems = [], []
        for d in sorted(self.root.iterdir()):
            if not d.is_dir():
                continue
            if not list_frames(d):  # found at load time, as the real adapters do
                problems.append(Problem(str(d), "no frame images", "restore the clip's frames",
                                        sample=f"t/s1/{d.name}"))
                continue
            samples.append(Sample(id=f"t/s1/{d.name}", subject="t/s1", clip=d.name, dataset="t", label=0,
                                  frames=list_frames(d), onset=0, apex=2))
        return DatasetLoad(samples, problems, self.class_names)


def stub_model(num_classes: int, in_channels: int):
    """Stands in for a model so that the run config validates."""
    raise NotImplementedError


@mertk.hookimpl
def register_datasets(register):
    register("clip-folders", ClipFolders)


@mertk.hookimpl
def register_models(register):
    register("stub-model", stub_model)
