"""Aligned face pairs streamed from a long recording: what every flow-based long-video spotter reads.

A spotter that measures motion between frames ``t - k`` and ``t`` of a recording needs the same
plumbing whatever it does with the flow: find the face every few seconds, align both frames of a
pair with one transform (so that a new detection never shows as motion), keep only the window of
frames the pairs need, and hand the pairs over in batches so that the flow runs batched (on the GPU
when the flow extractor runs there). :class:`PairStream` does that once, for any number of time
scales; :func:`aligned_groups` warps a batch of pairs to the aligned face on a device.

Memory: the window holds ``max(k) + 1`` frames and the pending batches at most ``batch_size`` pairs
per scale (two frames each), whatever the recording's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mertk.api import FaceBox, LongVideo
from mertk.errors import DataError

__all__ = ["component", "Alignment", "Pair", "PairStream", "aligned_groups", "pick_device"]


def component(kind: str, spec: Any) -> Any:
    """A nested component given as a spec (when built directly, not by the registry)."""
    if isinstance(spec, (str, Mapping)):
        import mertk

        return mertk.load_components().build(kind, spec)
    return spec


def pick_device(device: str, flow: Any) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU (``CUDA_VISIBLE_DEVICES`` respected) and the flow
    extractor runs on its input's device, else ``cpu``; another value is returned as is."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() and getattr(flow, "uses_device", False) else "cpu"


class Alignment:
    """One detection: the alignment, the boxes of ``regions`` and a mask of ``masked`` in the aligned face.

    When the face is larger than ``size``, frames are first shrunk by ``shrink`` with area
    averaging (OpenCV) so that the warp itself never shrinks: anti-aliasing by area is far cheaper
    than the Gaussian blur the warp would otherwise apply to every frame.
    """

    def __init__(self, landmarks: np.ndarray, size: int, margin: float, regions: Sequence[str] = (),
                 masked: Sequence[str] = ()) -> None:
        import torch

        from mertk.preprocess.align import alignment_matrix, transform_points
        from mertk.preprocess.roi import region_box

        points = torch.from_numpy(np.asarray(landmarks, np.float32))
        matrix = alignment_matrix(points, size, margin)
        aligned = transform_points(points, matrix)
        scale = float(torch.linalg.det(matrix[:, :2]).abs().sqrt())
        self.size = size
        self.shrink = min(scale, 1.0)
        self.matrix = torch.cat([matrix[:, :2] / self.shrink, matrix[:, 2:]], 1)
        self.boxes = [region_box(aligned, region, (size, size), 0.3) for region in regions]
        self.mask = torch.ones(size, size)
        for region in masked:
            top, bottom, left, right = region_box(aligned, region, (size, size), 1.0)
            self.mask[top:bottom, left:right] = 0

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The frame at the scale the matrix expects."""
        if self.shrink >= 1.0:
            return frame
        import cv2

        return cv2.resize(frame, None, fx=self.shrink, fy=self.shrink, interpolation=cv2.INTER_AREA)


def detect_alignment(frame: np.ndarray, face_detector: Any, landmark_detector: Any, size: int, margin: float,
                     regions: Sequence[str] = (), masked: Sequence[str] = ()) -> Alignment | None:
    """The alignment from this frame's face, or ``None`` when no real face is found (a detector's
    whole-frame fallback does not count)."""
    boxes: list[FaceBox] = [b for b in face_detector(frame) if b.method != "whole-frame"]
    if not boxes:
        return None
    return Alignment(landmark_detector(frame, boxes[0]), size, margin, regions, masked)


class Pair(NamedTuple):
    """Frames ``t - k`` and ``t`` of one scale, with the alignment in force at ``t``."""

    t: int
    before: np.ndarray
    after: np.ndarray
    alignment: Alignment


class PairStream:
    """Streams a recording's frames into batches of pairs ``(t - k, t)``, one ``k`` per scale.

    Args:
        apart: Frames between the two frames of a pair, per scale name.
        every: Frames between face detections.
        batch_size: Pairs per batch (per scale).
        detect: ``frame -> Alignment | None``.

    After :meth:`batches` is exhausted, ``count`` is the frames read and ``held_frames`` the most
    frames held at once (window and pending pairs), for the memory tests.
    """

    def __init__(self, apart: Mapping[str, int], every: int, batch_size: int, detect: Any) -> None:
        self.apart, self.every, self.batch_size, self.detect = dict(apart), every, batch_size, detect
        self.count = 0
        self.held_frames = 0
        self.found = False

    def batches(self, frames: Iterator[np.ndarray]) -> Iterator[tuple[str, list[Pair]]]:
        """``(scale, pairs)`` as each scale's batch fills, then the partial batches left at the end."""
        window: deque[np.ndarray] = deque(maxlen=max(self.apart.values()) + 1)
        pending: dict[str, list[Pair]] = {scale: [] for scale in self.apart}
        alignment: Alignment | None = None
        for t, frame in enumerate(frames):
            self.count = t + 1
            if alignment is None or t % self.every == 0:
                alignment = self.detect(frame) or alignment
            window.append(frame)
            for scale, k in self.apart.items():
                if t >= k and alignment is not None:
                    pending[scale].append(Pair(t, window[-1 - k], frame, alignment))
            full = [scale for scale in self.apart if len(pending[scale]) >= self.batch_size]
            if full:
                self._held(window, pending)
            for scale in full:
                yield scale, pending[scale]
                pending[scale] = []
        self._held(window, pending)
        self.found = alignment is not None
        for scale, left in pending.items():
            if left:
                yield scale, left

    def _held(self, window: deque[np.ndarray], pending: dict[str, list[Pair]]) -> None:
        self.held_frames = max(self.held_frames, len(window) + 2 * sum(map(len, pending.values())))

    def no_face(self, video: LongVideo) -> DataError:
        """The error for a recording in which no face was found."""
        return DataError(f"{video.meta.get('folder', video.id)} [{video.id}]: no face found in any of its "
                         f"{self.count} frames. Fix: check the recording, or choose another face_detector")


def aligned_groups(pairs: Sequence[Pair], device: Any) -> Iterator[tuple[Alignment, list[int], Any, Any]]:
    """``(alignment, frame positions t, before, after)`` per alignment among ``pairs``: both frames of
    each pair warped with that alignment to ``(n, 1, size, size)`` float32 tensors in ``[0, 1]`` on ``device``."""
    import torch

    from mertk.preprocess.align import warp_frames

    groups: dict[int, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(id(pair.alignment), []).append(pair)
    for group in groups.values():
        alignment = group[0].alignment
        stack = np.stack([alignment.prepare(p.before) for p in group] + [alignment.prepare(p.after) for p in group])
        grey = torch.from_numpy(stack).to(device=device, dtype=torch.float32)[:, None] / 255.0
        aligned = warp_frames(grey, alignment.matrix, alignment.size).clamp(0, 1)
        n = len(group)
        yield alignment, [p.t for p in group], aligned[:n], aligned[n:]
