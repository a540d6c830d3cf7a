"""Fold lists of public composite-benchmark code: one text file per fold, ``path label db`` per line.

Each file holds the **test** samples of one fold (as the public MEGC 2019 composite scripts
write them), for example ``sub01.txt``::

    flows/casme2/sub01_EP02_01f.png 1 casme2
    flows/casme2/sub01_EP19_05f.png 0 casme2

``path`` is an image (a precomputed flow image by default, ``image: face`` for apex faces),
relative to ``root`` (default: the list file's folder); ``label`` is an index into
``class_names``; ``db`` is the source dataset. Every sample's subject key is the fold
(``folds/{file stem}``), so the ``loso`` protocol reproduces the lists' folds exactly, in the
order of the sorted file names, while metrics are still sliced by ``db``. A path listed in two
fold files is reported (it would be tested twice) and only its first occurrence is kept.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Literal

from mertk.api import DatasetLoad, Problem, Sample
from mertk.data.labels import MEGC3
from mertk.data.manifest import FlowChannel, check_flow_channels, parse_label
from mertk.data.sheets import read_text_file
from mertk.errors import MertkError

__all__ = ["FoldLists"]


class FoldLists:
    """Test folds from "path label db" list files (one per fold), as public composite code writes them."""

    def __init__(self, files: str | list[str], class_names: tuple[str, ...] = MEGC3,
                 image: Literal["flow", "face"] = "flow",
                 flow_channels: tuple[FlowChannel, ...] = ("u", "v", "strain"), root: str | None = None) -> None:
        self.files, self.image, self.root = [files] if isinstance(files, str) else list(files), image, root
        self.class_names = tuple(class_names)
        self.flow_channels = check_flow_channels(tuple(flow_channels))

    def list_files(self) -> list[Path]:
        """The fold files: each entry of ``files`` is a path or a glob pattern; sorted by name."""
        found = sorted({Path(p) for pattern in self.files for p in glob.glob(str(Path(pattern).expanduser()))})
        if not found:
            raise MertkError(f"dataset.files {self.files}: no fold list file found. Fix: give the list files' "
                             "paths or a pattern such as /data/megc2019/lists/*.txt")
        return found

    def load(self) -> DatasetLoad:
        samples: list[Sample] = []
        problems: list[Problem] = []
        first_seen: dict[Path, str] = {}
        for file in self.list_files():
            base = Path(self.root).expanduser() if self.root else file.parent
            subject = f"folds/{file.stem}"
            text = read_text_file(file, "dataset.files")
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                where = {"file": str(file), "row": number}
                parts = line.strip().rsplit(maxsplit=2)
                if len(parts) != 3:
                    problems.append(Problem(message=f"expected 'path label db', got {line.strip()!r}",
                                            fix="correct the line", **where))
                    continue
                path_text, label_text, db = parts
                sample_id = f"{subject}/{path_text}"
                label = parse_label(label_text, self.class_names)
                path = base / path_text
                if label is None:
                    problems.append(Problem(message=f"label {label_text!r} is not an index into "
                                                    f"{list(self.class_names)}",
                                            fix="correct the label, or set dataset.class_names", sample=sample_id,
                                            **where))
                    continue
                if not path.is_file():
                    problems.append(Problem(message=f"image {path} does not exist", sample=sample_id,
                                            fix="correct the path (relative to dataset.root) or restore the file",
                                            **where))
                    continue
                if path.resolve() in first_seen:
                    problems.append(Problem(message=f"{path_text} is already in fold {first_seen[path.resolve()]}",
                                            fix="remove the duplicate line", sample=sample_id, **where))
                    continue
                first_seen[path.resolve()] = file.stem
                image = {"flow_image": path} if self.image == "flow" else {"face_image": path}
                samples.append(Sample(
                    id=sample_id, subject=subject, clip=Path(path_text).stem, dataset=db, label=label,
                    emotion=self.class_names[label], meta={"file": str(file), "row": number,
                                                           "flow_channels": list(self.flow_channels)}, **image,
                ))
        return DatasetLoad(samples, problems, self.class_names)
