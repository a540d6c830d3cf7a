"""Manifest datasets: samples prepared elsewhere, listed in a CSV file.

One row per sample, header required (column names compared without case and spaces), comma
separated (a semicolon- or tab-delimited file, as Excel writes where the comma is the decimal
separator, is refused with that hint rather than guessed)::

    sample,subject,dataset,label,frames,onset,apex,offset,flow,face,landmarks
    EP02_01f,sub01,casme2,positive,,,,,flows/casme2_sub01_EP02_01f.png,faces/EP02_01f.png,
    s01_ne_01,s01,smic,0,frames/s01_ne_01,559740,,,,,

* ``sample``, ``subject``, ``dataset``, ``label``: required. ``label`` is a class name from
  ``class_names`` or its index. Subject keys become ``{dataset}/{subject}`` and ids
  ``{dataset}/{subject}/{sample}``, unique across datasets.
* Either ``frames`` (a folder of frame images) with ``onset`` and optionally ``apex`` and
  ``offset`` (frame numbers, or frame names whose digits are the number; without an onset the
  clip's first frame is taken as the onset, without an apex the spotter picks it, and one
  warning per row says so), or ``flow``: a
  precomputed flow image (``Sample.flow_image``; alignment and flow extraction are then
  skipped). ``face`` optionally names a prepared face image (``Sample.face_image``); for a flow
  row, the apex face crop the flow was computed on: preprocessing finds the 68 landmarks on it
  and maps them into the flow image, so HARS regions follow this face rather than a mean-face
  template.
* ``landmarks`` (flow rows, optional): a file of 68 ``(x, y)`` points in the face crop's pixels
  (the flow image's when there is no ``face``): a ``68 x 2`` ``.npy`` or 68 text lines ``x,y``
  or ``x y``. Kept in ``Sample.meta["landmarks_file"]``; supplied landmarks win over detection.
  See :mod:`mertk.preprocess.crops`.
* ``aus`` (optional): the clip's facial action units as a dataset sheet writes them
  (``4+L12``, ``AU1+AU2``, ``none``), parsed into ``Sample.aus`` by
  :mod:`mertk.data.action_units` and kept as released in ``Sample.meta["action_units"]``.
  Without the column ``aus`` is ``None`` (not coded: the action-unit task skips the sample);
  a blank or unreadable cell gives ``None`` and a warning naming the row and the token.
* Relative paths are relative to ``root`` (default: the CSV's folder).

Flow images store three channels in some order; ``flow_channels`` says which (default
``[u, v, strain]``, in the image's channel order as read in RGB) and is kept in
``Sample.meta["flow_channels"]`` so preprocessing can reorder them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mertk.api import DatasetLoad, Problem, Sample
from mertk.data.action_units import sample_aus
from mertk.data.clips import AnnotatedClip, MissingApex, clip_sample
from mertk.data.labels import MEGC3
from mertk.data.manifest_rows import unique_rows
from mertk.data.sheets import SheetRow, read_sheet
from mertk.errors import MertkError

__all__ = ["Manifest", "FlowChannel", "check_flow_channels", "parse_label"]

FlowChannel = Literal["u", "v", "strain", "magnitude"]


def check_flow_channels(channels: tuple[str, ...]) -> tuple[str, ...]:
    """Validate a channel order: distinct names including ``u`` and ``v``."""
    if len(set(channels)) != len(channels) or not {"u", "v"} <= set(channels):
        raise MertkError(f"dataset.flow_channels {list(channels)}: name each channel once and include u and v, "
                         "e.g. [u, v, strain]")
    return tuple(channels)


def parse_label(text: str, class_names: tuple[str, ...]) -> int | None:
    """A label cell as a class index: a class name or an index into ``class_names``."""
    text = text.strip()
    if text in class_names:
        return class_names.index(text)
    try:
        number = float(text)
    except ValueError:
        return None
    index = int(number)
    return index if number == index and 0 <= index < len(class_names) else None


class Manifest:
    """Samples listed in a CSV: frame folders with onset/apex, or precomputed flow images."""

    def __init__(self, path: str, class_names: tuple[str, ...] = MEGC3,
                 flow_channels: tuple[FlowChannel, ...] = ("u", "v", "strain"), root: str | None = None,
                 missing_apex: MissingApex = "spot") -> None:
        self.path, self.root, self.missing_apex = Path(path).expanduser(), root, missing_apex
        self.class_names = tuple(class_names)
        self.flow_channels = check_flow_channels(tuple(flow_channels))

    def load(self) -> DatasetLoad:
        base = Path(self.root).expanduser() if self.root else self.path.parent
        rows = read_sheet(self.path, ("sample", "subject", "dataset", "label"),
                          named_by="the dataset's 'path' argument")
        problems: list[Problem] = []
        samples = unique_rows(self.path, rows, lambda row: self._row_sample(row, base, problems), problems,
                              noun="sample", plural="samples")
        return DatasetLoad(samples, problems, self.class_names)

    @staticmethod
    def _landmarks(paths: dict[str, Path], meta: dict, where: dict, problems: list[Problem]) -> bool:
        """Check a row's ``landmarks`` file and keep it in ``meta``; ``False`` (with a problem added)
        when it is missing or does not hold 68 ``(x, y)`` points."""
        from mertk.preprocess.crops import META_KEY, read_landmarks  # imported here: it loads torch

        path = paths["landmarks"]
        if "flow" not in paths:
            problems.append(Problem(message="the landmarks column is used only with a flow image; ignored",
                                    fix="clear the cell (clips from frames get detected landmarks)", fatal=False,
                                    **where))
            return True
        try:
            read_landmarks(path)
        except ValueError as exc:
            reason = "does not exist" if not path.is_file() else f"is unusable: {exc}"
            problems.append(Problem(message=f"landmarks file {path} {reason}",
                                    fix="give 68 lines 'x,y' or 'x y' (or a 68 x 2 .npy) in the face crop's pixel "
                                    "coordinates (the flow image's without a face column), or clear the cell",
                                    **where))
            return False
        meta[META_KEY] = str(path)
        return True

    def _row_sample(self, row: SheetRow, base: Path, problems: list[Problem]) -> Sample | None:
        name, subject, dataset = row.text("sample"), row.text("subject"), row.text("dataset")
        sample_id = f"{dataset}/{subject}/{name}"
        where = {"file": str(self.path), "row": row.row, "sample": sample_id}
        if not (name and subject and dataset):
            problems.append(Problem(message="sample, subject and dataset must all be given", fix="fill the row",
                                    **where))
            return None
        label = parse_label(row.text("label"), self.class_names)
        if label is None:
            problems.append(Problem(message=f"label {row.text('label')!r} is not one of "
                                            f"{list(self.class_names)} nor an "
                                    "index into them", fix="correct the label, or set dataset.class_names", **where))
            return None
        paths = {c: base / row.text(c) for c in ("frames", "flow", "face", "landmarks") if row.text(c)}
        for column in ("flow", "face"):
            if column in paths and not paths[column].is_file():
                state = "is a folder, not an image file" if paths[column].is_dir() else "does not exist"
                problems.append(Problem(message=f"{column} image {paths[column]} {state}",
                                        fix="correct the path or restore the file", **where))
                return None
        meta = {"file": str(self.path), "row": row.row, "flow_channels": list(self.flow_channels)}
        aus = None
        if "aus" in row.cells:
            meta["action_units"] = row.text("aus")
            aus = sample_aus(row.text("aus"), problems, file=str(self.path), row=row.row, sample=sample_id,
                             column="aus")
        if "landmarks" in paths and not self._landmarks(paths, meta, where, problems):
            return None
        if "flow" in paths:
            return Sample(id=sample_id, subject=f"{dataset}/{subject}", clip=name, dataset=dataset, label=label,
                          emotion=self.class_names[label], flow_image=paths["flow"], face_image=paths.get("face"),
                          aus=aus, meta=meta)
        if "frames" not in paths:
            problems.append(Problem(message="neither a frames folder nor a flow image is given",
                                    fix="fill the 'frames' (with 'onset') or the 'flow' column", **where))
            return None
        annotated = AnnotatedClip(
            dataset=dataset, subject=f"{dataset}/{subject}", clip=name, label=label, emotion=self.class_names[label],
            folder=paths["frames"], onset=row.cells.get("onset"), apex=row.cells.get("apex"),
            offset=row.cells.get("offset"), file=str(self.path), row=row.row, meta=meta, aus=aus,
        )
        sample = clip_sample(annotated, problems, missing_apex=self.missing_apex)
        if sample is not None and "face" in paths:
            from dataclasses import replace

            sample = replace(sample, face_image=paths["face"])
        return sample
