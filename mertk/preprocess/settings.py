"""The ``preprocess`` section of a run config."""

from __future__ import annotations

from typing import Literal

from mertk.settings import Strict, component


class AlignSettings(Strict):
    """Face alignment and crop (kornia warp, one transform per clip)."""

    size: int = 128
    """Side of the square aligned face, in pixels."""
    margin: float = 0.15
    """Extra border around the landmark box, as a fraction of its size."""
    rotate: bool = True
    """Rotate so that the eye line is horizontal."""


class EncodingSettings(Strict):
    """How the flow field becomes a multi-channel image."""

    channels: list[Literal["u", "v", "strain", "magnitude"]] = ["u", "v", "strain"]
    normalize: Literal["minmax", "global", "none"] = "minmax"
    """``minmax``: each channel of each image scaled to [0, 1]; ``global``: one scale per channel
    for the whole dataset; ``none``: raw values."""


class PreprocessSettings(Strict):
    """Frames -> face -> landmarks -> alignment -> onset/apex -> flow -> ROI views."""

    face_detector: component("face_detector") = "dlib-auto"
    landmark_detector: component("landmark_detector") = "dlib-68"
    detect_on: Literal["onset", "apex", "every"] = "onset"
    """Which frame the face and landmarks are found on; the result is reused for the clip."""
    align: AlignSettings = AlignSettings()
    spotter: component("spotter") = "max-motion"
    flow: component("flow_extractor") = "tvl1"
    encoding: EncodingSettings = EncodingSettings()
    views: dict[str, component("roi_selector")] = {"face": {"name": "full-face", "size": 28}}
    """Model input views by name; each is an ROI selector applied to the encoded flow image."""
    cache_dir: str | None = None
    """Where preprocessed tensors are cached; default ``$MERTK_CACHE`` or ``~/.cache/mertk``."""
    workers: int = 0
    """Parallel worker processes for the CPU path (0: as many as CPU cores)."""
