"""From a per-frame motion signal to spotted intervals: drift removal, a robust threshold, hysteresis.

A training-free spotter turns a recording into one motion value per frame (how much the face
deformed between frame ``t - k`` and frame ``t``). What is left to do is the same for any such
signal, and is done here, on the 1-D signal only (a few bytes per frame, whatever the frames):

1. **drift**: the running median over ``baseline`` frames is subtracted, so slow changes (lighting,
   a slowly turning head, a long expression's plateau) do not lift a whole stretch above the
   threshold;
2. **threshold**: the signal is divided by its robust spread (1.4826 x the median absolute
   deviation, the standard deviation of Gaussian noise), so ``high`` reads "this many noise
   standard deviations", the same on every recording whatever its texture or lighting;
3. **hysteresis**: a run of frames above ``low`` is an interval when it reaches ``high`` somewhere;
   runs closer than ``merge`` frames are joined first;
4. **placement**: motion measured between ``t - k`` and ``t`` shows from the frame after the onset
   to ``k - 1`` frames past the offset, so a run ``[a, b]`` is the interval ``[a - 1, b - k + 1]``;
5. **type**: an interval of at most ``micro_max`` frames is ``micro``, up to ``macro_max`` ``macro``;
   longer ones are dropped (not an expression: a head turn, a talk).
"""

from __future__ import annotations

import numpy as np

from mertk.api import Interval

__all__ = ["remove_drift", "robust_scale", "hysteresis_runs", "signal_intervals"]


def remove_drift(signal: np.ndarray, baseline: int) -> np.ndarray:
    """``(T,)`` signal less its running median over ``baseline`` frames (centred, edges repeated).

    >>> remove_drift(np.array([1.0, 1, 1, 9, 1, 1, 1]), 3).tolist()
    [0.0, 0.0, 0.0, 8.0, 0.0, 0.0, 0.0]
    """
    signal = np.asarray(signal, dtype=np.float64)
    if len(signal) == 0 or baseline <= 1:
        return signal.copy()
    half = baseline // 2
    padded = np.pad(signal, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return signal - np.median(windows, axis=1)[: len(signal)]


def robust_scale(signal: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of ``signal`` (the std of Gaussian noise); at least 1e-9."""
    signal = np.asarray(signal, dtype=np.float64)
    if len(signal) == 0:
        return 1e-9
    return max(1.4826 * float(np.median(np.abs(signal - np.median(signal)))), 1e-9)


def hysteresis_runs(values: np.ndarray, low: float, high: float, merge: int = 0) -> list[tuple[int, int, float]]:
    """``(start, end, peak)`` of the runs of ``values > low`` that reach ``high`` (ends included).

    Runs separated by fewer than ``merge`` frames are joined before the ``high`` test.

    >>> hysteresis_runs(np.array([0, 2, 5, 2, 0, 2, 0, 2, 6, 0.0]), low=1, high=4)
    [(1, 3, 5.0), (7, 8, 6.0)]
    >>> hysteresis_runs(np.array([0, 2, 5, 2, 0, 2, 0, 2, 6, 0.0]), low=1, high=4, merge=2)
    [(1, 8, 6.0)]
    """
    above = np.asarray(values) > low
    edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(np.int8), [0]])))
    runs = [[int(a), int(b) - 1] for a, b in zip(edges[::2], edges[1::2])]
    joined: list[list[int]] = []
    for run in runs:
        if joined and run[0] - joined[-1][1] - 1 < merge:
            joined[-1][1] = run[1]
        else:
            joined.append(run)
    out = []
    for a, b in joined:
        peak = float(np.max(values[a:b + 1]))
        if peak >= high:
            out.append((a, b, peak))
    return out


def signal_intervals(signal: np.ndarray, *, k: int, baseline: int, high: float, low: float, merge: int,
                     micro_max: int, macro_max: int) -> tuple[tuple[Interval, ...], np.ndarray]:
    """Spotted intervals of a ``(T,)`` motion signal measured between frames ``t - k`` and ``t``.

    Args:
        signal: ``(T,)`` motion per frame (0 for the first ``k`` frames).
        k: The frame distance the motion was measured over.
        baseline: Frames of the running median removed as drift.
        high: Noise standard deviations a run must reach.
        low: Noise standard deviations a run's frames must exceed.
        merge: Runs closer than this many frames are one.
        micro_max: Longest micro-expression, in frames; ``macro_max``: longest macro-expression.

    Returns:
        The intervals (sorted, ``score`` = the run's peak in noise standard deviations, ``apex`` = the
        frame of that peak, placed like the onset) and the ``(T,)`` float32 normalised signal they
        were found in.
    """
    detrended = remove_drift(signal, baseline)
    normalised = detrended / robust_scale(detrended)
    intervals = []
    last = len(signal) - 1
    for a, b, peak in hysteresis_runs(normalised, low, high, merge):
        onset, offset = max(a - 1, 0), min(max(b - k + 1, a), last)
        length = offset - onset + 1
        if length > macro_max:
            continue
        apex = min(max(a + int(np.argmax(normalised[a:b + 1])) - k // 2, onset), offset)
        intervals.append(Interval(onset, offset, "micro" if length <= micro_max else "macro", apex=apex,
                                  score=round(peak, 3)))
    return tuple(intervals), normalised.astype(np.float32)
