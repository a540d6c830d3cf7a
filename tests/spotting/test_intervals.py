"""The MEGC interval metric against hand-worked cases."""

from __future__ import annotations

import pytest

from mertk.api import Interval
from mertk.evaluation.intervals import Counts, SpottedVideo, count, evaluate_spotting, iou, match


def micro(onset: int, offset: int) -> Interval:
    return Interval(onset, offset, "micro")


def macro(onset: int, offset: int) -> Interval:
    return Interval(onset, offset, "macro")


def test_iou_counts_both_ends():
    assert iou(micro(10, 19), micro(10, 19)) == 1.0
    assert iou(micro(10, 19), micro(15, 24)) == pytest.approx(5 / 15)
    assert iou(micro(10, 19), micro(20, 29)) == 0.0  # touching, no shared frame
    assert iou(micro(0, 9), micro(9, 9)) == pytest.approx(1 / 10)  # one shared frame of ten


def test_threshold_is_inclusive():
    # [0, 9] vs [0, 4]: 5 of 10 frames, IoU exactly 0.5 -> a match; [0, 3]: 0.4 -> none
    assert match([micro(0, 9)], [micro(0, 4)]) == [(0, 0)]
    assert match([micro(0, 9)], [micro(0, 3)]) == []


def test_one_match_per_truth():
    # two detections of the same truth: one true positive, one false positive
    counts = count([micro(100, 119)], [micro(100, 119), micro(101, 120)])
    assert counts["micro"] == Counts(tp=1, fp=1, fn=0)


def test_detection_spanning_two_truths_takes_the_earlier_on_a_tie():
    # [0, 19] covers [0, 9] and [10, 19] with IoU 0.5 each: it matches the earlier truth only
    truths = [micro(10, 19), micro(0, 9)]
    assert match(truths, [micro(0, 19)]) == [(1, 0)]
    assert count(truths, [micro(0, 19)])["micro"] == Counts(tp=1, fp=0, fn=1)


def test_detection_spanning_two_truths_takes_the_higher_iou():
    # [2, 21] vs [0, 9]: 8/22; vs [4, 21]: 18/20 -> the second truth
    assert match([micro(0, 9), micro(4, 21)], [micro(2, 21)]) == [(1, 0)]


def test_matching_is_maximal_not_greedy():
    # D1 = [0, 9] overlaps T1 = [0, 9] (IoU 1.0) and T2 = [0, 14] (10/15); D2 = [3, 9] only T1 (7/10;
    # T2: 7/15). Greedy by IoU pairs D1-T1 and leaves D2 unmatched (1 TP); the maximum matching gives 2.
    truths, detections = [micro(0, 9), micro(0, 14)], [micro(0, 9), micro(3, 9)]
    assert iou(detections[1], truths[1]) < 0.5
    assert match(truths, detections) == [(0, 1), (1, 0)]
    assert count(truths, detections)["micro"] == Counts(tp=2)


def test_types_are_matched_apart():
    # a micro detection on a macro truth is a micro false positive and leaves a macro false negative
    counts = count([macro(0, 59)], [micro(0, 59)])
    assert counts == {"micro": Counts(fp=1), "macro": Counts(fn=1)}


def test_scores_when_nothing_is_detected_or_annotated():
    assert Counts(fn=3).scores() == {"tp": 0, "fp": 0, "fn": 3, "truths": 3, "detections": 0,
                                    "precision": None, "recall": 0.0, "f1": 0.0}
    nothing_to_find = Counts(fp=2).scores()
    assert (nothing_to_find["precision"], nothing_to_find["recall"], nothing_to_find["f1"]) == (0.0, None, 0.0)
    empty = Counts().scores()
    assert (empty["precision"], empty["recall"], empty["f1"]) == (None, None, None)


def test_counts_are_pooled_per_slice_before_the_ratios():
    videos = [
        # subject a: 1 micro TP, 1 micro FP; 1 macro TP
        SpottedVideo("d1/a/v1", "d1/a", "d1", [micro(10, 19), macro(100, 199)],
                     [micro(10, 19), micro(50, 55), macro(110, 199)]),
        # subject b: 1 micro FN; 1 macro FP
        SpottedVideo("d1/b/v1", "d1/b", "d1", [micro(10, 19)], [macro(300, 400)]),
        # another dataset: nothing annotated, nothing found
        SpottedVideo("d2/c/v1", "d2/c", "d2", [], []),
    ]
    result = evaluate_spotting(videos)
    overall = result["overall"]
    assert (overall["micro"]["tp"], overall["micro"]["fp"], overall["micro"]["fn"]) == (1, 1, 1)
    assert overall["micro"]["f1"] == pytest.approx(2 / 4)
    assert (overall["macro"]["tp"], overall["macro"]["fp"], overall["macro"]["fn"]) == (1, 1, 0)
    assert overall["macro"]["precision"] == pytest.approx(0.5) and overall["macro"]["recall"] == 1.0
    assert overall["macro"]["f1"] == pytest.approx(2 / 3)
    # overall adds the types' counts: TP 2, FP 2, FN 1 -> 4 / 7 (not the mean of the two F1s)
    assert overall["overall"]["f1"] == pytest.approx(4 / 7)
    assert result["per_subject"]["d1/a"]["micro"]["f1"] == pytest.approx(2 / 3)
    assert result["per_subject"]["d1/b"]["overall"]["f1"] == 0.0
    assert result["per_dataset"]["d1"]["overall"]["f1"] == pytest.approx(4 / 7)
    assert result["per_dataset"]["d2"]["overall"]["f1"] is None
    assert list(result["per_video"]) == ["d1/a/v1", "d1/b/v1", "d2/c/v1"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="expression type 'other'"):
        count([Interval(0, 5, "other")], [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ends before it starts"):
        count([], [micro(9, 3)])
    with pytest.raises(ValueError, match="listed twice"):
        evaluate_spotting([SpottedVideo("v", "s", "d", [], [])] * 2)
