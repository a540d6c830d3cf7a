"""The learned long-video spotter (component kind ``spotter``, name ``flow-windows``).

In the spirit of SOFTNet (Liong et al. 2021, shallow optical-flow three-stream CNN): every frame
``t`` of a recording is the end of a short window ``[t - k, t]``; the optical flow between the
window's two frames (the aligned face, :mod:`mertk.preprocess.face_pairs`, read in one streaming
pass like ``strain-peaks``) gives three maps, horizontal flow, vertical flow and optical strain, and
a shallow CNN with one stream per map regresses how much of the window lies inside an expression.

Training (:meth:`FlowWindows.fit`, run by ``mertk spot`` per LOSO fold on the other subjects'
recordings): ``k`` is half the mean annotated length of the scale's expressions (micro and, when
the training recordings have them, macro: one network per scale); each window's pseudo-label is
the fraction of it that an annotated expression of the scale covers (0 outside, 1 inside); the
windows kept per recording are all those with a positive label up to ``positives`` and a seeded
uniform sample of ``negatives`` of the others, so memory is bounded whatever the recordings' length.

Spotting: the scores are smoothed over ``k`` frames, the threshold is relative to the recording's
own scores (``mean + p (max - mean)``, so a recording always yields its strongest candidates: the
spotter assumes there is something to find, as SOFTNet does); each peak above it, peaks at least
an expression's length apart, becomes an interval of the mean annotated length of its type, centred
where the windows scored highest. A micro interval overlapping a macro one is dropped.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from mertk.api import Interval, LongVideo, SpotResult
from mertk.errors import DataError, MertkError
from mertk.preprocess.face_pairs import Pair, PairStream, aligned_groups, component, detect_alignment
from mertk.refs import Ref

__all__ = ["FlowWindows", "window_labels", "scores_to_intervals", "clear_cache"]

#: The regions masked out of the flow (blinks are the classic false alarm).
MASKED = ("right_eye", "left_eye")
#: Training windows kept in this process per recording, reused by the folds that train on it (LRU).
_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
#: The most bytes the cache holds.
CACHE_BYTES = 256 * 2**20


def clear_cache() -> None:
    """Forget the training windows kept in this process (the next fit reads its recordings again)."""
    _CACHE.clear()


def window_labels(ends: np.ndarray, k: int, truths: Sequence[Interval]) -> np.ndarray:
    """Pseudo-labels: the fraction of each window ``[t - k, t]`` (``t`` in ``ends``) covered by one of ``truths``.

    >>> window_labels(np.array([3, 6, 9, 14]), 3, [Interval(5, 9)]).tolist()
    [0.0, 0.5, 1.0, 0.0]
    """
    labels = np.zeros(len(ends), np.float32)
    for truth in truths:
        overlap = np.minimum(ends, truth.offset) - np.maximum(ends - k, truth.onset) + 1
        labels = np.maximum(labels, np.clip(overlap / (k + 1), 0, 1))
    return labels


def scores_to_intervals(scores: np.ndarray, *, k: int, length: int, p: float, expression: str
                        ) -> tuple[list[Interval], np.ndarray, float]:
    """Intervals from a ``(T,)`` window score (window ``[t - k, t]`` at ``t``): smoothed over ``k + 1``
    frames, thresholded at ``mean + p (max - mean)``, peaks ``length`` apart, each an interval of
    ``length`` frames centred ``k / 2`` before its peak. Returns the intervals, the smoothed signal and
    the threshold.

    >>> s = np.zeros(100); s[40:50] = 1.0
    >>> found, _, _ = scores_to_intervals(s, k=4, length=8, p=0.5, expression="micro")
    >>> [(i.onset, i.offset) for i in found]
    [(38, 45)]
    """
    from scipy.signal import find_peaks

    kernel = np.ones(k + 1) / (k + 1)
    smoothed = np.convolve(np.asarray(scores, np.float64), kernel, mode="same")
    threshold = float(smoothed.mean() + p * (smoothed.max() - smoothed.mean())) if len(smoothed) else 0.0
    last = len(smoothed) - 1
    found = []
    if len(smoothed) and smoothed.max() > smoothed.mean():
        peaks, _ = find_peaks(np.concatenate([[-np.inf], smoothed, [-np.inf]]), height=threshold,
                              distance=max(1, length))
        for peak in peaks - 1:
            centre = peak - k / 2
            onset = int(min(max(round(centre - (length - 1) / 2), 0), max(last - length + 1, 0)))
            offset = min(onset + length - 1, last)
            found.append(Interval(onset, offset, expression, apex=int(min(max(round(centre), onset), offset)),
                                  score=round(float(smoothed[peak]), 4)))
    return found, smoothed.astype(np.float32), threshold


def _network(channels: int, width: int) -> Any:
    """The shallow CNN: one convolution stream per input map (grouped), pooled, two dense layers."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(channels, channels * width, 3, padding=1, groups=channels), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels * width, channels * width, 3, padding=1, groups=channels), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(channels * width * 16, 64), nn.ReLU(), nn.Linear(64, 1))


