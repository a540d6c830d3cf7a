"""The long-video demo: minutes of the demo faces with micro- and macro-expressions at known intervals.

Generated locally and deterministically from ``seed`` on first use (nothing is downloaded) into
the demo cache (``$MERTK_CACHE`` or ``~/.cache/mertk``), folder
``long-videos-v1-seed{seed}-{videos}x{seconds}s-{fps}fps`` (``root`` chooses another), as a
long-video manifest (:mod:`mertk.data.long_manifest`), so it goes through the same reader as
user data::

    long-videos.csv                       video,subject,dataset,fps,intervals
    frames/sub01_1/img1.jpg ...           one folder of 240 x 240 grey JPEG frames per recording
    intervals/sub01_1.csv                 onset,apex,offset,type,emotion (0-based positions)

Each recording is one demo face (:func:`mertk.data.demo_faces.textured_faces`, one per subject)
over ``seconds`` at ``fps``, with events 1.5-4 s apart:

* micro-expressions (annotated, type ``micro``): 0.25-0.5 s, the action units of one demo
  emotion at 1-2.5 px at the apex for a 128 px face (the recognition demo's amplitudes);
* macro-expressions (annotated, type ``macro``): 1-3 s at 4-8 px;
* eye blinks (not annotated, the classic false alarm): 0.2-0.3 s eyelid motion;
* always: head motion (a slow sway of a few pixels and a mean-reverting jitter), lighting drift
  (a slowly varying gain and side light) and sensor noise.

The default (4 recordings of 75 s at 20 fps: 6000 frames, ~110 MB, ~15 s to write on one
core) keeps the spotting demo within a minute on 2 cores; 20 fps keeps a micro-expression 5-10
frames long, as the shorter ones are at 30 fps in CAS(ME)^2. Tests make smaller ones. Frames are
rendered and written one at a time: generation never holds a recording in memory (only the
displacement fields of the events under way).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mertk.api import LongVideoLoad
from mertk.data.demo import cache_root, materialise
from mertk.data.demo_faces import EMOTION_UNITS, JPEG_QUALITY, Face, displacement, intensity_profile, textured_faces

__all__ = ["LongDemo", "Event", "long_demo_folder", "ensure_long_demo", "generate_long_demo", "schedule_events",
           "MANIFEST_NAME"]

VERSION = "v1"
MANIFEST_NAME = "long-videos.csv"
DATASET = "long-demo"


class LongDemo:
    """Long-video demo, generated on first use (see :mod:`mertk.data.demo_long`).

    Args:
        root: Where the demo lives (default: a folder in the demo cache named by the arguments).
        seed: Seed of the faces and events.
        videos: Recordings, one subject each (at most 12: the demo faces).
        seconds: Length of each recording.
        fps: Frame rate.
    """

    def __init__(self, root: str | None = None, seed: int = 0, videos: int = 4, seconds: float = 75.0,
                 fps: float = 20.0) -> None:
        from mertk.errors import MertkError

        if not 1 <= videos <= 12 or seconds < 10 or fps < 10:
            raise MertkError(f"dataset: videos={videos}, seconds={seconds}, fps={fps}: the long demo makes 1-12 "
                             "videos of at least 10 s at 10 fps or more. Fix: choose values in those ranges")
        self.root, self.seed, self.videos, self.seconds, self.fps = root, seed, videos, seconds, fps

    def load(self) -> LongVideoLoad:
        from mertk.data.long_manifest import LongVideoManifest

        folder = ensure_long_demo(self.root, self.seed, videos=self.videos, seconds=self.seconds, fps=self.fps)
        return LongVideoManifest(str(folder / MANIFEST_NAME)).load()


def long_demo_folder(root: str | Path | None = None, seed: int = 0, *, videos: int = 4, seconds: float = 75.0,
                     fps: float = 20.0) -> Path:
    """Where the long demo of these arguments lives."""
    if root is not None:
        return Path(root).expanduser()
    return cache_root() / f"long-videos-{VERSION}-seed{seed}-{videos}x{seconds:g}s-{fps:g}fps"


def ensure_long_demo(root: str | Path | None = None, seed: int = 0, *, videos: int = 4, seconds: float = 75.0,
                     fps: float = 20.0) -> Path:
    """Generate the long demo unless it is there already; return its folder. Safe to interrupt."""
    folder = long_demo_folder(root, seed, videos=videos, seconds=seconds, fps=fps)
    return materialise(folder, MANIFEST_NAME,
                       lambda work: generate_long_demo(work, seed, videos=videos, seconds=seconds, fps=fps))


@dataclass(frozen=True)
class Event:
    """One facial event of a recording: frames ``onset..offset`` (apex between), its kind and motion."""

    kind: str  # "micro", "macro" or "blink"
    onset: int
    apex: int
    offset: int
    emotion: str = ""
    amplitude: float = 0.0  # px at the apex, for a 128 px face


def schedule_events(rng: np.random.Generator, length: int, fps: float) -> list[Event]:
    """Non-overlapping events over ``length`` frames, 1.5-4 s apart, none in the first and last 1.5 s."""
    events: list[Event] = []
    t = int(1.5 * fps)
    emotions = sorted(EMOTION_UNITS)
    while True:
        t += int(rng.uniform(1.5, 4.0) * fps)
        kind = str(rng.choice(["micro", "macro", "blink"], p=[0.45, 0.25, 0.30]))
        seconds, amplitude = {"micro": (rng.uniform(0.25, 0.5), rng.uniform(1.0, 2.5)),
                              "macro": (rng.uniform(1.0, 3.0), rng.uniform(4.0, 8.0)),
                              "blink": (rng.uniform(0.2, 0.3), rng.uniform(2.0, 4.0))}[kind]
        frames = max(4, int(round(seconds * fps)))
        if t + frames >= length - int(1.5 * fps):
            return events
        apex = t + int(round((frames - 1) * rng.uniform(0.4, 0.6)))
        emotion = str(rng.choice(emotions)) if kind != "blink" else ""
        events.append(Event(kind, t, apex, t + frames - 1, emotion, float(amplitude)))
        t += frames


def _render(face: Face, events: list[Event], length: int, fps: float, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The recording's ``(H, W)`` uint8 frames, one at a time."""
    import cv2

    h, w = face.image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    scale = face.width / 128.0
    ramp = (xs - w / 2) / (w / 2)
    sway_period, sway = rng.uniform(15, 30) * fps, rng.uniform(1.0, 3.0) * scale
    light_period, light_phase = rng.uniform(20, 40) * fps, rng.uniform(0, 2 * np.pi)
    jitter = np.zeros(2, np.float32)
    tilt = 0.0
    pending = list(events)
    active: list[tuple[Event, np.ndarray, np.ndarray]] = []  # event, (2, H, W) field, profile over its frames
    for t in range(length):
        while pending and pending[0].onset == t:
            event = pending.pop(0)
            units = ["blink"] if event.kind == "blink" else list(EMOTION_UNITS[event.emotion])
            field = displacement(units, face, amplitude=event.amplitude * scale, rng=rng)
            profile = intensity_profile(event.offset - event.onset + 1, 0, event.apex - event.onset,
                                        event.offset - event.onset)
            active.append((event, field, profile))
        jitter = 0.97 * jitter + rng.normal(0, 0.03 * scale, 2).astype(np.float32)  # mean-reverting head jitter
        angle = 2 * np.pi * t / sway_period
        dx = np.full((h, w), sway * np.sin(angle) + jitter[0], np.float32)
        dy = np.full((h, w), 0.4 * sway * np.sin(1.7 * angle) + jitter[1], np.float32)
        for event, field, profile in active:
            dx += profile[t - event.onset] * field[0]
            dy += profile[t - event.onset] * field[1]
        active = [a for a in active if a[0].offset > t]
        warped = cv2.remap(face.image, xs - dx, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        gain = 1 + 0.08 * np.sin(2 * np.pi * t / light_period + light_phase)
        tilt = float(np.clip(tilt + rng.normal(0, 0.05), -6, 6))  # side light drifting, grey levels
        lit = gain * warped + tilt * ramp + rng.normal(0, 1.5, warped.shape)
        yield np.clip(np.rint(lit), 0, 255).astype(np.uint8)


def generate_long_demo(target: Path, seed: int = 0, *, videos: int = 4, seconds: float = 75.0,
                       fps: float = 20.0) -> None:
    """Write the long demo into the (empty) folder ``target``, one frame at a time."""
    import cv2

    rng = np.random.default_rng(seed)
    faces = textured_faces(rng, videos)
    length = int(round(seconds * fps))
    manifest = [("video", "subject", "dataset", "fps", "intervals")]
    for number, face in enumerate(faces, start=1):
        name, subject = f"sub{number:02d}_1", f"sub{number:02d}"
        events = schedule_events(rng, length, fps)
        folder = target / "frames" / name
        folder.mkdir(parents=True)
        for index, frame in enumerate(_render(face, events, length, fps, rng), start=1):
            cv2.imwrite(str(folder / f"img{index}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        (target / "intervals").mkdir(exist_ok=True)
        with (target / "intervals" / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["onset", "apex", "offset", "type", "emotion"])
            writer.writerows((e.onset, e.apex, e.offset, e.kind, e.emotion) for e in events if e.kind != "blink")
        with (target / "intervals" / f"{name}.blinks.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)  # not annotation: where the distractors are, for analysis
            writer.writerow(["onset", "apex", "offset"])
            writer.writerows((e.onset, e.apex, e.offset) for e in events if e.kind == "blink")
        manifest.append((f"frames/{name}", subject, DATASET, f"{fps:g}", f"intervals/{name}.csv"))
    with (target / MANIFEST_NAME).open("w", newline="") as handle:  # written last: the demo's completion marker
        csv.writer(handle).writerows(manifest)
