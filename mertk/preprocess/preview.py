"""Preview sheets: one PNG per sample to check the pipeline by eye.

Panels: the aligned apex face with its 68 landmarks; the flow as a colour image (hue: direction,
brightness: magnitude, scaled to the image's largest motion, as in the Middlebury colour wheel);
the optical strain; and each model input view (channels shown as RGB, e.g. u, v, strain).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from mertk.preprocess.encoding import flow_channels
from mertk.preprocess.pipeline import Prepared

__all__ = ["flow_to_rgb", "write_previews"]


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


def write_previews(prepared: Prepared, folder: str | Path, count: int) -> list[Path]:
    """Write sheets for the first ``count`` prepared samples into ``folder``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, sample_id in enumerate(prepared.sample_ids[:count]):
        panels: list[tuple[str, np.ndarray, bool]] = []  # (title, image, draw landmarks)
        if prepared.faces is not None:
            panels.append(("aligned apex + landmarks", prepared.faces[i, 0].numpy(), True))
        if prepared.flows is not None:
            flow = prepared.flows[i]
            peak = float(flow.norm(dim=0).max())
            panels.append((f"flow (max {peak:.2f} px)", flow_to_rgb(flow), False))
            panels.append(("strain", flow_channels(flow[None], ["strain"])[0, 0].numpy(), False))
        for name, views in prepared.views.items():
            panels.append((f"view {name!r}", _as_image(views[i]), False))
        fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.4), squeeze=False)
        for ax, (title, image, marks) in zip(axes[0], panels):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
            if marks:
                lm = prepared.landmarks[i].numpy()
                ax.scatter(lm[:, 0], lm[:, 1], s=6, c="lime")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        record = prepared.records[i]
        fig.suptitle(f"{sample_id}  face: {record.get('face_method')}  onset {record.get('onset')} -> apex "
                     f"{record.get('apex')} ({record.get('apex_source')})", fontsize=9)
        fig.tight_layout()
        path = folder / (sample_id.replace("/", "__") + ".png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
