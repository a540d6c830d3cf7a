"""Grad-CAM against a hand computation, and maps placed back onto the aligned face."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mertk.api import ModelOutput, ViewPiece
from mertk.inference.explain import grad_cam, map_views, overlay, region_outlines, to_face
from mertk.preprocess.roi import FullFace, Hars, region_box
from mertk.preprocess.template import template_landmarks


class LinearOnMaps(nn.Module):
    """maps = conv(view) (B, 4, 5, 5); logits = W flatten(maps): d y_c / d A = W[c] reshaped."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, stride=2)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, views):
        a = torch.relu(self.conv(views["face"]))
        return ModelOutput(self.fc(a.flatten(1)), maps={"face": a, "face_attention": torch.sigmoid(a[:, :1]).detach()})


def test_grad_cam_matches_the_hand_computation() -> None:
    torch.manual_seed(0)
    model, x = LinearOnMaps(), {"face": torch.randn(2, 3, 10, 10)}
    target = torch.tensor([2, 0])
    logits, maps = grad_cam(model, x, target)
    a = torch.relu(model.conv(x["face"])).detach()
    w = model.fc.weight.detach().view(3, 4, 5, 5)
    for i, c in enumerate(target.tolist()):
        alpha = w[c].mean((1, 2))  # (4,) channel weights: mean gradient over positions
        expected = torch.relu((alpha[:, None, None] * a[i]).sum(0))
        torch.testing.assert_close(maps["face"][i], expected)
    torch.testing.assert_close(maps["face_attention"], torch.sigmoid(a[:, 0]))
    assert logits.shape == (2, 3) and map_views(model, list(maps), ["face"]) == {"face": "face",
                                                                                 "face_attention": "face"}


def test_full_face_maps_cover_the_whole_face() -> None:
    heat = torch.zeros(7, 7)
    heat[0, 6] = 1.0  # top right cell
    placed, covered = to_face(heat, FullFace(28), template_landmarks(128), 128, (28, 28))
    assert covered.all() and placed.shape == (128, 128)
    y, x = divmod(int(placed.argmax()), 128)
    assert y < 128 / 7 and x > 128 * 6 / 7


def test_hars_strips_go_back_into_their_region_boxes() -> None:
    landmarks = template_landmarks(128)
    selector = Hars(["eyes", "mouth"], size=28, margin=0.1)
    eyes = region_box(landmarks, "eyes", (128, 128), 0.1)
    mouth = region_box(landmarks, "mouth", (128, 128), 0.1)
    for row, inside, outside in ((0, eyes, mouth), (6, mouth, eyes)):  # upper strip = eyes, lower = mouth
        heat = torch.zeros(7, 7)
        heat[row] = 1.0
        placed, covered = to_face(heat, selector, landmarks, 128, (28, 28))
        top, bottom, left, right = inside
        assert placed[top:bottom, left:right].sum() > 0.9 * placed.sum()
        top, bottom, left, right = outside
        assert placed[top:bottom, left:right].max() < 0.2 * placed.max()
        assert covered.sum() == (eyes[1] - eyes[0]) * (eyes[3] - eyes[2]) + (mouth[1] - mouth[0]) * (mouth[3] - mouth[2])
    assert to_face(torch.zeros(7, 7), object(), landmarks, 128, (28, 28)) is None  # unknown geometry