class FlowWindows:
    """Learned sliding-window spotter: a shallow three-stream CNN scores short-window flows (SOFTNet-like).

    Args:
        face_detector: Finds the face every ``redetect`` seconds.
        landmark_detector: Its 68 landmarks (alignment, the eye mask).
        flow: The flow extractor between the window's two aligned frames.
        size: Side of the aligned face the flow is computed on, in pixels.
        margin: Border around the landmark box in the aligned face, as a fraction of its side.
        input_size: Side of the flow maps the network reads (area-averaged from ``size``).
        micro_interval: ``k`` for micro-expressions in seconds; default half the mean annotated
            micro-expression length of the training recordings.
        macro_interval: The same for macro-expressions (no macro network when the training
            recordings have no macro-expression and this is not given).
        redetect: Seconds between face detections.
        positives: Windows with a positive pseudo-label kept per training recording and scale.
        negatives: Windows without, kept per training recording and scale (seeded sample).
        epochs: Passes over the kept windows.
        lr: Adam's learning rate.
        width: Convolution channels per stream.
        p: Threshold: ``mean + p (max - mean)`` of the recording's smoothed scores.
        batch_size: Windows per flow call and per network call. Memory: the frames held are
            ``k + 1`` plus two per pending window (``batch_size`` per scale), and the device holds
            one batch's ``2 x batch_size`` aligned faces of ``size^2`` pixels and their flows,
            whatever the recording's length; training holds at most ``positives + negatives``
            windows of ``3 x input_size^2`` float16 per recording and scale.
        seed: Seed of the window sampling, the network's initial weights and the batch order: the
            same seed gives the same networks and intervals (on the CPU; cuDNN kernels may differ).
        device: Where the alignment warps, the flow (``torch-tvl1``; OpenCV's flows run on the CPU
            whatever the device) and the network run: ``auto`` is CUDA when torch sees a GPU (it
            respects ``CUDA_VISIBLE_DEVICES``), else the CPU.

    Examples:
        >>> from mertk.preprocess.window_spotter import FlowWindows
        >>> FlowWindows(face_detector=None, landmark_detector=None, flow=None).fitted
        False
    """

    def __init__(self, face_detector: Annotated[Any, Ref("face_detector")] = "dlib-auto",
                 landmark_detector: Annotated[Any, Ref("landmark_detector")] = "dlib-68",
                 flow: Annotated[Any, Ref("flow_extractor")] = {"name": "dis", "preset": "fast"},  # noqa: B006
                 size: Annotated[int, Field(ge=32)] = 64, margin: Annotated[float, Field(ge=0)] = 0.15,
                 input_size: Annotated[int, Field(ge=8)] = 32, micro_interval: PositiveFloat | None = None,
                 macro_interval: PositiveFloat | None = None, redetect: PositiveFloat = 2.0,
                 positives: PositiveInt = 400, negatives: PositiveInt = 800, epochs: PositiveInt = 10,
                 lr: PositiveFloat = 1e-3, width: PositiveInt = 8, p: Annotated[float, Field(ge=0, le=1)] = 0.5,
                 batch_size: PositiveInt = 32, seed: int = 0,
                 device: Literal["auto", "cpu", "cuda"] = "auto") -> None:
        self.face_detector, self.landmark_detector, self.flow = face_detector, landmark_detector, flow
        self.flow_spec = flow if isinstance(flow, (str, Mapping)) else None
        self.size, self.margin, self.input_size, self.redetect = size, margin, input_size, redetect
        self.given = {"micro": micro_interval, "macro": macro_interval}
        self.positives, self.negatives, self.epochs, self.lr, self.width = positives, negatives, epochs, lr, width
        self.p, self.batch_size, self.seed, self.device = p, batch_size, seed, device
        #: Per fitted scale: ``k`` and the mean expression length, in seconds.
        self.scales: dict[str, tuple[float, float]] = {}
        self.nets: dict[str, Any] = {}
        self.norm: dict[str, np.ndarray] = {}
        #: The most frames the last pass over a recording held at once (window and batches).
        self.held_frames = 0
        self._count = 0

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return bool(self.nets)

    # ------------------------------------------------------------------ training

    def fit(self, videos: Sequence[LongVideo]) -> FlowWindows:
        """Train one network per scale on ``videos`` (their annotated intervals are the truth).

        Raises:
            DataError: no training recording has a micro-expression interval (nothing to learn).
        """
        import torch

        videos = list(videos)
        lengths: dict[str, list[float]] = {"micro": [], "macro": []}
        for video in videos:
            for interval in video.intervals:
                lengths[interval.expression].append(interval.length / video.fps)
        if not lengths["micro"]:
            names = ", ".join(v.id for v in videos[:5]) + (", ..." if len(videos) > 5 else "")
            raise DataError(f"spotter flow-windows: the {len(videos)} training recordings ({names or 'none'}) have no "
                            "annotated micro-expression interval, so there is nothing to learn micro-expressions "
                            "from. Fix: train it on recordings with micro-expressions annotated (check the dataset's "
                            "annotation), or use the training-free spotter strain-peaks")
        self._build()
        self.scales = {}
        for scale, seconds in lengths.items():
            if seconds or self.given[scale] is not None:
                mean = float(np.mean(seconds)) if seconds else 2 * float(self.given[scale])  # type: ignore[arg-type]
                self.scales[scale] = (float(self.given[scale] or mean / 2), mean)
        data: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {scale: [] for scale in self.scales}
        for video in videos:
            for scale, kept in self._training_windows(video).items():
                data[scale].append(kept)
        device = torch.device(self._device())
        self.nets, self.norm = {}, {}
        for scale, parts in data.items():
            x = np.concatenate([part[0] for part in parts]).astype(np.float32)
            y = np.concatenate([part[1] for part in parts]).astype(np.float32)
            std = x.std(axis=(0, 2, 3)) + 1e-6
            self.norm[scale] = std.astype(np.float32)
            self.nets[scale] = self._train(x / std[None, :, None, None], y, scale, device)
        return self

    def _train(self, x: np.ndarray, y: np.ndarray, scale: str, device: Any) -> Any:
        """One network regressing ``y`` from ``x``, seeded."""
        import torch

        rng = np.random.default_rng([self.seed, zlib.crc32(scale.encode())])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            net = _network(x.shape[1], self.width).to(device)
        optimiser = torch.optim.Adam(net.parameters(), lr=self.lr)
        inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
        net.train()
        for _ in range(self.epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(order), 64):
                index = torch.from_numpy(order[start:start + 64])
                loss = torch.nn.functional.mse_loss(net(inputs[index].to(device))[:, 0], targets[index].to(device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        return net.eval()

    def _training_windows(self, video: LongVideo) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per scale, the windows kept from ``video`` (features ``(n, 3, S, S)`` float16) and their labels."""
        apart = self.frames_apart(video.fps)
        key = None if self.flow_spec is None else (
            video.id, len(video.frames), str(video.video), video.fps, tuple((i.onset, i.offset, i.expression)
                                                                             for i in video.intervals),
            repr(self.flow_spec), self.size, self.margin, self.input_size, self.redetect, self.positives,
            self.negatives, self.seed, tuple(sorted(apart.items())))
        if key is not None and all((key, scale) in _CACHE for scale in apart):
            for scale in apart:
                _CACHE.move_to_end((key, scale))
            return {scale: _CACHE[key, scale] for scale in apart}
        from mertk.preprocess.frames import stream_frames

        kept = {scale: _Reservoir(self.positives, self.negatives,
                                  np.random.default_rng([self.seed, zlib.crc32(f"{video.id}/{scale}".encode())]))
                for scale in apart}
        truths = {scale: [i for i in video.intervals if i.expression == scale] for scale in apart}
        for scale, ts, features in self._features(video, stream_frames(video), apart):
            labels = window_labels(np.asarray(ts), apart[scale], truths[scale])
            kept[scale].add(features.astype(np.float16), labels)
        out = {scale: reservoir.arrays(3, self.input_size) for scale, reservoir in kept.items()}
        if key is not None:
            for scale, arrays in out.items():
                _CACHE[key, scale] = arrays
            while sum(a.nbytes + b.nbytes for a, b in _CACHE.values()) > CACHE_BYTES and len(_CACHE) > 1:
                _CACHE.popitem(last=False)
        return out

    # ------------------------------------------------------------------ spotting

    def spot(self, video: LongVideo, frames: Iterator[np.ndarray]) -> SpotResult:
        """Spot micro- and macro-expressions in ``video``, reading ``frames`` (``(H, W)`` uint8) once.

        Raises:
            MertkError: the spotter was not fitted.
            DataError: no face was found anywhere in the recording.
        """
        import torch

        if not self.fitted:
            raise MertkError("spotter flow-windows learns from annotated recordings and was not trained. Fix: run it "
                             "with `mertk spot CONFIG`, which trains it per LOSO fold; in Python call "
                             "spotter.fit(videos) first")
        apart = self.frames_apart(video.fps)
        device = torch.device(self._device())
        parts: dict[str, list[tuple[list[int], np.ndarray]]] = {scale: [] for scale in apart}
        for scale, ts, features in self._features(video, frames, apart, held=True):
            x = torch.from_numpy(features / self.norm[scale][None, :, None, None]).to(device)
            with torch.no_grad():
                parts[scale].append((ts, self.nets[scale](x)[:, 0].float().cpu().numpy()))
        count = self._count
        signals, thresholds, found = {}, {}, {}
        for scale, k in apart.items():
            scores = np.zeros(count, np.float32)
            for ts, values in parts[scale]:
                scores[np.asarray(ts)] = values
            length = max(1, int(round(self.scales[scale][1] * video.fps)))
            found[scale], signals[scale], thresholds[scale] = scores_to_intervals(
                scores, k=k, length=length, p=self.p, expression=scale)
        macro = found.get("macro", [])
        micro = [i for i in found["micro"] if not any(i.onset <= m.offset and m.onset <= i.offset for m in macro)]
        intervals = tuple(sorted(micro + macro, key=lambda i: (i.onset, i.offset)))
        return SpotResult(intervals, signals, thresholds)

    # ------------------------------------------------------------------ shared

    def _build(self) -> None:
        self.face_detector = component("face_detector", self.face_detector)
        self.landmark_detector = component("landmark_detector", self.landmark_detector)
        self.flow = component("flow_extractor", self.flow)

    def _device(self) -> str:
        """``auto`` -> ``cuda`` when torch sees a GPU (``CUDA_VISIBLE_DEVICES`` respected), else ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def frames_apart(self, fps: float) -> dict[str, int]:
        """``k`` (frames between the two frames of a window) at ``fps`` per fitted scale (at least 1)."""
        return {scale: max(1, int(round(k * fps))) for scale, (k, _) in self.scales.items()}

    def _features(self, video: LongVideo, frames: Iterator[np.ndarray], apart: dict[str, int],
                  held: bool = False) -> Iterator[tuple[str, list[int], np.ndarray]]:
        """``(scale, frame positions, (n, 3, S, S) float32 maps)`` per batch of windows, streamed."""
        import torch

        self._build()
        device = torch.device(self._device())
        stream = PairStream(apart, max(1, int(round(self.redetect * video.fps))), self.batch_size, self._detect)
        for scale, pairs in stream.batches(frames):
            for ts, maps in self._maps(pairs, device):
                yield scale, ts, maps
        self.held_frames, self._count = stream.held_frames, stream.count
        if not stream.found:
            raise stream.no_face(video)

    def _detect(self, frame: np.ndarray) -> Any:
        return detect_alignment(frame, self.face_detector, self.landmark_detector, self.size, self.margin,
                                masked=MASKED)

    def _maps(self, pairs: list[Pair], device: Any) -> Iterator[tuple[list[int], np.ndarray]]:
        """Per alignment group: u, v (less their mean over the face: what is left of head motion) and
        strain, eyes masked, area-averaged to ``input_size``."""
        import torch

        from mertk.preprocess.encoding import flow_channels

        for alignment, ts, before, after in aligned_groups(pairs, device):
            flow = self.flow(before, after)
            mask = alignment.mask.to(flow.device)
            mean = (flow * mask).sum(dim=(2, 3), keepdim=True) / mask.sum().clamp(min=1)
            maps = flow_channels(flow - mean, ["u", "v", "strain"]) * mask
            pooled = torch.nn.functional.adaptive_avg_pool2d(maps, self.input_size)
            yield ts, pooled.cpu().numpy()


class _Reservoir:
    """Windows kept from one recording: the positives up to ``positives`` and a uniform sample of
    ``negatives`` of the others (reservoir sampling: one pass, bounded memory, seeded)."""

    def __init__(self, positives: int, negatives: int, rng: np.random.Generator) -> None:
        self.caps = {True: positives, False: negatives}
        self.kept: dict[bool, list[tuple[np.ndarray, float]]] = {True: [], False: []}
        self.seen = {True: 0, False: 0}
        self.rng = rng

    def add(self, features: np.ndarray, labels: np.ndarray) -> None:
        for x, y in zip(features, labels):
            side = bool(y > 0)
            self.seen[side] += 1
            kept = self.kept[side]
            if len(kept) < self.caps[side]:
                kept.append((x, float(y)))
            else:
                j = int(self.rng.integers(self.seen[side]))
                if j < self.caps[side]:
                    kept[j] = (x, float(y))

    def arrays(self, channels: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        items = self.kept[True] + self.kept[False]
        if not items:
            return np.zeros((0, channels, size, size), np.float16), np.zeros(0, np.float32)
        return np.stack([x for x, _ in items]), np.array([y for _, y in items], np.float32)
