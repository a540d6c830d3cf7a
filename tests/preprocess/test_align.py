"""Alignment: eye line levelled, landmark box + margin fills the square, one transform per clip."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from preprocess_clips import face_image

from mertk.preprocess.align import alignment_matrix, transform_points, warp_frames


def _landmarks(components, image):
    box = components.create("face_detector", "dlib-hog")(image)[0]
    return torch.from_numpy(components.create("landmark_detector", "dlib-68")(image, box))


def test_rotated_face_comes_out_level_and_landmarks_follow(components):
    image = face_image()
    turn = cv2.getRotationMatrix2D((160, 130), 12, 1.0)
    rotated = cv2.warpAffine(image, turn, (320, 320), borderMode=cv2.BORDER_REFLECT)
    lm = _landmarks(components, rotated)
    eyes = lm[42:48].mean(0) - lm[36:42].mean(0)
    assert abs(math.degrees(math.atan2(eyes[1], eyes[0]))) > 8  # the input is tilted

    size, margin = 96, 0.15
    matrix = alignment_matrix(lm, size, margin)
    moved = transform_points(lm, matrix)
    eyes = moved[42:48].mean(0) - moved[36:42].mean(0)
    assert abs(math.degrees(math.atan2(eyes[1], eyes[0]))) < 0.5
    low, high = moved.min(0).values, moved.max(0).values
    assert abs(float((high - low).max()) - size / (1 + 2 * margin)) < 0.5  # longer side with margin fills S
    assert torch.allclose((low + high) / 2, torch.tensor([(size - 1) / 2] * 2), atol=0.5)

    grey = torch.from_numpy(cv2.cvtColor(rotated, cv2.COLOR_RGB2GRAY)).float()[None, None] / 255
    aligned = warp_frames(grey, matrix, size)
    assert aligned.shape == (1, 1, size, size)
    # landmarks found again on the aligned face agree with the transformed ones
    face = np.ascontiguousarray((aligned[0, 0].numpy() * 255).astype(np.uint8))
    again = components.create("landmark_detector", "dlib-68")(
        face, components.create("face_detector", "whole-frame")(face)[0])
    assert np.abs(again[36:68] - moved[36:68].numpy()).mean() < 3.0


def test_one_transform_for_all_frames():
    frames = torch.rand(4, 1, 60, 80)
    frames[2] = frames[0]
    matrix = alignment_matrix(torch.rand(68, 2) * 40 + 10, 32)
    out = warp_frames(frames, matrix, 32)
    assert out.shape == (4, 1, 32, 32)
    assert torch.allclose(out[2], out[0])


def test_without_rotation_only_scale_and_shift():
    lm = torch.rand(68, 2) * 50
    lm[36:42] = torch.tensor([10.0, 10.0])
    lm[42:48] = torch.tensor([40.0, 30.0])
    matrix = alignment_matrix(lm, 64, rotate=False)
    assert matrix[0, 1] == 0 and matrix[1, 0] == 0 and matrix[0, 0] == matrix[1, 1] > 0
