"""Landmarks for precomputed flow images, from the face crop the flow was computed on.

A manifest row with a ``flow`` image may also give ``face`` (the apex face crop the flow was
computed on) and ``landmarks`` (a file of 68 ``(x, y)`` points). :func:`flow_landmarks` picks, in
this order:

- ``supplied``: the ``landmarks`` file, in the face crop's pixels (the flow image's when there
  is no face crop);
- ``detected``: the configured face and landmark detectors found a face on the crop;
- ``whole-crop``: they found none (tight crops often defeat dlib's HOG; a chain ending in
  ``whole-frame`` counts as finding none), so the whole crop is the face box;
- ``template``: no face crop and no landmarks file, so the mean-face template of
  :mod:`mertk.preprocess.template` places the regions.

Points in the crop are mapped into the flow image's pixel frame as a resize maps pixels (pixel
centres, the convention of ``cv2.resize`` and of ``F.interpolate`` with
``align_corners=False``): ``x' = (x + 0.5) * W_flow / W_crop - 0.5``, likewise for ``y``.
Detection on a crop is cached by :class:`CropCache` (crop path, size and modification time,
and the detector specs), so a rerun does not detect again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from mertk.api import FaceBox, Sample
from mertk.preprocess.cache import ClipCache, digest
from mertk.preprocess.errors import ClipError
from mertk.preprocess.template import template_landmarks

__all__ = ["LandmarkSource", "CropLandmarks", "CropCache", "read_landmarks", "scale_points", "flow_landmarks",
           "landmark_warning"]

LandmarkSource = Literal["detected", "whole-crop", "supplied", "template"]

#: The ``Sample.meta`` key of a manifest's ``landmarks`` file.
META_KEY = "landmarks_file"


@dataclass
class CropLandmarks:
    """Landmarks for one flow image and where they came from.

    Attributes:
        points: ``(68, 2)`` float32 ``(x, y)`` in the flow image's pixels.
        source: ``detected``, ``whole-crop``, ``supplied`` or ``template``.
        box: The face box on the crop (``detected`` and ``whole-crop``), else ``None``.
    """

    points: torch.Tensor
    source: LandmarkSource
    box: FaceBox | None = None


def read_landmarks(path: Path) -> np.ndarray:
    """Read 68 ``(x, y)`` points: a ``(68, 2)`` ``.npy``, or text of 68 lines ``x,y`` or ``x y``.

    Returns:
        ``(68, 2)`` float32.

    Raises:
        ValueError: unreadable file or another shape; the message says what was found.
    """
    try:
        if path.suffix.lower() == ".npy":
            points = np.load(path, allow_pickle=False)
        else:
            lines = [ln.replace(",", " ").split() for ln in path.read_text(encoding="utf-8").splitlines()]
            points = np.array([[float(v) for v in ln] for ln in lines if ln], dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read it ({exc})") from None
    points = np.asarray(points)
    if points.shape != (68, 2) or not np.issubdtype(points.dtype, np.number):
        raise ValueError(f"it holds {points.shape} values, not 68 (x, y) points")
    if not np.isfinite(points).all():
        raise ValueError("it has non-finite values")
    return points.astype(np.float32)


def scale_points(points: torch.Tensor, source: tuple[int, int], target: tuple[int, int]) -> torch.Tensor:
    """Map ``(N, 2)`` ``(x, y)`` pixel points of a ``source = (H, W)`` image into the same image
    resized to ``target = (H', W')`` (pixel-centre convention) -> ``(N, 2)`` float32.

    Shape:
        - Input: ``points`` ``(N, 2)``.
        - Output: ``(N, 2)`` float32.

    Examples:
        >>> from mertk.preprocess.crops import scale_points
        >>> scale_points(torch.tensor([[0.0, 0.0], [9.0, 19.0]]), source=(20, 10), target=(40, 20))
        tensor([[ 0.5000,  0.5000],
                [18.5000, 38.5000]])
    """
    scale = torch.tensor([target[1] / source[1], target[0] / source[0]], dtype=torch.float32)
    return (points.float() + 0.5) * scale - 0.5


class CropCache(ClipCache):
    """Detection results on face crops, one file per crop, keyed by the crop's path, size and
    modification time (the folder by the detector specs). Entries: ``{"points": (68, 2),
    "box": (4,), "method": str}``."""

    def path(self, sample: Sample) -> Path:
        face = Path(sample.face_image)
        try:
            st = face.stat()
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = (None, None)
        return self.folder / f"{face.stem[:60]}-{digest({'face': str(face.resolve()), 'stamp': stamp})}.pt"


def _read_crop(sample: Sample) -> np.ndarray:
    """The sample's face crop as ``(H, W, 3)`` RGB ``uint8``."""
    image = cv2.imread(str(sample.face_image), cv2.IMREAD_COLOR)
    if image is None:
        raise ClipError(sample.face_image, sample.id, "cannot read the face image",
                        "restore the file, or clear the row's face cell")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _detect(crop: np.ndarray, stages: Any) -> tuple[torch.Tensor, FaceBox]:
    """Face box and ``(68, 2)`` landmarks on ``crop`` (``(H, W, 3)`` ``uint8``); the whole crop is
    the box (method ``whole-crop``) when the detector finds no face."""
    boxes = stages.face(crop)
    if boxes and boxes[0].method != "whole-frame":
        box = boxes[0]
    else:
        h, w = crop.shape[:2]
        box = FaceBox(0.0, 0.0, w - 1.0, h - 1.0, 0.0, "whole-crop")
    points = torch.from_numpy(np.asarray(stages.landmarks(crop, box), dtype=np.float32))
    return points, box


