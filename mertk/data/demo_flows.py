"""The flows demo: the composite demo's clips as published-style 28 x 28 flow images.

``dataset: {name: demo, variant: flows}``. Some published MER pipelines (STSTNet and the models
built on its MEGC 2019 flows) ship one small 8-bit PNG per clip whose channels are the onset ->
apex flow ``u``, ``v`` and the optical strain, each min-max scaled per image: sub-pixel motion
at 28 px, quantised to 256 levels, with a flat background (TV-L1 leaves still regions at
exactly zero, so after scaling whole areas share one grey level). This demo writes such images
directly, without rendering frames or computing flow, so it takes about a second:

* the clips, subjects, sources, classes and action units are the composite demo's
  (:func:`mertk.data.demo_composite.plan_composite`: 68 subjects, 442 clips, 250/109/83);
* each subject's face is the 68-landmark mean-face template at 28 px
  (:func:`mertk.preprocess.template.template_landmarks`) with its own small shift, scale and
  shape jitter; the landmarks are written beside each flow (``landmarks`` column) so the HARS
  view finds the eyes and the mouth;
* the apex displacement is the basic demo's action-unit field (:func:`mertk.data.demo_faces.displacement`)
  at the composite demo's amplitudes (0.3-1.5 px for a 128 px face, so about 0.03-0.4 px
  here), plus an eye blink in half of the clips, a small head translation and smooth flow
  noise inside the face (more in ``samm``, the near-infrared source); outside the face
  ellipse the flow is zero;
* strain is ``sqrt(ux^2 + vy^2 + 0.5 (uy + vx)^2)`` of that field; each channel is min-max
  scaled to 0-255 and rounded to uint8.

The ``aus`` column lists the action units that moved at least
:data:`mertk.data.demo_faces.VISIBLE_PX` (0.3 px for a 128 px face) in that flow, blink (AU45)
included; ``none`` when nothing moved that much.

Written once into ``$MERTK_CACHE``/``~/.cache/mertk`` + ``demo-flows-v2-seed{seed}``::

    demo-flows-v2-seed0/flows/casme2_sub01_EP01.png   (28 x 28 RGB = u, v, strain)
    demo-flows-v2-seed0/landmarks/casme2_sub01_EP01.txt   (68 lines "x y", flow pixels)
    demo-flows-v2-seed0/manifest.csv   (sample, subject, dataset, label, flow, landmarks, aus)
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mertk.data import demo_faces
from mertk.data.demo_composite import SOURCES, PlannedClip, plan_composite

__all__ = ["generate_flows", "flow_clips", "FlowClip", "flow_image", "MANIFEST_NAME", "VERSION", "SIZE"]

VERSION = "v2"  # v1: no aus column
MANIFEST_NAME = "manifest.csv"
SIZE = 28
#: Smooth flow-noise std inside the face, px at 28 px, per source.
NOISE = {"casme2": 0.035, "samm": 0.06, "smic": 0.045}


def _subject_landmarks(count: int, seed: int) -> list[np.ndarray]:
    """``count`` faces: the 28 px template landmarks, each shifted, scaled and reshaped a little."""
    from mertk.preprocess.template import template_landmarks

    rng = np.random.default_rng([seed, 12])
    base = template_landmarks(SIZE).numpy().astype(np.float32)
    centre = base.mean(axis=0)
    faces = []
    for _ in range(count):
        scale = rng.uniform(0.92, 1.05, 2)
        points = (base - centre) * scale + centre + rng.normal(0, 0.6, 2) + rng.normal(0, 0.25, base.shape)
        faces.append(points.astype(np.float32))
    return faces


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def flow_image(units: tuple[str, ...], landmarks: np.ndarray, source: str, rng: np.random.Generator,
               moved: dict[str, float] | None = None, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """One ``(28, 28, 3)`` uint8 (u, v, strain) image of a clip moving the action ``units``; ``moved``
    receives each unit's apex displacement and ``fields`` each unit's own ``(2, 28, 28)`` flow in px,
    the blink's included, before noise, head motion and scaling (see
    :func:`mertk.data.demo_faces.displacement`; neither changes the image)."""
    style = next(s for s in SOURCES if s.name == source).style
    width = float(np.ptp(landmarks[:, 0]))
    face = demo_faces.Face(np.zeros((SIZE, SIZE), np.float32), landmarks, width)
    scale = width / 128.0
    field = demo_faces.displacement(units, face, amplitude=rng.uniform(*style.amplitude) * scale, rng=rng,
                                    moved=moved, fields=fields)
    if rng.random() < style.blink_rate:
        field += demo_faces.displacement(["blink"], face, amplitude=rng.uniform(1.0, 3.0) * scale, rng=rng,
                                         moved=moved, fields=fields)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cx, cy = landmarks[:, 0].mean(), landmarks[:, 1].mean() - 0.1 * width
    mask = (((xs - cx) / (0.62 * width)) ** 2 + ((ys - cy) / (0.8 * width)) ** 2 <= 1).astype(np.float32)
    noise = np.stack([_smooth(rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32), 1.2) for _ in range(2)])
    noise *= NOISE[source] / max(float(noise.std()), 1e-6)
    head = rng.normal(0, style.head_motion * scale, 2).astype(np.float32)[:, None, None]
    flow = (field + noise + head) * mask
    u, v = flow
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    strain = np.sqrt(ux**2 + vy**2 + 0.5 * (uy + vx) ** 2)
    channels = []
    for c in (u, v, strain):
        low, high = float(c.min()), float(c.max())
        channels.append((c - low) / (high - low) if high > low else np.zeros_like(c))
    return np.clip(np.rint(np.stack(channels, axis=-1) * 255), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FlowClip:
    """One clip of the flows demo as :func:`generate_flows` writes it."""

    clip: PlannedClip  # source, subject, name, class and action units
    stem: str  # file name without extension: ``casme2_sub01_EP01``
    landmarks: np.ndarray  # (68, 2) in flow pixels
    image: np.ndarray  # (28, 28, 3) uint8 u, v, strain
    moved: dict[str, float]  # each unit's apex displacement, px for a 128 px face
    fields: dict[str, np.ndarray]  # each unit's own (2, 28, 28) flow in px, before noise (see flow_image)


def flow_clips(seed: int = 0) -> Iterator[FlowClip]:
    """Every clip of the flows demo of ``seed``, in the manifest's order, without writing anything."""
    plan = plan_composite(seed)
    faces = _subject_landmarks(1 + max(c.face for c in plan), seed)
    for clip in plan:
        rng = np.random.default_rng([seed, 13, clip.index])
        moved: dict[str, float] = {}
        fields: dict[str, np.ndarray] = {}
        image = flow_image(clip.units, faces[clip.face], clip.source, rng, moved, fields)
        yield FlowClip(clip, f"{clip.source}_sub{clip.subject:02d}_{clip.name}", faces[clip.face], image, moved, fields)


def generate_flows(target: Path, seed: int = 0) -> None:
    """Write the flows demo of ``seed`` into the (empty) folder ``target``."""
    from PIL import Image

    (target / "flows").mkdir(parents=True, exist_ok=True)
    (target / "landmarks").mkdir(exist_ok=True)
    rows = []
    for made in flow_clips(seed):
        clip, stem = made.clip, made.stem
        Image.fromarray(made.image).save(target / "flows" / f"{stem}.png")
        np.savetxt(target / "landmarks" / f"{stem}.txt", made.landmarks, fmt="%.3f")
        rows.append((clip.name, f"sub{clip.subject:02d}", clip.source, clip.label, f"flows/{stem}.png",
                     f"landmarks/{stem}.txt", demo_faces.aus_cell(made.moved)))
    with open(target / MANIFEST_NAME, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("sample", "subject", "dataset", "label", "flow", "landmarks", "aus"))
        writer.writerows(rows)
