"""Model artefacts: a trained model saved as a folder that ``mertk predict`` / ``explain`` load.

Layout (written by :func:`save_artifact`, by default at the end of ``mertk run`` into
``RUN_DIR/model/``)::

    model/weights.safetensors   the state dict (tensors only; safetensors cannot hold code)
    model/model.json            format, versions, resolved config, class names, view shapes,
                                input normalisation, the SHA-256 of weights.safetensors and the
                                SHA-256 of all of that (``description_sha256``)

Loading (:func:`load_artifact`) reads nothing but JSON and safetensors: the model is rebuilt
from its registry name and arguments in the saved config (never from an import path) and the
weights are loaded into it with a strict key/shape check. A format version other than
:data:`FORMAT_VERSION`, a weights file whose hash differs from the recorded one, a ``model.json``
edited after export, or a weights file that is not safetensors is refused with a
:class:`~mertk.errors.MertkError` naming the file and the fix. ``description_sha256`` covers every
other field of ``model.json`` (class names, views, normalisation, config and so the preprocessing
settings, and ``weights_sha256``, which ties the description to one weights file), so no field can
be changed or removed unnoticed; a ``model.json`` without it is refused as edited. The folder is
written to a temporary sibling and renamed when complete, so an interrupted export never leaves
half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mertk.errors import MertkError
from mertk.files import temporary_dir, temporary_file
from mertk.preprocess.settings import PreprocessSettings
from mertk.registry import Components

__all__ = ["FORMAT", "FORMAT_VERSION", "WEIGHTS_NAME", "META_NAME", "Artifact", "save_weights", "save_artifact",
           "load_artifact"]

FORMAT = "mertk-model"
#: Bumped when the folder's layout or the meaning of a field changes; other versions are refused.
FORMAT_VERSION = 1
WEIGHTS_NAME = "weights.safetensors"
META_NAME = "model.json"


@dataclass
class Artifact:
    """A loaded model artefact.

    Attributes:
        path: The artefact folder.
        model: The model with its weights, in eval mode, on the CPU.
        class_names: The names of the ``K`` outputs; logit ``k`` is ``class_names[k]`` (classes, or
            action units for the ``aus`` task).
        preprocess: The preprocessing settings the model was trained with.
        view_shapes: View name -> ``(C, S, S)`` the model takes.
        normalize_mean: Inputs in ``[0, 1]`` are fed as ``(x - mean) / std``.
        normalize_std: See ``normalize_mean``.
        meta: Everything else ``model.json`` holds (versions, config, training info).
        task: The task the model was trained for (``"emotion"``, ``"aus"``): how its outputs read.
    """

    path: Path
    model: nn.Module
    class_names: tuple[str, ...]
    preprocess: PreprocessSettings
    view_shapes: dict[str, tuple[int, ...]]
    normalize_mean: float
    normalize_std: float
    meta: dict[str, Any]
    task: str = "emotion"

    @property
    def config(self) -> dict[str, Any]:
        """The resolved run config (plain mapping) the model was trained with."""
        return self.meta["config"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: The field of ``model.json`` that holds the SHA-256 of all its other fields.
DIGEST_KEY = "description_sha256"
#: What the digest covered in exports written before it covered every field (they are refused:
#: their ``weights_sha256`` and versions could be changed unnoticed).
_EARLY_DESCRIBED = ("class_names", "views", "normalize", "config")


def _canonical_sha256(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _description_digest(meta: Mapping[str, Any]) -> str:
    """SHA-256 of every field of ``meta`` but :data:`DIGEST_KEY`, in canonical JSON."""
    return _canonical_sha256({k: v for k, v in meta.items() if k != DIGEST_KEY})


def save_weights(model: nn.Module | Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Write ``model.state_dict()`` (or a state dict) to ``path`` as safetensors (CPU, contiguous
    tensors), through a temporary sibling renamed when complete, with the mode the umask gives."""
    from safetensors.torch import save

    state = model.state_dict() if isinstance(model, nn.Module) else model
    data = save({k: v.detach().cpu().contiguous() for k, v in state.items()})  # save_file makes it 0600
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_artifact(path: str | Path, model: nn.Module, config: Any, class_names: Sequence[str],
                  view_shapes: Mapping[str, Sequence[int]], *, info: Mapping[str, Any] | None = None,
                  task: str = "emotion") -> Path:
    """Save ``model`` with what is needed to use it on new clips; returns the folder.

    Args:
        path: The artefact folder to create (replaced atomically if it exists).
        model: The trained model (any ``model`` component built from ``config.model``).
        config: The run's :class:`~mertk.config.RunConfig` (saved resolved, defaults filled in).
        class_names: The names of the ``K`` outputs, in logit order (classes, or action units).
        view_shapes: View name -> ``(C, S, S)`` of the model's inputs.
        info: Extra JSON-serialisable facts (e.g. ``{"train_size": 108}``).
        task: The task the model was trained for (recorded as ``task``; a model without one was
            trained for ``emotion``).
    """
    from mertk import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(path.parent, prefix=f".{path.name}-")  # becomes the folder: the umask's mode, not 0700
    try:
        weights = tmp / WEIGHTS_NAME
        save_weights(model, weights)
        resolved = config.model_dump(mode="json") if hasattr(config, "model_dump") else dict(config)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "mertk_version": __version__,
            "torch_version": torch.__version__,
            "task": task,
            "class_names": list(class_names),
            "views": {name: [int(d) for d in shape] for name, shape in view_shapes.items()},
            "normalize": {"mean": resolved["train"]["normalize_mean"], "std": resolved["train"]["normalize_std"]},
            "weights_sha256": _sha256(weights),
            "config": resolved,
            "info": dict(info or {}),
        }
        meta[DIGEST_KEY] = _description_digest(meta)
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if path.exists():
            old = temporary_dir(path.parent, prefix=f".{path.name}-old-")
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _refuse(file: Path, problem: str, fix: str) -> MertkError:
    return MertkError(f"{file}: {problem}. Fix: {fix}")


