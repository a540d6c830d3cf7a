"""The MEGC spotting metric: spotted intervals against annotated ones, by interval IoU.

A detection is a true positive when its intersection over union with a ground-truth interval of
the same expression type is at least 0.5 (:data:`IOU_THRESHOLD`); frames are counted with both
ends included, so ``[10, 19]`` and ``[15, 24]`` overlap on 5 of 15 frames (IoU 1/3).

One match per truth, one per detection. Which pairs match is a maximum one-to-one matching over
the pairs that pass the threshold (:func:`match`), so the count of true positives never depends on
the order detections come in:

* a detection overlapping two truths matches one of them: the one with the higher IoU, unless
  taking it would leave another detection without its only truth (then it takes the other,
  and both count); between equal IoUs the truth with the earlier onset is taken;
* a second detection of an already matched truth is a false positive.

Micro- and macro-expressions are scored apart, as MEGC does since its long-video task: micro
detections only match micro truths, macro only macro. ``overall`` adds the two types' counts.
From the counts of a slice (all videos, one dataset, one subject, one video):

* ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``f1 = 2 TP / (2 TP + FP + FN)``;
* counts are summed over the slice's videos first, then the ratios taken (MEGC's pooling), never
  averaged over videos or subjects;
* a ratio whose denominator is 0 is ``None`` (undefined), not 0: no detections gives precision
  ``None`` (recall 0 and F1 0 when there were truths to find); no truths gives recall ``None``
  (precision 0 and F1 0 when something was detected); neither gives all three ``None``, since a
  slice with nothing to find and nothing found has no error to score. The counts are always there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mertk.api import Interval

__all__ = ["IOU_THRESHOLD", "EXPRESSIONS", "SpottedVideo", "Counts", "iou", "match", "count", "evaluate_spotting"]

IOU_THRESHOLD = 0.5
EXPRESSIONS = ("micro", "macro")


@dataclass(frozen=True)
class SpottedVideo:
    """One long video's annotated and detected intervals, and the slices it belongs to."""

    video: str
    subject: str
    dataset: str
    truths: Sequence[Interval]
    detections: Sequence[Interval]


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives of one slice."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def scores(self) -> dict[str, Any]:
        """``tp``, ``fp``, ``fn``, ``truths``, ``detections``, ``precision``, ``recall``, ``f1``
        (a ratio is ``None`` where its denominator is 0)."""

        def ratio(numerator: int, denominator: int) -> float | None:
            return numerator / denominator if denominator else None

        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "truths": self.tp + self.fn,
                "detections": self.tp + self.fp, "precision": ratio(self.tp, self.tp + self.fp),
                "recall": ratio(self.tp, self.tp + self.fn), "f1": ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)}


def iou(first: Interval, second: Interval) -> float:
    """Intersection over union of two intervals, in frames with both ends included.

    >>> iou(Interval(10, 19), Interval(15, 24))
    0.3333333333333333
    """
    overlap = min(first.offset, second.offset) - max(first.onset, second.onset) + 1
    if overlap <= 0:
        return 0.0
    return overlap / (first.length + second.length - overlap)


def match(truths: Sequence[Interval], detections: Sequence[Interval],
          threshold: float = IOU_THRESHOLD) -> list[tuple[int, int]]:
    """A maximum one-to-one matching of ``detections`` to ``truths`` among pairs with IoU >= ``threshold``.

    Detections are taken in order of onset (then offset, then position); each tries its truths by
    decreasing IoU (then earlier truth onset) and may move an earlier detection to another truth
    of its own when that lets both match (Kuhn's augmenting paths), so the number of pairs is the
    largest possible. Expression types are not looked at (see :func:`count`).

    Returns:
        ``(truth position, detection position)`` pairs, sorted by truth position.
    """
    candidates: list[list[int]] = []
    for detection in detections:
        scored = [(iou(truth, detection), -truth.onset, -t) for t, truth in enumerate(truths)]
        candidates.append([-t for score, _, t in sorted(scored, reverse=True) if score >= threshold])
    owner: dict[int, int] = {}  # truth -> detection

    def assign(d: int, seen: set[int]) -> bool:
        for t in candidates[d]:
            if t in seen:
                continue
            seen.add(t)
            if t not in owner or assign(owner[t], seen):
                owner[t] = d
                return True
        return False

    order = sorted(range(len(detections)), key=lambda d: (detections[d].onset, detections[d].offset, d))
    for d in order:
        assign(d, set())
    return sorted(owner.items())


def count(truths: Sequence[Interval], detections: Sequence[Interval],
          threshold: float = IOU_THRESHOLD) -> dict[str, Counts]:
    """One video's :class:`Counts` per expression type (``micro``, ``macro``), each type matched apart.

    Raises:
        ValueError: an interval's type is not ``micro`` or ``macro``, or its offset is before its onset.
    """
    for interval in (*truths, *detections):
        if interval.expression not in EXPRESSIONS:
            raise ValueError(f"interval {interval.onset}-{interval.offset} has expression type "
                             f"{interval.expression!r}; the metric knows {', '.join(EXPRESSIONS)}")
        if interval.offset < interval.onset:
            raise ValueError(f"interval {interval.onset}-{interval.offset} ends before it starts")
    result = {}
    for expression in EXPRESSIONS:
        these_truths = [t for t in truths if t.expression == expression]
        these_detections = [d for d in detections if d.expression == expression]
        tp = len(match(these_truths, these_detections, threshold))
        result[expression] = Counts(tp, len(these_detections) - tp, len(these_truths) - tp)
    return result


def _slice_scores(counts: Iterable[dict[str, Counts]]) -> dict[str, dict[str, Any]]:
    total = {expression: Counts() for expression in EXPRESSIONS}
    for video in counts:
        total = {expression: total[expression] + video[expression] for expression in EXPRESSIONS}
    overall = sum(total.values(), Counts())
    return {**{expression: total[expression].scores() for expression in EXPRESSIONS}, "overall": overall.scores()}


def evaluate_spotting(videos: Sequence[SpottedVideo], threshold: float = IOU_THRESHOLD) -> dict[str, Any]:
    """Score spotted intervals overall, per dataset, per subject and per video.

    Args:
        videos: Every evaluated video with its truths and detections (all folds pooled).
        threshold: The IoU a detection needs to match a truth (MEGC: 0.5).

    Returns:
        ``{"overall": S, "per_dataset": {name: S}, "per_subject": {subject: S}, "per_video": {video: S}}``
        where ``S = {"micro": C, "macro": C, "overall": C}`` and ``C`` is :meth:`Counts.scores`;
        keys are sorted. Counts are pooled over a slice's videos before the ratios are taken.

    Raises:
        ValueError: two videos share an id, or an interval is malformed (see :func:`count`).
    """
    seen: set[str] = set()
    per_video: dict[str, dict[str, Counts]] = {}
    groups: dict[str, dict[str, list[str]]] = {"per_dataset": defaultdict(list), "per_subject": defaultdict(list)}
    for video in videos:
        if video.video in seen:
            raise ValueError(f"video {video.video!r} is listed twice")
        seen.add(video.video)
        per_video[video.video] = count(video.truths, video.detections, threshold)
        groups["per_dataset"][video.dataset].append(video.video)
        groups["per_subject"][video.subject].append(video.video)
    result: dict[str, Any] = {"overall": _slice_scores(per_video.values())}
    for key, members in groups.items():
        result[key] = {name: _slice_scores(per_video[v] for v in members[name]) for name in sorted(members)}
    result["per_video"] = {name: _slice_scores([per_video[name]]) for name in sorted(per_video)}
    return result
