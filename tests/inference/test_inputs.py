"""Command-line inputs -> samples: frame folders, videos, manifests, and their errors."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mertk.errors import MertkError
from mertk.inference.inputs import clip_samples


def _frames(folder: Path, numbers, size: int = 32) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"img{n}.jpg"), np.full((size, size, 3), n * 10 % 255, np.uint8))
    return folder


def _video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 32))
    for i in range(frames):
        writer.write(np.full((32, 32, 3), i * 20, np.uint8))
    writer.release()
    return path


def test_frames_folder_uses_frame_numbers_in_natural_order(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "EP01", [10, 2, 9, 11, 3])
    (sample,) = clip_samples([folder], onset="3", apex="img10.jpg")
    assert [p.name for p in sample.frames] == ["img2.jpg", "img3.jpg", "img9.jpg", "img10.jpg", "img11.jpg"]
    assert (sample.onset, sample.apex, sample.clip) == (1, 3, "EP01")
    (default,) = clip_samples([folder])
    assert (default.onset, default.apex) == (0, None)  # first frame; the spotter picks the apex
    assert sample.id == str(folder)  # problems name the clip as it was given, not "predict//abs/path"


def test_frame_reference_outside_the_folder_names_the_folder(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "EP01", [1, 2, 3])
    with pytest.raises(MertkError, match=r"apex frame 7 is outside the clip's frames 1\.\.3 in .*EP01.*Fix"):
        clip_samples([folder], apex="7")


def test_clip_shorter_than_two_frames(tmp_path: Path) -> None:
    with pytest.raises(MertkError, match=r"one.*has 1 frame; .*at least an onset and an apex frame.*Fix"):
        clip_samples([_frames(tmp_path / "one", [5])])
    with pytest.raises(MertkError, match=r"short\.avi: the clip has 1 frame.*Fix"):
        clip_samples([_video(tmp_path / "short.avi", 1)])


def test_video_positions_are_zero_based_indices(tmp_path: Path) -> None:
    video = _video(tmp_path / "clip.avi", 6)
    (sample,) = clip_samples([video], onset="1", apex="4")
    assert (sample.video, sample.onset, sample.apex, sample.frames) == (video, 1, 4, ())
    with pytest.raises(MertkError, match=r"apex '6' is not a frame index of this video \(0\.\.5\)"):
        clip_samples([video], apex="6")


def test_unreadable_video_and_missing_input(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MertkError, match=r"broken\.mp4: cannot read this video.*Fix: convert it"):
        clip_samples([bad])
    with pytest.raises(MertkError, match=r"nowhere: no such file or folder\. Fix"):
        clip_samples([tmp_path / "nowhere"])


def test_manifest_rows_give_clips_with_their_own_onset_and_apex(tmp_path: Path) -> None:
    _frames(tmp_path / "clips" / "a", [1, 2, 3, 4])
    _video(tmp_path / "clips" / "b.avi", 5)
    manifest = tmp_path / "list.csv"
    manifest.write_text("sample,frames,video,onset,apex\nfirst,clips/a,,2,4\nsecond,,clips/b.avi,0,3\n")
    first, second = clip_samples([manifest])
    assert (first.clip, first.onset, first.apex) == ("first", 1, 3)
    assert (second.clip, second.video.name, second.apex) == ("second", "b.avi", 3)
    with pytest.raises(MertkError, match=r"--onset/--apex do not apply to a manifest"):
        clip_samples([manifest], apex="2")
    manifest.write_text("sample,frames\nempty,\n")
    with pytest.raises(MertkError, match=r"list\.csv, row 2 \[empty\]: the row names no clip"):
        clip_samples([manifest])


def test_the_same_clip_twice_is_refused(tmp_path: Path) -> None:
    folder = _frames(tmp_path / "EP01", [1, 2])
    with pytest.raises(MertkError, match="given twice"):
        clip_samples([folder, folder])


def test_bad_clips_are_collected_naming_their_manifest_row_once(tmp_path: Path) -> None:
    """With a problems list every bad clip is listed (and left out) instead of stopping at the first;
    without one, the first raises. A manifest row is named once ("list.csv, row 3", not twice)."""
    _frames(tmp_path / "clips" / "a", [1, 2, 3])
    (tmp_path / "clips" / "empty").mkdir()
    manifest = tmp_path / "list.csv"
    manifest.write_text("sample,frames,video\nfirst,clips/a,\nlost,clips/nowhere,\nnone,clips/empty,\n"
                        "film,,clips/missing.avi\n")
    problems: list = []
    (kept,) = clip_samples([manifest, tmp_path / "gone"], problems=problems)
    assert kept.clip == "first"
    assert [(p.row, p.fatal) for p in problems] == [(3, True), (4, True), (5, True), (None, True)]
    assert [len(re.findall(r"row \d", str(p))) for p in problems] == [1, 1, 1, 0]
    assert "clip folder" in problems[0].message and "does not exist" in problems[0].message
    assert "video" in problems[2].message and str(problems[3]).endswith("Fix: pass a video file, a folder of frames "
                                                                        "or a manifest .csv")
    with pytest.raises(MertkError, match=r"list\.csv, row 3 \[[^\]]*nowhere\]: clip folder .* does not exist\. Fix"
                                         ) as exc:
        clip_samples([manifest])
    assert str(exc.value).count("row 3") == 1
