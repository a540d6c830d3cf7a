"""Frame sources: image folders (png/jpg/bmp, gaps in numbering), videos, grey and colour."""

from __future__ import annotations

import numpy as np
import pytest
from preprocess_clips import clip_frames, sample, write_folder, write_video

from mertk.errors import MertkError
from mertk.preprocess.frames import clip_length, read_frames, source_files


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_image_folder_with_gaps_reads_by_position(tmp_path, suffix):
    frames = clip_frames(4, 2)
    paths = write_folder(tmp_path / "c", frames, suffix, numbers=[9, 10, 12, 100])
    s = sample("t/s/c", frames=paths)
    assert clip_length(s) == 4
    apex_rgb, = read_frames(s, [2])
    assert apex_rgb.shape == (320, 320, 3) and apex_rgb.dtype == np.uint8
    tolerance = 0 if suffix != ".jpg" else 6
    assert np.abs(apex_rgb.astype(int) - frames[2]).mean() <= tolerance
    grey, = read_frames(s, [0], colour=False)
    assert grey.shape == (320, 320)


def test_grey_source_reads_as_colour_too(tmp_path):
    paths = write_folder(tmp_path / "g", clip_frames(3, 1), ".png", grey=True)
    rgb, = read_frames(sample("t/s/g", frames=paths), [1])
    assert rgb.shape == (320, 320, 3) and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_video_frames_by_index(tmp_path):
    frames = clip_frames(5, 2)
    s = sample("t/s/v", video=write_video(tmp_path / "v.avi", frames))
    assert clip_length(s) == 5
    got = read_frames(s, [3, 0])
    assert np.abs(got[0].astype(int) - frames[3]).mean() < 6  # MJPG is lossy
    assert np.abs(got[1].astype(int) - frames[0]).mean() < 6
    assert source_files(s) == [tmp_path / "v.avi"]


def test_position_outside_the_clip_names_sample_and_fix(tmp_path):
    paths = write_folder(tmp_path / "c", clip_frames(3, 1), ".png")
    with pytest.raises(MertkError, match=r"t/s/c.*outside the clip.*Fix: correct the onset/apex"):
        read_frames(sample("t/s/c", frames=paths), [5])
    with pytest.raises(MertkError, match=r"beyond the end"):
        read_frames(sample("t/s/v", video=write_video(tmp_path / "v.avi", clip_frames(3, 1))), [7])


def test_missing_frame_file_is_named(tmp_path):
    paths = write_folder(tmp_path / "c", clip_frames(3, 1), ".png")
    paths[1].unlink()
    with pytest.raises(MertkError, match=r"img2\.png.*t/s/c.*cannot read"):
        read_frames(sample("t/s/c", frames=paths), [1])
