"""The training-free long-video spotter (component kind ``spotter``, name ``strain-peaks``).

An MDMD-style spotter built from mertk's own parts: it streams the recording once, keeping only
a window of frames, and measures, for every frame ``t``, how much each facial region deformed
between frame ``t - k`` and frame ``t`` (``k`` ~ 0.2 s, about half a micro-expression):

1. every ``redetect`` seconds the face is found (``face_detector``), its 68 landmarks placed
   (``landmark_detector``) and one similarity transform computed (:func:`mertk.preprocess.align.
   alignment_matrix`); both frames of a pair are warped with the same transform, so a new
   detection never shows as motion;
2. the flow between the aligned pair (``flow``, any flow extractor, batched ``batch_size`` pairs
   at a time, on the GPU when the extractor runs there) becomes optical strain
   (:func:`mertk.preprocess.encoding.flow_channels`), which a rigid shift of the head does not
   produce: head motion is removed at the source;
3. the strain is averaged over the brows, nose and mouth regions (:data:`mertk.preprocess.roi.
   REGIONS`), with both eyes masked out (blinks are the classic false alarm);
4. each region's signal has its drift removed and is scaled by its own noise level, the frame's
   value is the largest region's, and :func:`mertk.preprocess.peaks.signal_intervals` turns that
   signal into micro- and macro-expression intervals by a noise-relative threshold with
   hysteresis.

Memory (:class:`mertk.preprocess.face_pairs.PairStream`): the window holds ``k + 1`` frames and
the batch at most ``2 * batch_size``, whatever the recording's length; the per-frame signals
(``4 x 4`` bytes per frame: 11 MB for an hour at 200 fps) are the only part that grows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from mertk.api import LongVideo, SpotResult
from mertk.preprocess.face_pairs import Pair, PairStream, aligned_groups, component, detect_alignment, pick_device
from mertk.refs import Ref

__all__ = ["StrainPeaks", "MEASURED", "MASKED"]

#: The regions whose strain is measured, and those masked out first.
MEASURED = ("brows", "nose", "mouth")
MASKED = ("right_eye", "left_eye")


class StrainPeaks:
    """Training-free spotter: peaks of facial optical strain over ROIs, drift removed (MDMD-style).

    Two time scales: micro-expressions are found in the strain between frames ``micro_interval``
    apart, macro-expressions in the strain between frames ``macro_interval`` apart (a slow
    expression moves little within a short interval); a micro interval inside a macro one is its
    rise or fall and is dropped.

    Args:
        face_detector: Finds the face every ``redetect`` seconds.
        landmark_detector: Its 68 landmarks (alignment and regions).
        flow: The flow extractor between the two frames of a pair of the aligned face (default: DIS
            ``fast``, as accurate here as Farneback at twice the speed on the CPU).
        size: Side of the aligned face in pixels.
        margin: Border around the landmark box in the aligned face, as a fraction of its side.
        micro_interval: Seconds between the frames of a pair for micro-expressions (``k``).
        macro_interval: Seconds between the frames of a pair for macro-expressions.
        redetect: Seconds between face detections.
        baseline: Seconds of the running median removed from each region's signal as drift
            (twice as long for the macro scale).
        high: Noise standard deviations a spotted run's peak must reach.
        low: Noise standard deviations the frames of a run must exceed.
        merge: Runs closer than this (seconds) are one.
        micro_max: The longest micro-expression (seconds); longer intervals are macro.
        macro_max: The longest macro-expression (seconds); longer intervals are dropped.
        batch_size: Frame pairs per flow call.
        device: Where the flow runs: ``auto`` is CUDA when available and the extractor runs on
            its input's device (``torch-tvl1``), else the CPU.

    Examples:
        >>> from mertk.preprocess.strain_spotter import StrainPeaks
        >>> StrainPeaks(face_detector=None, landmark_detector=None, flow=None).frames_apart(30.0)
        {'micro': 6, 'macro': 18}
    """

    def __init__(self, face_detector: Annotated[Any, Ref("face_detector")] = "dlib-auto",
                 landmark_detector: Annotated[Any, Ref("landmark_detector")] = "dlib-68",
                 flow: Annotated[Any, Ref("flow_extractor")] = {"name": "dis", "preset": "fast"},  # noqa: B006
                 size: Annotated[int, Field(ge=32)] = 128, margin: Annotated[float, Field(ge=0)] = 0.15,
                 micro_interval: PositiveFloat = 0.2, macro_interval: PositiveFloat = 0.6,
                 redetect: PositiveFloat = 2.0, baseline: PositiveFloat = 2.0, high: PositiveFloat = 5.0,
                 low: PositiveFloat = 2.0, merge: Annotated[float, Field(ge=0)] = 0.1,
                 micro_max: PositiveFloat = 0.5, macro_max: PositiveFloat = 4.0, batch_size: PositiveInt = 32,
                 device: Literal["auto", "cpu", "cuda"] = "auto") -> None:
        self.face_detector, self.landmark_detector, self.flow = face_detector, landmark_detector, flow
        self.size, self.margin, self.redetect = size, margin, redetect
        self.intervals = {"micro": micro_interval, "macro": macro_interval}
        self.baseline, self.high, self.low, self.merge = baseline, high, low, merge
        self.micro_max, self.macro_max, self.batch_size, self.device = micro_max, macro_max, batch_size, device
        #: The most frames the last :meth:`spot` held at once (window and batches), for the memory tests.
        self.held_frames = 0

    def frames_apart(self, fps: float) -> dict[str, int]:
        """The frames between the two frames of a pair at ``fps``, per scale (at least 1)."""
        return {scale: max(1, int(round(seconds * fps))) for scale, seconds in self.intervals.items()}

    def spot(self, video: LongVideo, frames: Iterator[np.ndarray]) -> SpotResult:
        """Spot micro- and macro-expressions in ``video``, reading ``frames`` (``(H, W)`` uint8) once.

        Raises:
            DataError: no face was found anywhere in the recording.
        """
        import torch

        self.face_detector = component("face_detector", self.face_detector)
        self.landmark_detector = component("landmark_detector", self.landmark_detector)
        self.flow = component("flow_extractor", self.flow)
        device = torch.device(pick_device(self.device, self.flow))
        fps = video.fps
        apart = self.frames_apart(fps)
        stream = PairStream(apart, max(1, int(round(self.redetect * fps))), self.batch_size, self._detect)
        rows: dict[str, list[np.ndarray]] = {scale: [] for scale in apart}  # (n, 1 + R) per flushed batch
        for scale, pairs in stream.batches(frames):
            rows[scale].append(self._measure(pairs, device))
        self.held_frames = stream.held_frames
        if not stream.found:
            raise stream.no_face(video)
        return self._intervals(rows, apart, stream.count, fps)

    def _intervals(self, rows: dict[str, list[np.ndarray]], apart: dict[str, int], count: int,
                   fps: float) -> SpotResult:
        """Region signals per scale -> the scale's signal -> micro and macro intervals."""
        from mertk.preprocess.peaks import remove_drift, robust_scale, signal_intervals

        micro_max, macro_max = int(round(self.micro_max * fps)), int(round(self.macro_max * fps))
        signals, found = {}, {}
        for scale, k in apart.items():
            regions = np.zeros((count, len(MEASURED)), np.float32)
            if rows[scale]:
                measured = np.concatenate(rows[scale])
                regions[measured[:, 0].astype(np.int64)] = measured[:, 1:]
            baseline = int(round(self.baseline * fps * (1 if scale == "micro" else 2)))
            scaled = []
            for column in regions.T:
                flat = remove_drift(column, baseline)
                scaled.append(flat / robust_scale(flat[k:]))
            combined = np.max(scaled, axis=0)
            combined[:k] = 0
            found[scale], signals[scale] = signal_intervals(
                combined, k=k, baseline=1, high=self.high, low=self.low, merge=int(round(self.merge * fps)),
                micro_max=micro_max, macro_max=micro_max if scale == "micro" else macro_max)
        macro = [i for i in found["macro"] if i.expression == "macro"]
        micro = [i for i in found["micro"] if not any(i.onset <= m.offset and m.onset <= i.offset for m in macro)]
        intervals = tuple(sorted(micro + macro, key=lambda i: (i.onset, i.offset)))
        return SpotResult(intervals, signals, {scale: self.high for scale in signals})

    def _detect(self, frame: np.ndarray) -> Any:
        """The alignment from this frame's face, with the measured regions and the eyes masked, or ``None``."""
        return detect_alignment(frame, self.face_detector, self.landmark_detector, self.size, self.margin,
                                MEASURED, MASKED)

    def _measure(self, pairs: list[Pair], device: Any) -> np.ndarray:
        """``(n, 1 + R)``: each pair's frame ``t`` and its regions' mean strain."""
        import torch

        from mertk.preprocess.encoding import flow_channels

        out = []
        for alignment, ts, before, after in aligned_groups(pairs, device):
            strain = flow_channels(self.flow(before, after), ["strain"])[:, 0]
            strain = strain * alignment.mask.to(strain.device)
            means = torch.stack([strain[:, top:bottom, left:right].mean(dim=(1, 2))
                                 for top, bottom, left, right in alignment.boxes], 1).cpu().numpy()
            out.append(np.concatenate([np.array(ts, np.float32)[:, None], means], 1))
        return np.concatenate(out)
