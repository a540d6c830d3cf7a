"""Helpers for the preprocessing tests: small test clips built from a real face (skimage's astronaut) with known, local motion.

The clip's frames move the mouth region down by up to ``AMPLITUDE`` pixels (a Gaussian blob of
displacement centred on the mouth), growing from the onset to the apex and back; dlib's HOG
detector finds this face.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mertk.api import Sample

MOUTH = (143.0, 146.0)  # (x, y) of the mouth in the crop, from dlib's landmarks
AMPLITUDE = 2.0
SIGMA = 14.0


def face_image() -> np.ndarray:
    """``(320, 320, 3)`` RGB crop of the astronaut with the face near the middle."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[0:320, 80:400])


def moved(image: np.ndarray, strength: float) -> np.ndarray:
    """``image`` with the mouth region pushed down by ``strength * AMPLITUDE`` pixels."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.exp(-((xs - MOUTH[0]) ** 2 + (ys - MOUTH[1]) ** 2) / (2 * SIGMA**2))
    dy = strength * AMPLITUDE * blob
    return cv2.remap(image, xs, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def clip_frames(n: int = 5, apex: int = 2) -> list[np.ndarray]:
    """``n`` RGB frames: onset 0, strongest motion at ``apex``."""
    base = face_image()
    return [moved(base, 1 - abs(i - apex) / max(apex, n - 1 - apex)) for i in range(n)]


def write_folder(folder: Path, frames: list[np.ndarray], suffix: str = ".jpg", numbers: list[int] | None = None,
                 grey: bool = False) -> tuple[Path, ...]:
    """Write frames as ``img{number}{suffix}`` (numbers may have gaps) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    numbers = numbers or list(range(1, len(frames) + 1))
    paths = []
    for number, frame in zip(numbers, frames):
        path = folder / f"img{number}{suffix}"
        out = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if grey else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path), out, [cv2.IMWRITE_JPEG_QUALITY, 98])
        paths.append(path)
    return tuple(paths)


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    """Write frames to an MJPG ``.avi`` that OpenCV reads back."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def sample(id_: str, *, frames: tuple[Path, ...] = (), video: Path | None = None, onset: int | None = 0,
           apex: int | None = 2, **kw) -> Sample:
    return Sample(id=id_, subject="test/s1", clip=id_.split("/")[-1], dataset="test", label=0, frames=frames,
                  video=video, onset=onset, apex=apex, **kw)
