"""Face detectors (dlib HOG/CNN, OpenCV, whole frame, fallback chain) and dlib's 68 landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from preprocess_clips import MOUTH, face_image

from mertk.errors import MertkError


def test_dlib_hog_finds_the_face(components):
    boxes = components.create("face_detector", "dlib-hog")(face_image())
    assert len(boxes) == 1
    box = boxes[0]
    assert box.method == "dlib-hog" and box.left < MOUTH[0] < box.right and box.top < MOUTH[1] < box.bottom


def test_dlib_cnn_finds_the_face(components):
    small = cv2.resize(face_image(), (160, 160))
    boxes = components.create("face_detector", "dlib-cnn", upsample=1)(small)
    assert boxes and boxes[0].method == "dlib-cnn"
    assert boxes[0].left < MOUTH[0] / 2 < boxes[0].right


def test_landmarks_are_68_points_in_the_face(components):
    image = face_image()
    box = components.create("face_detector", "dlib-hog")(image)[0]
    lm = components.create("landmark_detector", "dlib-68")(image, box)
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    mouth = lm[48:68].mean(0)
    assert np.hypot(*(mouth - MOUTH)) < 8
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()  # subject's right eye is on the image's left
    assert lm[36:48, 1].mean() < mouth[1]


def test_fallback_chain_uses_whole_frame_on_a_tight_crop(components):
    tight = np.ascontiguousarray(face_image()[95:175, 105:185])  # too small/tight for HOG
    assert components.create("face_detector", "dlib-hog")(tight) == []
    chain = components.create("face_detector", "dlib-auto", chain=["dlib-hog", "whole-frame"])
    boxes = chain(tight)
    assert [b.method for b in boxes] == ["whole-frame"]
    assert boxes[0][:4] == (0.0, 0.0, 79.0, 79.0)


def test_fallback_chain_default_and_bad_member(components):
    boxes = components.create("face_detector", "dlib-auto")(face_image())
    assert boxes[0].method == "dlib-hog"  # the first member already succeeds
    with pytest.raises(MertkError, match=r"chain.1.name: unknown face_detector 'hog'; installed: dlib-auto"):
        components.create("face_detector", "dlib-auto", chain=["dlib-hog", "hog"])  # caught by config checks
    with pytest.raises(MertkError, match="chain.0: unknown detector 'dlib-auto'"):  # a chain is not a member
        components.create("face_detector", "dlib-auto", chain=["dlib-auto"])


def test_opencv_detector_needs_a_model_file(components, tmp_path):
    with pytest.raises(MertkError, match="cascade .xml or a YuNet .onnx"):
        components.create("face_detector", "opencv", model=str(tmp_path / "none.xml"))
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(MertkError, match="not a valid OpenCV cascade"):
        components.create("face_detector", "opencv", model=str(bad))
