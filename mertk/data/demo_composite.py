"""The composite demo: a development data set shaped like the MEGC 2019 composite that does not saturate.

``dataset: {name: demo, variant: composite}``. Generated locally and deterministically from
``seed`` with the basic demo's faces, action units and renderer (`mertk.data.demo_faces`), once, into
``$MERTK_CACHE``/``~/.cache/mertk`` + ``demo-composite-v3-seed{seed}`` (written to a temporary
sibling and renamed when complete), as frame folders and a manifest read by the ``manifest``
adapter::

    demo-composite-v3-seed0/frames/casme2/sub01/EP01/img1.jpg ... img16.jpg
    demo-composite-v3-seed0/manifest.csv   (sample, subject, dataset, label, frames, onset, apex, offset, aus)

The ``aus`` column (so ``Sample.aus``) lists the action units that moved at least
:data:`mertk.data.demo_faces.VISIBLE_PX` (0.3 px for a 128 px face) at the apex in that clip,
blink (AU45) included; ``none`` when nothing moved that much.

Three sources with the real per-source subject, clip and class counts (negative/positive/surprise):

* ``casme2``: 24 subjects, 145 clips (88/32/25), 240 px frames, 12-16 frames per clip (200 fps);
* ``samm``: 28 subjects, 133 clips (92/26/15), 240 px greyscale near-infrared look (lower
  contrast, gamma, more noise), 12-16 frames (200 fps);
* ``smic``: 16 subjects, 164 clips (70/51/43), 160 px frames, 8-11 frames (100 fps);

68 subjects, 442 clips (250/109/83), 1 to 20 clips per subject. Faces: the astronaut and the
``lfw_subset`` faces dlib finds, then horizontally flipped ones with another skin texture and
brightness, one per subject. Apex amplitudes from 0.3 to 1.5 px for a 128 px face (each moving region
0.4-1.2 times that, so ~0.1-1.8 px); action units are shared across classes as in real data (AU4 in
negative clips and in some positive and surprise clips; lip-corner pull in some negative and surprise
clips; lip press, cheek raise and upper-lip raise in more than one class), plus blinks in half of
the clips, head motion and illumination drift.

Measured (seed 0, CPU, 2 threads, 4.4 min in all including generation and preprocessing)::

    mertk run dual-atme-demo-composite.yaml --set 'protocol={name: kfold, k: 5, by_subject: true}'

UF1 0.789, UAR 0.774 (casme2 0.812, samm 0.739, smic 0.782); the basic demo gives UF1 0.97. The
first version (v1: apex amplitudes 0.3-2 px, fewer shared action units) gave UF1 0.848.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mertk.data import demo_faces
from mertk.data.labels import MEGC3

__all__ = ["SOURCES", "Source", "PlannedClip", "plan_composite", "generate_composite", "render_composite_clip",
           "MANIFEST_NAME", "VERSION"]

VERSION = "v3"  # v2: no aus column; v1: amplitudes 0.3-2 px, fewer shared AUs (UF1 0.848, too close to saturating)
MANIFEST_NAME = "manifest.csv"
FRAMES_FOLDER = "frames"
MAX_CLIPS_PER_SUBJECT = 20


@dataclass(frozen=True)
class Source:
    """One source data set: counts, frame size, greyscale near-infrared look and clip style."""

    name: str
    subjects: int
    classes: tuple[int, int, int]  # clips per class, in MEGC3 order
    frame_size: int
    style: demo_faces.ClipStyle
    near_infrared: bool = False


_STYLE = dict(amplitude=(0.3, 1.5), blink_rate=0.5, head_motion=0.2)
SOURCES = (
    Source("casme2", 24, (88, 32, 25), 240, demo_faces.ClipStyle(lengths=(12, 16), **_STYLE)),
    Source("samm", 28, (92, 26, 15), 240, demo_faces.ClipStyle(lengths=(12, 16), noise=3.0, **_STYLE),
           near_infrared=True),
    Source("smic", 16, (70, 51, 43), 160, demo_faces.ClipStyle(lengths=(8, 11), **_STYLE)),
)

#: Per class: ``(probability, action units)`` recipes; AUs are shared across classes as in real data.
RECIPES: dict[str, tuple[tuple[float, tuple[str, ...]], ...]] = {
    "negative": ((0.25, ("4",)), (0.15, ("4", "9", "10")), (0.2, ("4", "24")), (0.1, ("24",)),
                 (0.1, ("9", "10")), (0.1, ("4", "6")), (0.1, ("12", "24"))),
    "positive": ((0.3, ("12",)), (0.25, ("12", "6")), (0.15, ("12", "24")), (0.15, ("4", "12")),
                 (0.15, ("6", "10"))),
    "surprise": ((0.3, ("1+2",)), (0.25, ("1+2", "26")), (0.2, ("4", "1+2")), (0.1, ("26",)),
                 (0.15, ("1+2", "12"))),
}


@dataclass(frozen=True)
class PlannedClip:
    """One clip to render: its source, subject (1-based within the source), face, name, class and AUs."""

    index: int  # position in the whole plan; seeds the clip's own random stream
    source: str
    subject: int
    face: int  # index into the subject faces (0..67)
    name: str
    label: str
    units: tuple[str, ...]


def _clips_per_subject(total: int, subjects: int, rng: np.random.Generator) -> list[int]:
    """Uneven clip counts, 1 to 20 per subject, summing to ``total``."""
    counts = np.ones(subjects, dtype=int)
    weights = rng.gamma(0.8, size=subjects)
    for _ in range(total - subjects):
        open_ = counts < MAX_CLIPS_PER_SUBJECT
        p = np.where(open_, weights, 0.0)
        counts[rng.choice(subjects, p=p / p.sum())] += 1
    return counts.tolist()


def _recipe(label: str, rng: np.random.Generator) -> tuple[str, ...]:
    """The action units of one clip of ``label``, drawn from its recipes."""
    chances, units = zip(*RECIPES[label])
    return units[rng.choice(len(units), p=np.array(chances) / sum(chances))]


def plan_composite(seed: int = 0) -> list[PlannedClip]:
    """Every clip of the composite demo of ``seed``, without rendering anything."""
    rng = np.random.default_rng([seed, 1])
    plan: list[PlannedClip] = []
    face = 0
    for source in SOURCES:
        counts = _clips_per_subject(sum(source.classes), source.subjects, rng)
        labels = rng.permutation([c for c, n in zip(MEGC3, source.classes) for _ in range(n)])
        clips = iter(labels)
        for subject, count in enumerate(counts, start=1):
            for episode in range(1, count + 1):
                label = str(next(clips))
                plan.append(PlannedClip(len(plan), source.name, subject, face, f"EP{episode:02d}", label,
                                        _recipe(label, rng)))
            face += 1
    return plan


# --------------------------------------------------------------------------- faces


def _subject_faces(count: int, seed: int) -> list[demo_faces.Face]:
    """``count`` distinct-looking faces: found faces, then flipped ones; each with its own skin and brightness."""
    rng = np.random.default_rng([seed, 2])
    detector, predictor = demo_faces.dlib_models()
    candidates = (demo_faces.find_face(i, detector, predictor) for i in demo_faces.base_images(rng))
    found = [f for f in candidates if f is not None]
    faces: list[demo_faces.Face] = []
    for candidate in _candidates(found, detector, predictor):
        faces.append(_restyle(candidate, rng))
        if len(faces) == count:
            return faces
    raise RuntimeError(f"only {len(faces)} of {count} demo faces were found")


def _candidates(found: list[demo_faces.Face], detector, predictor) -> Iterator[demo_faces.Face]:
    """The found faces, then their mirror images (landmarks found again on the flipped image)."""
    yield from found
    for face in found:
        flipped = demo_faces.find_face(face.image[:, ::-1].copy(), detector, predictor)
        if flipped is not None:
            yield flipped


def _restyle(face: demo_faces.Face, rng: np.random.Generator) -> demo_faces.Face:
    """The face with its own skin texture, brightness and contrast."""
    mean = float(face.image.mean())
    image = (face.image - mean) * rng.uniform(0.85, 1.15) + mean + rng.uniform(-20, 20)
    return demo_faces.Face(demo_faces.add_skin_texture(image, rng), face.landmarks, face.width)


# --------------------------------------------------------------------------- rendering


def _near_infrared(frames: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A near-infrared camera look: lower contrast, a gamma, extra noise."""
    gamma, contrast = rng.uniform(1.2, 1.5), rng.uniform(0.6, 0.75)
    out = []
    for frame in frames:
        x = (frame.astype(np.float32) / 255.0) ** gamma
        x = 255.0 * (0.5 + contrast * (x - 0.5)) + rng.normal(0, 2.0, frame.shape)
        out.append(np.clip(np.rint(x), 0, 255).astype(np.uint8))
    return out