def _detect_cached(sample: Sample, crop: np.ndarray, stages: Any, cache: CropCache) -> tuple[torch.Tensor, FaceBox]:
    """:func:`_detect`, through ``cache``."""
    hit = cache.load(sample)
    if hit is not None:
        return hit["points"], FaceBox(*hit["box"].tolist(), 0.0, hit["method"])
    points, box = _detect(crop, stages)
    cache.save(sample, {"points": points, "box": torch.tensor(box[:4], dtype=torch.float64), "method": box.method})
    return points, box


def _supplied(sample: Sample) -> torch.Tensor:
    """The manifest's landmarks file of ``sample`` -> ``(68, 2)`` float32 (file's pixel frame)."""
    path = Path(sample.meta[META_KEY])
    try:
        return torch.from_numpy(read_landmarks(path))
    except ValueError as exc:
        raise ClipError(path, sample.id, f"the landmarks file is unusable: {exc}",
                        "give 68 lines 'x,y' (or a 68 x 2 .npy), or clear the row's landmarks cell") from None


def flow_landmarks(sample: Sample, flow_shape: tuple[int, int], stages: Any, cache: CropCache) -> CropLandmarks:
    """Landmarks of a precomputed flow image of ``flow_shape = (H, W)``, in its pixel frame.

    Args:
        sample: A sample with ``flow_image``; its ``face_image`` and ``meta["landmarks_file"]``
            are used when set.
        stages: The built stages (``face`` and ``landmarks`` detectors).
        cache: Detection cache.

    Raises:
        ClipError: the face image or the landmarks file cannot be read.
    """
    supplied = META_KEY in sample.meta and sample.meta[META_KEY]
    if sample.face_image is None:
        if supplied:
            return CropLandmarks(_supplied(sample), "supplied")
        return CropLandmarks(template_landmarks(flow_shape[-1]), "template")
    crop = _read_crop(sample)
    if supplied:
        return CropLandmarks(scale_points(_supplied(sample), crop.shape[:2], flow_shape), "supplied")
    points, box = _detect_cached(sample, crop, stages, cache)
    source: LandmarkSource = "whole-crop" if box.method == "whole-crop" else "detected"
    return CropLandmarks(scale_points(points, crop.shape[:2], flow_shape), source, box)


def landmark_warning(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(message, fix)`` of the warning a flow image's ``landmarks_source`` deserves, if any."""
    fix = ("add a 'face' column naming the apex face crop the flow was computed on, or a 'landmarks' "
           "column naming a file of its 68 (x, y) landmarks")
    if record.get("landmarks_source") == "template":
        return "no face crop or landmarks: the HARS regions are placed by a mean-face template", fix
    if record.get("landmarks_source") == "whole-crop":
        return ("no face found on the face crop: its landmarks were placed in the whole crop",
                "check the crop, try another preprocess.face_detector, or add a 'landmarks' column")
    return None