def _read_meta(folder: Path) -> dict[str, Any]:
    file = folder / META_NAME
    if not file.is_file():
        raise _refuse(folder, f"not a mertk model folder (no {META_NAME})",
                      "pass the model folder that `mertk run` wrote (RUN_DIR/model)")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(file, f"cannot be read as JSON ({exc})", "export the model again with `mertk run`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise _refuse(file, f"not a mertk model description (format {found!r})",
                      "pass the model folder that `mertk run` wrote (RUN_DIR/model)")
    if meta.get("format_version") != FORMAT_VERSION:
        from mertk import __version__

        raise _refuse(file, f"model format version {meta.get('format_version')!r} (written by mertk "
                      f"{meta.get('mertk_version', '?')}), but this mertk ({__version__}) reads version "
                      f"{FORMAT_VERSION}",
                      f"use mertk {meta.get('mertk_version', '?')} to run this model, or export it again with this "
                      "version (`mertk run` with output.export_model: true)")
    missing = [k for k in ("class_names", "views", "normalize", "weights_sha256", "config") if k not in meta]
    if missing:
        raise _refuse(file, f"the model description lacks {', '.join(missing)}",
                      "export the model again with `mertk run`")
    _check_digest(file, meta)
    return meta


def _check_digest(file: Path, meta: Mapping[str, Any]) -> None:
    """Refuse a ``model.json`` whose fields do not match its :data:`DIGEST_KEY`, or that has none."""
    restore = ("restore the original model.json (copy the whole model folder), or export the model again with "
               "`mertk run`")
    recorded = meta.get(DIGEST_KEY)
    if recorded is None:
        raise _refuse(file, f"was edited after export: it has no {DIGEST_KEY}, the SHA-256 that shows its config, "
                      "class names, views, normalisation and weights hash are as exported", restore)
    if recorded == _description_digest(meta):
        return
    if recorded == _canonical_sha256({k: meta.get(k) for k in _EARLY_DESCRIBED}):
        raise _refuse(file, f"was exported by an earlier mertk whose {DIGEST_KEY} does not cover the weights hash, "
                      "so a swapped weights file would go unnoticed",
                      "export the model again with this mertk (`mertk run` with output.export_model: true)")
    raise _refuse(file, "was edited after export: its config, class names, views, normalisation or weights hash no "
                  f"longer match the {DIGEST_KEY} recorded at export", restore)


def _load_weights(weights: Path, expected: str) -> dict[str, torch.Tensor]:
    if not weights.is_file():
        raise _refuse(weights, "the weights file is missing", "copy the whole model folder, or export it again")
    if _sha256(weights) != expected:
        raise _refuse(weights, "the weights do not match the SHA-256 recorded in model.json (changed or corrupted "
                      "after export)",
                      "restore the original model folder, or export the model again with `mertk run`")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise _refuse(weights, f"not a safetensors file ({exc})", "mertk only loads weights saved as "
                      "safetensors; export the model again with `mertk run`") from None


def load_artifact(path: str | Path, components: Components) -> Artifact:
    """Load a model folder written by :func:`save_artifact`.

    Args:
        path: The folder (or a file inside it: ``model.json``, ``weights.safetensors``).
        components: Registries to rebuild the model from its saved spec.

    Raises:
        MertkError: missing/unreadable files, another format version, a hash mismatch, a weights
            file that is not safetensors, or weights that do not fit the model the config builds.
    """
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.exists():
        raise _refuse(folder, "no such model folder", "pass the model folder that `mertk run` wrote (RUN_DIR/model)")
    meta = _read_meta(folder)
    state = _load_weights(folder / WEIGHTS_NAME, meta["weights_sha256"])
    config, file = meta["config"], str(folder / META_NAME)
    class_names = tuple(meta["class_names"])
    shapes = {name: tuple(int(d) for d in shape) for name, shape in meta["views"].items()}
    with warnings.catch_warnings():  # a model saved before mertk 0.3 says preprocess.spotter: read, not a user's typo
        warnings.simplefilter("ignore", FutureWarning)
        preprocess = PreprocessSettings.model_validate(config.get("preprocess", {}))
    in_channels = next(iter(shapes.values()))[0]
    model = components.build("model", config["model"], file=file, key="model",
                             num_classes=len(class_names), in_channels=in_channels)
    model.eval()
    with torch.no_grad():  # materialise lazy layers before loading their weights
        model({name: torch.zeros(2, *shape) for name, shape in shapes.items()})
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise _refuse(folder / WEIGHTS_NAME, "the weights do not fit the model its config builds ("
                      + " ".join(s.strip() for s in first) + ")",
                      "model.json is as exported, so the installed model plugin builds another network "
                      "than the one that trained the weights; install the plugin version that trained it, "
                      "or export the model again") from None
    return Artifact(path=folder, model=model, class_names=class_names, preprocess=preprocess, view_shapes=shapes,
                    normalize_mean=float(meta["normalize"]["mean"]), normalize_std=float(meta["normalize"]["std"]),
                    meta=meta, task=str(meta.get("task", "emotion")))
