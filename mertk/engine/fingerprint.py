"""The run fingerprint: what a run's results depend on, recorded when it starts so that resuming
it can refuse to mix in folds of another experiment.

A run folder's ``fingerprint.json`` is written once, when the run starts, and never rewritten
(the data part is added once the data is loaded). ``mertk run --resume`` and ``mertk bench``
compare it with what they are about to run and refuse any difference, naming each one
(``train.epochs: 15 -> 2``). It keeps values, not only digests, in three parts:

``config``
    The resolved config (every default filled in) less :data:`OPERATIONAL`: the settings that
    say where and how fast the work runs and what is kept, never what a result is.
``versions``
    mertk's version and each plugin's package and version (a plugin file loaded with
    ``--plugin``: the digest of its source when it declares no ``__version__``).
``data``
    The class names, the SHA-256 of every annotation or manifest file a kept sample came from
    (``Sample.meta["file"]``), and the kept samples' ids with their labels, in order (the order
    decides the folds and batches). The clips' pixels are not hashed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mertk.api import Sample
from mertk.config import LoadedConfig
from mertk.engine.rundir import FINGERPRINT, RunFolder
from mertk.errors import MertkError
from mertk.registry import Components

__all__ = ["OPERATIONAL", "recipe_fingerprint", "data_fingerprint", "config_part", "recipe_changes",
           "data_changes", "check_resume", "check_data"]

FORMAT = 1

#: Dotted config keys left out of the fingerprint: where and how the work runs (the executor,
#: torch threads, preprocessing workers and GPU batch), where results and caches go and what is
#: kept (``output``: folder, checkpoints, exported model, trackers). They may change on resume.
#: Everything else is recorded, also what changes only the arithmetic (``train.device``,
#: ``precision``, ``channels_last``, ``stack_folds``, ``preprocess.device``).
OPERATIONAL: tuple[str, ...] = ("executor", "output", "train.threads", "preprocess.workers", "preprocess.cache",
                                "preprocess.cache_dir", "preprocess.batch_size")

_ABSENT = object()
_SHOWN = 5


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so recorded and current compare."""
    return json.loads(json.dumps(value, default=str))


#: The task a config without a ``task`` key (``None``) runs; recorded only when another is chosen,
#: so the fingerprints of runs made before tasks existed stay what they were.
DEFAULT_TASK = {"name": "emotion"}


