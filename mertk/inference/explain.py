"""Explain predictions: Grad-CAM per branch and attention maps, on the aligned apex face.

Grad-CAM (Selvaraju et al. 2017), as in the Dual-ATME paper's figures: for a target class
``c`` and a model's last convolutional maps ``A`` ``(B, K, h, w)`` (the ``ModelOutput.maps``
entries that are part of the autograd graph), ``cam = ReLU(sum_k mean_hw(d y_c / d A_k) * A_k)``,
a ``(B, h, w)`` map. Maps named ``*_attention`` (e.g. CBAM's spatial weights) are shown as they
are. Every map lives in the coordinates of the view it was computed from; the view's ROI
selector tells how that view was cut from the aligned face through its optional
``origin(landmarks, shape)`` method (:class:`mertk.api.RoiSelector`), a list of view rectangles
and the face rectangles they were resampled from. Each piece of the map is resized back into its
face rectangle, and nothing is drawn outside them (the branch never saw those pixels):

* ``full-face``: one piece, the whole face, so the map is resized onto it;
* ``hars``: the puzzle's horizontal strips are the region boxes (eyes with brows, mouth, ...)
  found from the clip's landmarks; the boxes are outlined;
* a selector without ``origin``: the map is overlaid on the view image itself, and the file
  says so.

A model tells which view each map comes from with a ``map_views`` attribute ``{map name: view
name}``; without it, a map named like a view (or ``<view>_attention``) is taken to be from that
view, and other maps are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mertk.api import Box, Sample
from mertk.artifact import Artifact
from mertk.errors import MertkError
from mertk.preprocess.roi import resize
from mertk.registry import Components

__all__ = ["grad_cam", "map_views", "to_face", "Explanation", "explain_clips", "explanation_sheet",
           "write_explanations"]


def grad_cam(model: nn.Module, inputs: Mapping[str, torch.Tensor],
             target: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Grad-CAM of every feature map the model exposes, and its attention maps.

    Args:
        model: A model returning :class:`~mertk.api.ModelOutput`; put in eval mode.
        inputs: Normalised views ``{name: (B, C, S, S)}``.
        target: ``(B,)`` class index per clip; default the predicted class.

    Returns:
        ``logits`` ``(B, K)`` and ``{map name: (B, h, w)}``, non-negative: Grad-CAM for feature
        maps, the raw weights for ``*_attention`` maps.
    """
    model.eval()
    with torch.enable_grad():
        out = model(inputs)
        logits = out.logits
        features = {k: v for k, v in out.maps.items()
                    if v.dim() == 4 and v.requires_grad and not k.endswith("_attention")}
        if target is None:
            target = logits.argmax(1)
        score = logits.gather(1, target.to(logits.device)[:, None]).sum()  # clips are independent in eval mode
        grads = torch.autograd.grad(score, list(features.values())) if features else ()
    maps = {k: torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1)).detach()
            for (k, a), g in zip(features.items(), grads)}
    maps.update({k: v.detach()[:, 0] for k, v in out.maps.items()
                 if k.endswith("_attention") and v.dim() == 4 and v.shape[1] == 1})
    return logits.detach(), maps


def map_views(model: nn.Module, map_names: Sequence[str], view_names: Sequence[str]) -> dict[str, str]:
    """Which view each map was computed from (see module docs); maps of unknown origin are left out."""
    declared = dict(getattr(model, "map_views", {}) or {})
    out = {}
    for name in map_names:
        base = name.removesuffix("_attention")
        view = declared.get(name) or (base if base in view_names else None)
        if view in view_names:
            out[name] = view
    return out


