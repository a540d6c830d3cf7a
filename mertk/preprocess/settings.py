"""The ``preprocess`` section of a run config.

Stages, in order: frames -> face box (``face_detector``) -> 68 landmarks
(``landmark_detector``) -> one similarity transform per clip (``align``) -> apex
(annotation, else ``apex_spotter``) -> optical flow onset -> apex (``flow``) -> encoded flow image
(``encoding``) -> model input views (``views``, one ROI selector each).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pydantic

from mertk.settings import Strict, component


class AlignSettings(Strict):
    """Face alignment and crop (kornia warp, one transform per clip)."""

    size: Annotated[int, pydantic.Field(ge=8)] = 128
    """Side of the square aligned face, in pixels."""
    margin: Annotated[float, pydantic.Field(ge=0)] = 0.15
    """Extra border around the landmark box on each side, as a fraction of its size."""
    rotate: bool = True
    """Rotate so that the eye line is horizontal."""


class EncodingSettings(Strict):
    """How the flow field becomes a multi-channel image."""

    channels: Annotated[list[Literal["u", "v", "strain", "magnitude"]], pydantic.Field(min_length=1)] = \
        ["u", "v", "strain"]
    """Channels of the encoded image, in this order. ``strain`` is the optical strain
    ``sqrt(ux^2 + vy^2 + 0.5 * (uy + vx)^2)``; ``magnitude`` is ``sqrt(u^2 + v^2)``."""
    normalize: Literal["minmax", "global", "none"] = "minmax"
    """``minmax``: each channel of each image scaled to [0, 1]; ``global``: one min and max per
    channel over all samples of the run; ``none``: raw values."""


class PreprocessSettings(Strict):
    """Frames -> face -> landmarks -> alignment -> onset/apex -> flow -> ROI views."""

    face_detector: component("face_detector") = "dlib-auto"
    """Face detector; ``dlib-auto`` tries HOG, HOG upsampled, CNN, then the whole frame."""
    landmark_detector: component("landmark_detector") = "dlib-68"
    """68-point landmark detector, run inside the face box."""
    detect_on: Literal["onset", "apex"] = "onset"
    """Which frame the face and landmarks are found on; the result is reused for the clip.
    ``apex`` falls back to the onset when the apex must be spotted."""
    align: AlignSettings = AlignSettings()
    apex_spotter: component("apex_spotter") = "max-motion"
    """Picks the apex of clips whose annotation has none (SMIC). Called ``spotter`` before mertk
    0.3: a config or a saved model that still says ``spotter`` is read as ``apex_spotter``, with
    a warning for configs (docs/spotting.md#migration)."""
    flow: component("flow_extractor") = "tvl1"
    """Optical-flow extractor, onset -> apex."""
    encoding: EncodingSettings = EncodingSettings()
    views: dict[str, component("roi_selector")] = {"face": {"name": "full-face", "size": 28}}
    """Model input views by name; each is an ROI selector applied to the encoded flow image. The
    model names the views it reads with its ``views`` (or ``view``) argument; ``config check``
    refuses a name that is not here."""
    cache_dir: str | None = None
    """Where preprocessed clips are cached; default ``$MERTK_CACHE`` or ``~/.cache/mertk``."""
    cache: bool = True
    """Reuse and write the per-clip cache."""
    workers: Annotated[int, pydantic.Field(ge=0)] = 0
    """Parallel worker processes for the CPU path (0: as many as the cores this process may use, see
    ``train.threads``; 1: no workers)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the flow is computed. ``auto``: CUDA when available and the flow extractor runs on
    its input's device (``uses_device = True``, e.g. ``torch-tvl1``), else the CPU. On ``cuda``
    the workers read and align clips and the flow runs in batches of ``batch_size`` on the GPU;
    on ``cpu`` each worker computes whole clips."""
    batch_size: Annotated[int, pydantic.Field(ge=1)] = 32
    """Frame pairs per flow call on the GPU path."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _renamed_spotter(cls, data: Any) -> Any:
        """``spotter`` (before mertk 0.3) -> ``apex_spotter``; giving both is an error."""
        if not isinstance(data, Mapping) or "spotter" not in data:
            return data
        if "apex_spotter" in data:
            raise ValueError("preprocess.spotter is the old name of preprocess.apex_spotter, and both are given. "
                             "Fix: delete preprocess.spotter")
        warnings.warn("preprocess.spotter is now called preprocess.apex_spotter (mertk 0.3: `spotter` components "
                      "find intervals in long videos); read as apex_spotter. Fix: rename the key in your config",
                      FutureWarning, stacklevel=2)
        data = dict(data)
        data["apex_spotter"] = data.pop("spotter")
        return data

    def check_run(self, config: Any, components: Any, file: str) -> None:
        """The views the model reads must be among :attr:`views` (see :func:`model_views`)."""
        from mertk.errors import ConfigError, did_you_mean

        for key, names in model_views(config.model, components).items():
            for name in names:
                if name not in self.views:
                    raise ConfigError(file, key, f"no view {name!r}{did_you_mean(name, self.views)}; the views "
                                      f"preprocess.views makes: {', '.join(self.views) or 'none'}. Fix: name one of "
                                      f"them, or add {name!r} to preprocess.views")


def model_views(spec: Any, components: Any) -> dict[str, list[str]]:
    """The views a validated ``model`` spec reads, by dotted key: its ``views`` argument (a list
    of view names) and its ``view`` argument (one name), given or left at the factory's default.

    This is the model contract's way of naming views before the model is built
    (docs/plugins/contracts.md); a model whose factory takes neither names none here.
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping) or spec.get("name") not in components["model"]:
        return {}
    parameters = components["model"].get(spec["name"]).parameters
    found: dict[str, list[str]] = {}
    for argument in ("views", "view"):
        if argument not in parameters:
            continue
        value = spec.get(argument, parameters[argument].default)
        names = [value] if isinstance(value, str) else value
        if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
            found[f"model.{argument}"] = list(names)
    return found
