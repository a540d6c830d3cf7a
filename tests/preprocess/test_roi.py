"""ROI selectors: full face, HARS puzzle (region strips from landmarks), template landmarks."""

from __future__ import annotations

import pytest
import torch

from mertk.errors import MertkError
from mertk.preprocess.roi import REGIONS, region_box
from mertk.preprocess.template import template_landmarks


@pytest.fixture
def marked():
    """A 3-channel 128 px image whose eye box is 1, mouth box 0.5, rest 0, with template landmarks."""
    lm = template_landmarks(128)
    image = torch.zeros(3, 128, 128)
    for region, value in (("eyes", 1.0), ("mouth", 0.5)):
        top, bottom, left, right = region_box(lm, region, (128, 128), 0.0)
        image[:, top:bottom, left:right] = value
    return image, lm


def test_full_face_resizes(components):
    view = components.create("roi_selector", "full-face", size=28)(torch.rand(3, 128, 128), torch.zeros(68, 2))
    assert view.shape == (3, 28, 28)


def test_hars_stacks_eyes_over_mouth(components, marked):
    image, lm = marked
    view = components.create("roi_selector", "hars", margin=0.0)(image, lm)
    assert view.shape == (3, 28, 28)
    assert view[:, 2:12].mean() > 0.9  # upper strip: eye box
    assert (view[:, 16:26].mean() - 0.5).abs() < 0.05  # lower strip: mouth box


def test_hars_region_sets_and_heights(components, marked):
    image, lm = marked
    view = components.create("roi_selector", "hars", regions=["face", "eyes", "mouth"], size=28,
                             margin=0.0)(image, lm)
    assert view.shape == (3, 28, 28)
    assert view[:, 11:16].mean() > 0.9 and (view[:, 20:26].mean() - 0.5).abs() < 0.05  # strips 9, 9, 10 rows
    with pytest.raises(MertkError, match="at least one region"):
        components.create("roi_selector", "hars", regions=[])


def test_eye_box_includes_the_brows():
    lm = template_landmarks(128)
    top, bottom, _, _ = region_box(lm, "eyes", (128, 128), 0.0)
    assert top <= float(lm[17:27, 1].min()) and bottom > float(lm[36:48, 1].max())
    assert set(REGIONS["eyes"]) >= set(range(17, 27))


def test_template_landmarks_fit_the_image():
    for size in (28, 128, 200):
        lm = template_landmarks(size)
        assert lm.shape == (68, 2)
        assert lm.min() >= 0 and lm.max() <= size - 1
        assert lm[36:42, 0].mean() < lm[42:48, 0].mean() and lm[36:48, 1].mean() < lm[48:68, 1].mean()
