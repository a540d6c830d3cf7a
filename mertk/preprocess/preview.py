"""Preview sheets: one PNG per sample to check the pipeline by eye.

Panels: the aligned apex face with its 68 landmarks; the flow as a colour image (hue: direction,
brightness: magnitude, scaled to the image's largest motion, as in the Middlebury colour wheel);
the optical strain; and each model input view (channels shown as RGB, e.g. u, v, strain).
Each sheet carries its colour keys: a colour wheel for the flow, a colour bar for the strain
and for single-channel views, and a legend naming the channel of each colour of an RGB view.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from mertk.preprocess.encoding import flow_channels
from mertk.preprocess.pipeline import Prepared

__all__ = ["flow_to_rgb", "flow_key", "preview_sheet", "write_previews"]


def flow_to_rgb(flow: torch.Tensor) -> np.ndarray:
    """``(2, H, W)`` flow -> ``(H, W, 3)`` ``uint8`` RGB: hue = direction, value = magnitude / max.

    Examples:
        >>> from mertk.preprocess.preview import flow_to_rgb
        >>> rgb = flow_to_rgb(torch.randn(2, 24, 32))
        >>> rgb.shape, rgb.dtype
        ((24, 32, 3), dtype('uint8'))
    """
    u, v = flow[0].numpy().astype(np.float32), flow[1].numpy().astype(np.float32)
    magnitude, angle = cv2.cartToPolar(u, v, angleInDegrees=True)
    hsv = np.zeros((*u.shape, 3), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(255 * magnitude / max(float(magnitude.max()), 1e-6), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _as_image(view: torch.Tensor) -> np.ndarray:
    """``(C, S, S)`` in ``[0, 1]`` -> something imshow shows: RGB for 3 channels, else grey."""
    view = view.clamp(0, 1)
    return view.permute(1, 2, 0).numpy() if view.shape[0] == 3 else view.mean(0).numpy()


def flow_key(size: int = 64) -> np.ndarray:
    """``(size, size, 3)`` ``uint8`` colour wheel of :func:`flow_to_rgb`: the colour of a flow that
    points from the centre to that pixel (image axes: x right, y down), brightest at the rim
    (the image's largest motion); white outside the disc."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j].astype(np.float32)
    outside = np.hypot(x, y) > 1
    x[outside], y[outside] = 0, 0  # the rim is the largest motion
    rgb = flow_to_rgb(torch.from_numpy(np.stack([x, y])))
    rgb[outside] = 255
    return rgb


def preview_sheet(prepared: Prepared, index: int, channels: Sequence[str] = ()) -> Any:
    """The matplotlib figure of sample ``index``: its panels (see the module docs), each with its
    colour key. ``channels``: the names of the views' channels (``preprocess.encoding.channels``),
    for the legend of RGB views; unnamed channels are called channel 1, 2, 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    panels: list[tuple[str, Any, str]] = []  # (title, image, key: landmarks | wheel | bar | channels | "")
    if prepared.faces is not None:
        panels.append(("aligned apex + landmarks", prepared.faces[index, 0].numpy(), "landmarks"))
    if prepared.flows is not None:
        flow = prepared.flows[index]
        peak = float(flow.norm(dim=0).max())
        panels.append((f"flow (max {peak:.2f} px)", flow_to_rgb(flow), ""))
        panels.append((f"flow key: direction\n(rim: {peak:.2f} px)", flow_key(96), "wheel"))
        panels.append(("strain", flow_channels(flow[None], ["strain"])[0, 0].numpy(), "bar"))
    for name, views in prepared.views.items():
        image = _as_image(views[index])
        panels.append((f"view {name!r}", image, "channels" if image.ndim == 3 else "bar"))
    widths = [0.6 if key == "wheel" else 1.0 for _, _, key in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * sum(widths) + 0.6, 3.8), squeeze=False,
                             width_ratios=widths, layout="constrained")
    names = [*channels[:3], *(f"channel {i + 1}" for i in range(len(channels), 3))]
    for ax, (title, image, key) in zip(axes[0], panels):
        shown = ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        if key == "landmarks":
            lm = prepared.landmarks[index].numpy()
            ax.scatter(lm[:, 0], lm[:, 1], s=6, c="lime")
        elif key == "bar":
            fig.colorbar(shown, ax=ax, shrink=0.8)
        elif key == "channels":
            ax.legend(handles=[Patch(color=c, label=f"{c}: {n}") for c, n in zip(("red", "green", "blue"), names)],
                      loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize=7, handlelength=1,
                      columnspacing=0.8, frameon=False)
        ax.set_title(title, fontsize=8 if key == "wheel" else 9)
        ax.axis("off")
    record = prepared.records[index]
    fig.suptitle(f"{prepared.sample_ids[index]}  face: {record.get('face_method')}  onset {record.get('onset')} -> "
                 f"apex {record.get('apex')} ({record.get('apex_source')})", fontsize=9)
    return fig


def write_previews(prepared: Prepared, folder: str | Path, count: int, channels: Sequence[str] = ()) -> list[Path]:
    """Write :func:`preview_sheet` of the first ``count`` prepared samples into ``folder``; return
    their paths."""
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, sample_id in enumerate(prepared.sample_ids[:count]):
        fig = preview_sheet(prepared, i, channels)
        path = folder / (sample_id.replace("/", "__") + ".png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