def render_composite_clip(clip: PlannedClip, face: demo_faces.Face, seed: int,
                          moved: dict[str, float] | None = None) -> tuple[list[np.ndarray], int, int, int]:
    """The frames of ``clip`` (its source's size and look) and its onset, apex, offset positions;
    ``moved`` receives each unit's apex displacement (see :func:`mertk.data.demo_faces.displacement`)."""
    import cv2

    source = next(s for s in SOURCES if s.name == clip.source)
    rng = np.random.default_rng([seed, 3, clip.index])
    frames, onset, apex, offset = demo_faces.render_clip(face, clip.units, rng, source.style, moved=moved)
    if source.near_infrared:
        frames = _near_infrared(frames, rng)
    if frames[0].shape[0] != source.frame_size:
        size = (source.frame_size, source.frame_size)
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames, onset, apex, offset


def generate_composite(target: Path, seed: int = 0) -> None:
    """Write the composite demo of ``seed`` into the (empty) folder ``target``."""
    plan = plan_composite(seed)
    faces = _subject_faces(1 + max(c.face for c in plan), seed)
    rows = []
    for clip in plan:
        moved: dict[str, float] = {}
        frames, onset, apex, offset = render_composite_clip(clip, faces[clip.face], seed, moved)
        folder = Path(FRAMES_FOLDER) / clip.source / f"sub{clip.subject:02d}" / clip.name
        (target / folder).mkdir(parents=True)
        demo_faces.write_frames(target / folder, frames)
        rows.append((clip.name, f"sub{clip.subject:02d}", clip.source, clip.label, folder.as_posix(),
                     onset + 1, apex + 1, offset + 1, demo_faces.aus_cell(moved)))
    with open(target / MANIFEST_NAME, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("sample", "subject", "dataset", "label", "frames", "onset", "apex", "offset", "aus"))
        writer.writerows(rows)