def to_face(heat: torch.Tensor, selector: object, landmarks: torch.Tensor, size: int,
            view_shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Map a ``(h, w)`` map of a view back onto the ``size x size`` aligned face.

    Uses only the selector's optional ``origin(landmarks, shape)`` (see
    :class:`mertk.api.RoiSelector`): the map is resized to the view's ``view_shape = (S, S)``,
    and each piece of the view is resampled into its rectangle of the face.

    Returns:
        ``(heat (size, size), covered (size, size) bool)``: ``covered`` marks the face pixels
        the view was made from; ``None`` when the selector has no ``origin``.
    """
    origin = getattr(selector, "origin", None)
    if not callable(origin):
        return None
    view = resize(heat.float()[None], *view_shape)[0]
    canvas = torch.zeros(size, size)
    covered = torch.zeros(size, size, dtype=torch.bool)
    for piece in origin(landmarks, (size, size)):
        v_top, v_bottom, v_left, v_right = piece.view_box
        top, bottom, left, right = piece.image_box
        patch = resize(view[None, v_top:v_bottom, v_left:v_right], bottom - top, right - left)[0]
        canvas[top:bottom, left:right] = torch.maximum(canvas[top:bottom, left:right], patch)
        covered[top:bottom, left:right] = True
    return canvas, covered


def region_outlines(selector: object, landmarks: torch.Tensor, size: int) -> list[tuple[str, Box]]:
    """``[(region, (top, bottom, left, right))]`` of the face rectangles a view was made from,
    to outline on the face; empty when the selector has no ``origin`` or reads the whole face."""
    origin = getattr(selector, "origin", None)
    if not callable(origin):
        return []
    whole = (0, size, 0, size)
    return [(p.region, p.image_box) for p in origin(landmarks, (size, size)) if p.image_box != whole]


@dataclass
class Explanation:
    """The maps of one clip.

    Attributes:
        sample: The clip.
        predicted: Predicted class name (action units: the AUs present, joined by ``+``);
            ``target``: the class (or AU) the Grad-CAM explains.
        probabilities: Class name -> probability.
        face: ``(A, A)`` aligned apex face, grey in ``[0, 1]``.
        on_face: ``"{kind}:{view}"`` (kind ``gradcam`` or ``attention``) -> ``(heat (A, A),
            covered (A, A) bool)`` on the aligned face.
        on_view: Same keys -> ``(heat (S, S), view image (C, S, S))`` for views whose geometry
            is unknown.
        boxes: View -> ``[(region, (top, bottom, left, right))]``: the face rectangles a view
            was cut from (see :func:`region_outlines`), outlined on the face.
        views: View name -> ``(C, S, S)`` model input in ``[0, 1]`` (what the model saw).
        record: The preprocessing record (``onset``, ``apex``, ``apex_source``, ...).
        landmarks: ``(68, 2)`` landmarks on the aligned face.
    """

    sample: Sample
    predicted: str
    target: str
    probabilities: dict[str, float]
    face: torch.Tensor
    on_face: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    on_view: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    boxes: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = field(default_factory=dict)
    views: dict[str, torch.Tensor] = field(default_factory=dict)
    record: dict = field(default_factory=dict)
    landmarks: torch.Tensor | None = None


def explain_clips(artifact: Artifact, samples: Sequence[Sample], components: Components, *,
                  target_class: str | None = None, device: torch.device | str = "auto") -> list[Explanation]:
    """Preprocess ``samples`` as the model was trained and compute their maps (see module docs).

    Args:
        target_class: Class to explain (a name of ``artifact.class_names``); default the
            predicted class of each clip. For an action-unit model, the AU whose Grad-CAM is drawn
            (``AU12``); default each clip's most probable AU.

    Raises:
        MertkError: an unknown class, a bad clip (see :func:`~mertk.inference.predict.prepare_clips`),
            or a model that exposes no maps.
    """
    from mertk.engine.trainer import select_device
    from mertk.inference.predict import artifact_task, prepare_clips

    names = artifact.class_names
    if target_class is not None and target_class not in names:
        from mertk.errors import did_you_mean

        raise MertkError(f"--class {target_class!r} is not a class of this model{did_you_mean(target_class, names)}. "
                         f"Fix: use one of {', '.join(names)}")
    task = artifact_task(artifact, components)
    device = select_device(device) if isinstance(device, str) else device
    clips = prepare_clips(artifact, samples, components, device=device)
    prepared = clips.prepared
    if not clips.samples:
        return []
    model = artifact.model.to(device)
    n = len(clips.samples)
    target = None if target_class is None else torch.full((n,), names.index(target_class), dtype=torch.int64)
    logits, maps = grad_cam(model, clips.inputs, target)
    origin = map_views(model, list(maps), list(artifact.view_shapes))
    if not origin:
        raise MertkError(f"{artifact.path}: model {artifact.config['model'].get('name')!r} exposes no maps mertk can "
                         "place (ModelOutput.maps with a view name or a model.map_views attribute). Fix: use a model "
                         "that does, such as dual-atme")
    settings = artifact.preprocess
    selectors = {v: components.build("roi_selector", settings.views[v], key=f"preprocess.views.{v}")
                 for v in set(origin.values())}
    probs = task.scores(logits).cpu()
    decisions = task.decide(probs).tolist()
    size = prepared.faces.shape[-1]
    out = []
    for i, sample in enumerate(clips.samples):
        decision = decisions[i]
        predicted = (names[decision] if isinstance(decision, int)
                     else "+".join(n for n, v in zip(names, decision) if v) or "no AU")
        ex = Explanation(sample=sample, predicted=predicted, target=target_class or names[int(probs[i].argmax())],
                         probabilities={c: float(p) for c, p in zip(names, probs[i])}, face=prepared.faces[i, 0],
                         views={v: prepared.views[v][i] for v in artifact.view_shapes}, record=prepared.records[i],
                         landmarks=prepared.landmarks[i])
        landmarks = prepared.landmarks[i]
        for map_name, view in origin.items():
            key = f"{'attention' if map_name.endswith('_attention') else 'gradcam'}:{view}"
            heat = maps[map_name][i].cpu()
            view_image = prepared.views[view][i]
            placed = to_face(heat, selectors[view], landmarks, size, tuple(view_image.shape[-2:]))
            if placed is None:
                ex.on_view[key] = (resize(heat[None].float(), *view_image.shape[-2:])[0], view_image)
            else:
                ex.on_face[key] = placed
            if outlines := region_outlines(selectors[view], landmarks, size):
                ex.boxes[view] = outlines
        out.append(ex)
    return out


# --------------------------------------------------------------------------- images

SCALE = 2  # output pixels per aligned-face pixel


def _colour(heat: np.ndarray) -> np.ndarray:
    """``(H, W)`` in ``[0, 1]`` -> ``(H, W, 3)`` ``uint8`` RGB (OpenCV's JET: blue low, red high)."""
    import cv2

    return cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def overlay(base: np.ndarray, heat: np.ndarray, covered: np.ndarray, alpha: float = 0.5,
            low: float = 0.0) -> np.ndarray:
    """Blend a heat map over a grey or RGB ``[0, 1]`` image where ``covered``; the colours span
    ``low`` (blue) to the map's maximum over ``covered`` (red).

    Returns an ``(H, W, 3)`` ``uint8`` RGB image.
    """
    base = np.repeat(base[..., None], 3, -1) if base.ndim == 2 else base
    base = (np.clip(base, 0, 1) * 255).astype(np.float32)
    peak = float(heat[covered].max()) if covered.any() else 0.0
    scaled = np.clip((heat - low) / (peak - low), 0, 1) if peak > low else np.zeros_like(heat)
    colour = _colour(scaled.astype(np.float32)).astype(np.float32)
    weight = alpha * covered[..., None].astype(np.float32)
    return (base * (1 - weight) + colour * weight).round().astype(np.uint8)


def _upscale(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)


def _as_float_image(view: torch.Tensor) -> np.ndarray:
    """``(C, S, S)`` in ``[0, 1]`` -> ``(S, S, 3)`` RGB (3 channels, e.g. u, v, strain) or ``(S, S)`` grey."""
    view = view.clamp(0, 1)
    return view.permute(1, 2, 0).numpy() if view.shape[0] == 3 else view.mean(0).numpy()


def _enlarge_view(image: np.ndarray) -> np.ndarray:
    """A view-sized image enlarged 8 times, one block per view pixel."""
    import cv2

    return cv2.resize(image, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)


def _view_image(view: torch.Tensor) -> np.ndarray:
    """``(C, S, S)`` view -> ``uint8`` image, enlarged 8 times."""
    return _enlarge_view((_as_float_image(view) * 255).round().astype(np.uint8))


def _frames_used(ex: Explanation) -> str:
    """``"onset img3.jpg, apex img7.jpg (given)"`` (folders) or frame indices (videos)."""
    def name(pos: int | None) -> str:
        if pos is None:
            return "?"
        return ex.sample.frames[pos].name if ex.sample.frames else f"frame {pos}"

    source = "given" if ex.record.get("apex_source") == "annotation" else ex.record.get("apex_source", "?")
    return f"onset {name(ex.record.get('onset'))}, apex {name(ex.record.get('apex'))} ({source})"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "clip"


def _panels(ex: Explanation) -> list[tuple[str, str, np.ndarray]]:
    """``(file suffix, title, RGB uint8 image)`` for every map of one clip."""
    import cv2

    face = ex.face.numpy()
    panels = []
    for key, (heat, covered) in ex.on_face.items():
        kind, view = key.split(":", 1)
        values, mask = heat.numpy(), covered.numpy()
        # Grad-CAM: 0 (blue) to its maximum (red); attention weights (sigmoids, often close
        # together): their own minimum to maximum, with the range in the title
        low = float(values[mask].min()) if kind == "attention" and mask.any() else 0.0
        image = _upscale(overlay(face, values, mask, low=low))
        for _region, (top, bottom, left, right) in ex.boxes.get(view, []):
            cv2.rectangle(image, (left * SCALE, top * SCALE), (right * SCALE - 1, bottom * SCALE - 1),
                          (255, 255, 255), 1)
        if kind == "gradcam":
            # an all-zero map is a finding (nothing in this branch raises the class score), not a blank plot
            zero = not (mask.any() and float(values[mask].max()) > 0)
            title = f"Grad-CAM '{view}' branch, class {ex.target}" + (" (all zero)" if zero else "")
        else:
            title = f"spatial attention '{view}' ({low:.2f}-{float(values[mask].max()):.2f})"
        panels.append((f"{kind}-{view}", title, image))
    for key, (heat, view_image) in ex.on_view.items():
        kind, view = key.split(":", 1)
        image = _enlarge_view(overlay(_as_float_image(view_image), heat.numpy(), np.ones(heat.shape, bool)))
        panels.append((f"{kind}-{view}-on-view", f"{kind} on view '{view}' itself (its geometry is unknown)", image))
    return panels


def explanation_sheet(ex: Explanation, panels: Sequence[tuple[str, str, np.ndarray]]) -> Any:
    """The summary sheet of one clip as a matplotlib figure: the aligned apex face, the input
    views and ``panels`` (as :func:`_panels` makes them) side by side, the prediction in the
    title, and a colour bar that keys the maps' colours (each map runs from its lowest value,
    0 for Grad-CAM, to its highest)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    face = _upscale((np.clip(ex.face.numpy(), 0, 1) * 255).astype(np.uint8))
    inputs = [(f"input view '{v}'", _view_image(x)) for v, x in ex.views.items()]
    shown = [("aligned apex face", face), *inputs] + [(title, image) for _, title, image in panels]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown) + 0.8, 3.9), squeeze=False,
                             layout="constrained")
    for ax, (title, image) in zip(axes[0], shown):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    if panels:
        bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap="jet"), ax=list(axes[0][-len(panels):]),
                           shrink=0.8, ticks=[0, 1])
        bar.ax.set_yticklabels(["lowest\n(Grad-CAM: 0)", "highest"], fontsize=7)
        bar.set_label("map value (each map's own range)", fontsize=7)
    probs = ", ".join(f"{c} {p:.2f}" for c, p in ex.probabilities.items())
    fig.suptitle(f"{ex.sample.clip}: predicted {ex.predicted} ({probs}); {_frames_used(ex)}", fontsize=10)
    return fig


def write_explanations(explanations: Sequence[Explanation], folder: str | Path) -> list[Path]:
    """Write every clip's overlays and a titled summary sheet as PNGs into ``folder``.

    Files per clip: ``{clip}-gradcam-{view}.png`` and ``{clip}-attention-{view}.png`` (the map over
    the aligned apex face, scaled to its maximum, JET colours; region boxes outlined in white) and
    ``{clip}-explain.png`` (the face and all maps side by side, with titles and the prediction).
    Everything is rendered first and written through a temporary folder, so a failure leaves
    no partial output. Returns the written paths.
    """
    import os
    import shutil
    import tempfile

    import cv2
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".explain-", dir=folder))
    names: dict[str, int] = {}
    try:
        staged = []
        for ex in explanations:
            stem = _safe(ex.sample.clip)
            names[stem] = names.get(stem, 0) + 1
            stem = stem if names[stem] == 1 else f"{stem}-{names[stem]}"
            panels = _panels(ex)
            for suffix, _, image in panels:
                cv2.imwrite(str(tmp / f"{stem}-{suffix}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                staged.append(f"{stem}-{suffix}.png")
            fig = explanation_sheet(ex, panels)
            fig.savefig(tmp / f"{stem}-explain.png", dpi=100)
            plt.close(fig)
            staged.append(f"{stem}-explain.png")
        written = []
        for name in staged:
            os.replace(tmp / name, folder / name)
            written.append(folder / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