class LeftCheek:
    """A third-party selector: the view is the left half of the face, squeezed to S x S."""

    size = 20

    def __call__(self, image, landmarks):
        raise AssertionError("explain must not call the selector")

    def origin(self, landmarks, shape):
        return [ViewPiece("left", (0, self.size, 0, self.size), (0, shape[0], 0, shape[1] // 2))]


def test_a_third_party_selector_places_its_maps_through_origin_alone() -> None:
    heat = torch.zeros(5, 5)
    heat[:, -1] = 1.0  # right edge of the view = middle of the face
    placed, covered = to_face(heat, LeftCheek(), template_landmarks(128), 128, (20, 20))
    assert covered[:, :64].all() and not covered[:, 64:].any()
    assert placed[:, 64:].max() == 0 and int(placed.sum(0).argmax()) in range(52, 64)
    assert region_outlines(LeftCheek(), template_landmarks(128), 128) == [("left", (0, 128, 0, 64))]
    assert region_outlines(FullFace(28), template_landmarks(128), 128) == []  # the whole face: nothing to outline


def test_overlay_only_colours_covered_pixels() -> None:
    base = np.full((4, 4), 0.5)
    covered = np.zeros((4, 4), bool)
    covered[:2] = True
    heat = np.arange(16, dtype=np.float64).reshape(4, 4)
    image = overlay(base, heat, covered)
    assert image.shape == (4, 4, 3) and image.dtype == np.uint8
    assert (image[2:] == 128).all() and not (image[:2] == 128).all()


def test_unknown_class_is_refused_with_suggestions(tmp_path, small_model, components) -> None:
    import pytest

    from mertk.artifact import load_artifact, save_artifact
    from mertk.errors import MertkError
    from mertk.inference.explain import explain_clips

    model, config = small_model
    folder = save_artifact(tmp_path / "m", model, config, ("negative", "positive", "surprise"),
                           {"face": (3, 28, 28), "hars": (3, 28, 28)})
    with pytest.raises(MertkError, match=r"--class 'surprize' is not a class of this model \(did you mean 'surprise'"):
        explain_clips(load_artifact(folder, components), [], components, target_class="surprize")


def test_maps_of_unknown_geometry_are_drawn_on_the_view_itself(tmp_path) -> None:
    import cv2

    from mertk.api import Sample
    from mertk.inference.explain import Explanation, write_explanations

    heat = torch.zeros(28, 28)
    heat[:5, :5] = 1.0
    ex = Explanation(sample=Sample(id="x", subject="s", clip="clip/1", dataset="d", label=0), predicted="positive",
                     target="positive", probabilities={"positive": 1.0}, face=torch.rand(128, 128),
                     on_view={"gradcam:lbp": (heat, torch.full((3, 28, 28), 0.5))}, views={"lbp": torch.rand(3, 28, 28)},
                     record={"onset": 0, "apex": 3, "apex_source": "annotation"})
    written = write_explanations([ex, ex], tmp_path)
    assert sorted(p.name for p in written) == ["clip_1-2-explain.png", "clip_1-2-gradcam-lbp-on-view.png",
                                               "clip_1-explain.png", "clip_1-gradcam-lbp-on-view.png"]
    image = cv2.imread(str(tmp_path / "clip_1-gradcam-lbp-on-view.png"))[..., ::-1]  # RGB
    assert image.shape == (224, 224, 3)
    hot, cold = image[:32, :32].reshape(-1, 3).mean(0), image[100:, 100:].reshape(-1, 3).mean(0)
    assert hot[0] > hot[2] + 40 and cold[2] > cold[0] + 40  # red where the map is high, blue elsewhere


def _hot_spot() -> tuple[torch.Tensor, torch.Tensor]:
    """A ``(128, 128)`` map, 2.0 in a 10 px square and 0 elsewhere, and the face region it covers."""
    covered = torch.zeros(128, 128, dtype=torch.bool)
    covered[20:60, 20:100] = True
    hot = torch.zeros(128, 128)
    hot[30:40, 30:40] = 2.0
    return hot, covered


def _explanation(**fields):
    """An explanation of a sample predicted 'positive' with probability 1 on a random face, plus ``fields``."""
    from mertk.api import Sample
    from mertk.inference.explain import Explanation

    return Explanation(sample=Sample(id="x", subject="s", clip="c", dataset="d", label=0), predicted="positive",
                       target="positive", probabilities={"positive": 1.0}, face=torch.rand(128, 128), **fields)


def test_an_all_zero_grad_cam_says_so_in_its_title() -> None:
    """A uniform blue panel must not be mistaken for a map: an all-zero Grad-CAM is labelled."""
    from mertk.inference.explain import _panels

    hot, covered = _hot_spot()
    ex = _explanation(on_face={"gradcam:face": (hot, covered), "gradcam:hars": (torch.zeros(128, 128), covered)})
    titles = {suffix: title for suffix, title, _ in _panels(ex)}
    assert titles == {"gradcam-face": "Grad-CAM 'face' branch, class positive",
                      "gradcam-hars": "Grad-CAM 'hars' branch, class positive (all zero)"}


def test_the_explain_sheet_keys_the_map_colours(tmp_path) -> None:
    """The sheet's maps are coloured blue (lowest) to red (highest): a colour bar on the sheet says so."""
    import matplotlib.pyplot as plt

    from mertk.inference.explain import _panels, explanation_sheet

    hot, covered = _hot_spot()
    ex = _explanation(on_face={"gradcam:face": (hot, covered), "attention:face": (hot * 0.1 + 0.4, covered)},
                      views={"face": torch.rand(3, 28, 28)}, record={"onset": 0, "apex": 3, "apex_source": "annotation"})
    fig = explanation_sheet(ex, _panels(ex))
    try:
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == 1
        colours = bars[0].collections[0].get_cmap()([0.0, 1.0])
        assert colours[0][2] > colours[0][0] and colours[1][0] > colours[1][2]  # blue low, red high, as the maps
        assert [t.get_text() for t in bars[0].get_yticklabels()] == ["lowest\n(Grad-CAM: 0)", "highest"]
    finally:
        plt.close(fig)
