"""Frame sources: read the frames of a clip from an image folder or a video file, in colour or grey.

Image folders (``jpg``/``png``/``bmp``) are listed by the dataset adapters in temporal order
(:func:`mertk.data.frames.list_frames`: natural order of frame numbers, gaps allowed) into
``Sample.frames``; positions (``Sample.onset``/``apex``) index that list, not the frame numbers.
Videos are read with OpenCV; positions are frame indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mertk.api import Sample
from mertk.preprocess.errors import ClipError

__all__ = ["read_image", "clip_length", "read_frames", "source_files"]


def read_image(path: str | Path, *, colour: bool = True, sample: str = "") -> np.ndarray:
    """Read one frame as ``(H, W, 3)`` RGB or ``(H, W)`` grey ``uint8``.

    Raises:
        ClipError: the file is missing or not an image, naming the sample and the file.
    """
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError:
        data = np.empty(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE) if data.size else None
    if image is None:
        raise ClipError(path, sample, "cannot read this frame (missing or not an image)",
                        "restore the file, or set on_error: skip to leave the clip out")
    if _truncated(Path(path).suffix.lower(), data):
        raise ClipError(path, sample, "this frame is truncated (the file ends before the image does; OpenCV "
                        "would fill the rest with grey)", "restore the file, or set on_error: skip to leave the "
                        "clip out")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if colour else image


def _truncated(suffix: str, data: np.ndarray) -> bool:
    """Whether a JPEG or PNG file ends before its image does.

    OpenCV decodes such files and invents the missing rows, which would enter the optical flow
    as fake motion; Pillow's decoder notices the missing data (padding after the end marker,
    which some cameras write, is not mistaken for damage).
    """
    if suffix not in (".jpg", ".jpeg", ".png"):
        return False
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as image:
            image.load()
    except OSError:
        return True
    return False