def config_part(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the config mapping ``config`` without the :data:`OPERATIONAL` keys (nor ``task``
    when it is the default :data:`DEFAULT_TASK`)."""
    out = copy.deepcopy(dict(config))
    if "task" in out and out["task"] in (None, DEFAULT_TASK, DEFAULT_TASK["name"]):
        del out["task"]
    for key in OPERATIONAL:
        *parents, last = key.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def _plugin_versions(components: Components) -> dict[str, str]:
    """``{"mertk": version, plugin: "package version"}`` for every plugin not shipped with mertk."""
    from mertk import __version__
    from mertk.plugins import plugin_infos

    versions = {"mertk": __version__}
    pm = components.plugin_manager
    for info in plugin_infos(components):
        if info.package == "mertk":
            continue
        plugin = pm.get_plugin(info.name) if pm is not None else None
        name = info.name if not info.name.isdigit() else f"{type(plugin).__module__}.{type(plugin).__qualname__}"
        version = info.version
        source = getattr(plugin, "__file__", None)
        if not version and source:
            version = f"sha256:{_file_digest(source)[:16]}"
        versions[name] = f"{info.package} {version}".strip()
    return versions


def recipe_fingerprint(loaded: LoadedConfig, components: Components) -> dict[str, Any]:
    """The config and versions parts of the fingerprint of the run ``loaded`` describes."""
    return _plain({"format": FORMAT, "config": config_part(loaded.config.model_dump(mode="json")),
                   "versions": _plugin_versions(components)})


def data_fingerprint(samples: Sequence[Sample], class_names: Sequence[str],
                     labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """The data part: class (or task output) names, digests of the files the samples came from,
    ids and labels (``labels``: each sample's training target as a list or int, default its class)."""
    files = sorted({str(s.meta["file"]) for s in samples if s.meta.get("file")})
    labels = [s.label for s in samples] if labels is None else labels
    return _plain({"classes": list(class_names), "files": {f: _file_digest(f) for f in files},
                   "samples": {s.id: label for s, label in zip(samples, labels)}})


# ------------------------------------------------------------------ differences


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of nested mappings (and of lists of mappings, by index) -> their values."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = enumerate(value)
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in items:
        out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value)


def _changed(recorded: Mapping[str, Any], current: Mapping[str, Any], label: str = "") -> list[str]:
    old, new = _flatten(dict(recorded)), _flatten(dict(current))
    keys = list(old) + [k for k in new if k not in old]
    return [f"{label}{key}: {_show(old.get(key, _ABSENT))} -> {_show(new.get(key, _ABSENT))}"
            for key in keys if old.get(key, _ABSENT) != new.get(key, _ABSENT)]


#: Config keys renamed since a fingerprint may have been recorded: old dotted key -> new. A run
#: started before the rename resumes when only the key's name changed.
RENAMED_KEYS: dict[str, str] = {"preprocess.spotter": "preprocess.apex_spotter"}


def _renamed(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a recorded config with :data:`RENAMED_KEYS` under their new names."""
    out = copy.deepcopy(dict(config))
    for old, new in RENAMED_KEYS.items():
        *parents, last = old.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        new_last = new.rsplit(".", 1)[-1]
        if isinstance(node, dict) and last in node and new_last not in node:
            node[new_last] = node.pop(last)
    return out


def recipe_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Each config key and version that differs between two fingerprints, as ``key: old -> new``
    (keys renamed since the recording compared under their new names, :data:`RENAMED_KEYS`)."""
    return (_changed(_renamed(recorded.get("config", {})), current.get("config", {}))
            + _changed(recorded.get("versions", {}), current.get("versions", {}), "version of "))


def _some(ids: Sequence[str]) -> str:
    return ", ".join(ids[:_SHOWN]) + (f", ... ({len(ids) - _SHOWN} more)" if len(ids) > _SHOWN else "")


def data_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Each data file, class list and sample difference between two data parts, in words."""
    changes = []
    if recorded.get("classes") != current.get("classes"):
        changes.append(f"class names: {_show(recorded.get('classes'))} -> {_show(current.get('classes'))}")
    old_files, new_files = recorded.get("files", {}), current.get("files", {})
    for file in sorted(set(old_files) | set(new_files)):
        if file not in new_files:
            changes.append(f"data file {file}: no kept sample comes from it any more")
        elif file not in old_files:
            changes.append(f"data file {file}: new (no sample came from it when the run started)")
        elif old_files[file] != new_files[file]:
            changes.append(f"data file {file}: its content changed since the run started")
    old_labels, new_labels = recorded.get("samples", {}), current.get("samples", {})
    if list(old_labels.items()) != list(new_labels.items()):  # in order: it decides the folds and batches
        added = [i for i in new_labels if i not in old_labels]
        removed = [i for i in old_labels if i not in new_labels]
        relabelled = [f"{i}: {old_labels[i]} -> {new_labels[i]}" for i in new_labels
                      if i in old_labels and old_labels[i] != new_labels[i]]
        for what, ids in (("added", added), ("gone", removed), ("with another label", relabelled)):
            if ids:
                changes.append(f"samples {what}: {_some(ids)}")
        if not (added or removed or relabelled):
            changes.append("samples: the same ones in another order (the folds and batches would differ)")
    return changes


# ------------------------------------------------------------------ checks


def _example(changes: Sequence[str], folder: RunFolder) -> str:
    """``mertk run RUN_DIR/config.yaml --set KEY=VALUE`` for the first changed config key, if any."""
    for change in changes:
        key, _, values = change.partition(": ")
        new = values.rpartition(" -> ")[2]
        if not change.startswith("version of ") and new != "(not set)" and not new.startswith(("[", "{")):
            return f" (e.g. `mertk run {folder.path / 'config.yaml'} --set {key}={new}`)"
    return ""


def _refusal(folder: RunFolder, changes: Sequence[str], fix: str, kept: str = "folds",
             may_change: Sequence[str] = OPERATIONAL) -> MertkError:
    listed = "\n".join(f"  {c}" for c in changes)
    return MertkError(
        f"{folder.path}: cannot resume: this differs from what the run recorded when it started "
        f"({FINGERPRINT}):\n{listed}\nIts finished {kept} would be mixed with {kept} of another experiment; only "
        f"{', '.join(may_change)} may change on resume. Fix: {fix}")


def _run_fix(folder: RunFolder, changes: Sequence[str]) -> str:
    return (f"resume without these changes (if {folder.path / 'config.yaml'} was edited, undo the edit), or "
            f"start a new run with them, which gets its own run folder{_example(changes, folder)}")


def check_resume(folder: RunFolder, loaded: LoadedConfig, recipe: Mapping[str, Any], *,
                 fix: str | None = None, kept: str = "folds", may_change: Sequence[str] = OPERATIONAL) -> str | None:
    """Refuse to resume ``folder`` with a config or versions other than those it recorded.

    A folder made before fingerprints were recorded (no ``fingerprint.json``) is checked against
    its ``config.yaml`` only (``--set`` changes are caught, not a hand edit of the file, nor data
    or version changes); the returned warning says so, and the caller records ``recipe`` from then on.

    Args:
        recipe: :func:`recipe_fingerprint` of what would run now.
        fix: What to do instead (default: resume unchanged, or start a new run).
        kept: What a finished part of the run is called in the refusal (``"recordings"`` for ``mertk spot``).
        may_change: The keys the refusal says may change (those of :data:`OPERATIONAL` the command's config has).

    Returns:
        The warning for a folder made before fingerprints, else ``None``.

    Raises:
        MertkError: a difference, each named with its recorded and current value; nothing was written.
    """
    recorded = folder.load_fingerprint()
    if recorded is None:
        changes = _changed(config_part(folder.saved_config()), config_part(_plain(dict(loaded.data))))
        warning = (f"{folder.path}: no {FINGERPRINT} (the run started before mertk recorded one): only "
                   "config.yaml was compared, not the data or versions its finished folds used; they are "
                   "recorded from now on")
    else:
        changes, warning = recipe_changes(recorded, recipe), None
    if changes:
        raise _refusal(folder, changes, fix or _run_fix(folder, changes), kept, may_change)
    return warning


def check_data(folder: RunFolder, current: Mapping[str, Any], *, fix: str | None = None, kept: str = "folds",
               may_change: Sequence[str] = OPERATIONAL) -> None:
    """Record the data part in ``fingerprint.json`` if it is not there yet, else refuse a difference.

    Args:
        fix: What to do instead (default: resume with the data as it was, or start a new run).
        kept: What a finished part of the run is called in the refusal (as for :func:`check_resume`).
        may_change: The keys the refusal says may change (as for :func:`check_resume`).

    Raises:
        MertkError: the data differs from the recorded data, each difference named; nothing was written.
    """
    recorded = folder.load_fingerprint() or {}
    if "data" not in recorded:
        folder.save_fingerprint({**recorded, "data": dict(current)})
        return
    changes = data_changes(recorded["data"], current)
    if changes:
        raise _refusal(folder, changes, fix or "resume with the data as it was, or start a new run on the changed "
                       "data (`mertk run CONFIG` gets its own run folder; a bench: another --dir)", kept, may_change)
