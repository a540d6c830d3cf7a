"""ROI selectors (component kind ``roi_selector``): encoded flow image -> one model input view.

Every selector maps ``image: (C, H, W)`` (the encoded flow of the aligned face) and
``landmarks: (68, 2)`` (in the same pixel frame) to a ``(C, S, S)`` view. Resampling is bilinear
with anti-aliasing, so shrinking a 128 px flow to 28 px averages it rather than skipping pixels.

``hars`` builds Dual-ATME's "hand-crafted attention region selection" puzzle: the boxes of the
chosen facial regions, found from the landmarks, are each resized to a horizontal strip of the
output and stacked top to bottom. With ``k`` regions every strip is ``S`` wide and ``S // k`` high
(the last takes the remainder): for the default ``[eyes, mouth]`` at ``S = 28`` the upper
``28 x 14`` half is the eyes-and-brows box and the lower half the mouth box. Regions:

- ``eyes``: both eyes and brows (landmarks 17-26, 36-47);
- ``nose``: bridge and nostrils (27-35);
- ``mouth``: outer and inner lips (48-67);
- ``face``: the whole image.

:data:`REGIONS` also has ``brows`` (17-26), ``right_eye`` (36-41) and ``left_eye`` (42-47), which the
long-video spotter (:mod:`mertk.preprocess.strain_spotter`) measures and masks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, NonNegativeFloat

from mertk.api import ViewPiece

if TYPE_CHECKING:
    import torch

__all__ = ["REGIONS", "resize", "region_box", "FullFace", "Hars"]

Region = Literal["eyes", "mouth", "nose", "face"]

#: Landmark indices (iBUG 300-W order) that define each region's box; ``face`` is the image.
REGIONS: dict[str, list[int]] = {
    "eyes": list(range(17, 27)) + list(range(36, 48)),
    "nose": list(range(27, 36)),
    "mouth": list(range(48, 68)),
    # finer regions, for the long-video spotter (not HARS regions)
    "brows": list(range(17, 27)),
    "right_eye": list(range(36, 42)),
    "left_eye": list(range(42, 48)),
}


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(C, H, W)`` -> ``(C, height, width)``, bilinear with anti-aliasing.

    Shape:
        - Input: ``(C, H, W)``.
        - Output: ``(C, height, width)``.

    Examples:
        >>> from mertk.preprocess.roi import resize
        >>> resize(torch.rand(3, 128, 96), 28, 14).shape
        torch.Size([3, 28, 14])
    """
    import torch.nn.functional as F

    return F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True,
                         align_corners=False)[0]


def region_box(landmarks: torch.Tensor, region: str, shape: tuple[int, int],
               margin: float) -> tuple[int, int, int, int]:
    """Integer ``(top, bottom, left, right)`` (end exclusive) of a region, grown by ``margin`` of
    its size on each side and clipped to an image of ``shape = (H, W)``; at least 2 x 2 pixels."""
    h, w = shape
    if region == "face":
        return 0, h, 0, w
    pts = landmarks[REGIONS[region]]
    low, high = pts.min(0).values, pts.max(0).values
    grow = (high - low) * margin
    left, top = (low - grow).floor().long().tolist()
    right, bottom = (high + grow).ceil().long().tolist()
    left, top = min(max(left, 0), w - 2), min(max(top, 0), h - 2)
    right, bottom = max(min(right + 1, w), left + 2), max(min(bottom + 1, h), top + 2)
    return top, bottom, left, right


class FullFace:
    """The whole aligned image resized to ``size x size``.

    Args:
        size: Output side ``S``.

    Shape:
        - Input: ``image`` ``(C, H, W)``, ``landmarks`` ``(68, 2)`` (not used).
        - Output: ``(C, S, S)``.

    Examples:
        >>> from mertk.preprocess.roi import FullFace
        >>> FullFace(size=28)(torch.rand(3, 64, 64), torch.zeros(68, 2)).shape
        torch.Size([3, 28, 28])
    """

    def __init__(self, size: Annotated[int, Field(ge=2)] = 28) -> None:
        self.size = size

    def __call__(self, image: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        return resize(image, self.size, self.size)

    def origin(self, landmarks: torch.Tensor, shape: tuple[int, int]) -> list[ViewPiece]:
        """One piece: the whole ``S x S`` view comes from the whole ``(H, W)`` image."""
        return [ViewPiece("face", (0, self.size, 0, self.size), (0, shape[0], 0, shape[1]))]


class Hars:
    """Dual-ATME's HARS puzzle: region crops from landmarks stacked into one ``S x S`` image.

    Args:
        regions: Regions from top to bottom, among ``eyes`` (with brows), ``mouth``, ``nose``,
            ``face``; default ``["eyes", "mouth"]`` (the paper's best).
        size: Output side ``S``.
        margin: Border added around each region box, as a fraction of its width/height.

    Shape:
        - Input: ``image`` ``(C, H, W)``, ``landmarks`` ``(68, 2)`` in the pixels of ``image``.
        - Output: ``(C, S, S)``; strip ``i`` is ``S // len(regions)`` rows high (the last one
          takes the remainder).

    Examples:
        >>> from mertk.preprocess.roi import Hars
        >>> from mertk.preprocess.template import template_landmarks
        >>> hars = Hars(regions=["eyes", "nose", "mouth"], size=28)
        >>> hars(torch.rand(3, 64, 64), template_landmarks(64)).shape  # strips of 9, 9 and 10 rows
        torch.Size([3, 28, 28])
    """

    def __init__(self, regions: list[Region] = ["eyes", "mouth"], size: Annotated[int, Field(ge=2)] = 28,  # noqa: B006
                 margin: NonNegativeFloat = 0.1) -> None:
        if not regions:
            from mertk.errors import MertkError

            raise MertkError("preprocess.views: hars needs at least one region, e.g. regions: [eyes, mouth]")
        self.regions, self.size, self.margin = list(regions), size, margin

    def __call__(self, image: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        import torch

        strips = []
        for piece in self.origin(landmarks, tuple(image.shape[-2:])):
            top, bottom, left, right = piece.image_box
            strips.append(resize(image[:, top:bottom, left:right], piece.view_box[1] - piece.view_box[0], self.size))
        return torch.cat(strips, 1)

    def origin(self, landmarks: torch.Tensor, shape: tuple[int, int]) -> list[ViewPiece]:
        """One piece per region: a full-width strip of the view and the region's box in the image."""
        k = len(self.regions)
        heights = [self.size // k] * (k - 1) + [self.size - (self.size // k) * (k - 1)]
        pieces, row = [], 0
        for region, height in zip(self.regions, heights):
            box = region_box(landmarks, region, shape, self.margin)
            pieces.append(ViewPiece(region, (row, row + height, 0, self.size), box))
            row += height
        return pieces
