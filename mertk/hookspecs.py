"""The hooks a mertk plugin can implement.

Each ``register_*`` hook receives a ``register`` callable. The component hooks' signature is
``register(name: str, factory: Callable[..., T], *, description: str | None = None,
requires: Mapping[str, str] | None = None)``. Call it once per component. ``factory`` is a
class or function whose keyword arguments are what a config may set; their type hints are used
to validate configs before anything is built. ``requires`` maps each optional module the
component needs to what installs it, ``{"ray": "mertk[ray]"}``: a config that names the
component is refused, with that install command, while one is missing.
``register_config_sections`` registers config sections, ``register(key, model)``, and
``register_config_dirs`` folders of bundled configs, ``register(folder)``.

Example plugin module::

    import mertk

    @mertk.hookimpl
    def register_attentions(register):
        register("se", SqueezeExcite)

Built-in components and the Dual-ATME reference set are registered through these same hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    import click

PROJECT = "mertk"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callable every ``register_*`` hook receives (``register_config_dirs``: ``register(folder)``).

    It is a :class:`mertk.plugins.Registrations`: a ``wrapper=True`` hook implementation sees
    every registration of the call in its ``made`` list once the others have run (after its
    ``yield``), and may :meth:`~mertk.plugins.Registrations.veto` some, or raise to refuse them all.
    """

    def __call__(self, name: str, factory: Any = ..., *, description: str | None = None,
                 requires: Any = None) -> Any: ...


#: Component kind -> what its components do, in the order kinds are listed and documented.
#: Filled by :func:`component_hook`, the one place a kind is declared.
KINDS: dict[str, str] = {}
#: Component kind -> the name of the ``register_*`` hook that registers its components.
HOOK_FOR_KIND: dict[str, str] = {}

_Hook = TypeVar("_Hook", bound=Callable[..., Any])


def component_hook(kind: str, description: str) -> Callable[[_Hook], _Hook]:
    """Declare a component kind: its ``register_*`` hookspec (the decorated function), its name
    and its one-line description. A new kind is this decorator on a new hookspec, nothing else."""

    def declare(function: _Hook) -> _Hook:
        KINDS[kind] = description
        HOOK_FOR_KIND[kind] = function.__name__
        return hookspec(function)

    return declare


@component_hook("dataset", "Dataset adapters: read a released dataset layout or a manifest into samples.")
def register_datasets(register: Register) -> None:
    """Register dataset adapters (kind ``dataset``).

    A factory returns an object with ``class_names`` and ``load() -> DatasetLoad``
    (:class:`mertk.api.Dataset`). Its keyword arguments are the config's ``dataset`` node.
    """


@component_hook("protocol", "Evaluation protocols: split samples into train/test folds (LOSO, LODO, k-fold).")
def register_protocols(register: Register) -> None:
    """Register evaluation protocols (kind ``protocol``).

    A factory returns an object with ``split(samples) -> list[Fold]``
    (:class:`mertk.api.EvaluationProtocol`); folds must come in a deterministic order.
    """


@component_hook("face_detector", "Face detectors: find the face box in a frame.")
def register_face_detectors(register: Register) -> None:
    """Register face detectors (kind ``face_detector``).

    A factory returns a callable ``(image: (H, W[, 3]) uint8) -> list[FaceBox]``
    (:class:`mertk.api.FaceDetector`).
    """


@component_hook("landmark_detector", "Landmark detectors: 68 facial landmarks inside a face box.")
def register_landmark_detectors(register: Register) -> None:
    """Register landmark detectors (kind ``landmark_detector``).

    A factory returns a callable ``(image, box: FaceBox) -> (68, 2) float32``
    (:class:`mertk.api.LandmarkDetector`).
    """


@component_hook("apex_spotter", "Apex spotters: pick the apex frame of a clip when the annotation has none.")
def register_apex_spotters(register: Register) -> None:
    """Register apex spotters (kind ``apex_spotter``), configured as ``preprocess.apex_spotter``.

    A factory returns a callable ``(frames: (T, 1, H, W), onset: int) -> int``
    (:class:`mertk.api.ApexSpotter`). Before mertk 0.3 this kind was called ``spotter`` and
    registered through ``register_spotters``, which now registers long-video spotters: a plugin
    that still registers an apex spotter there gets its component refused, naming this hook.
    """


#: Hooks whose kind changed: hook -> (the kind it registers now, the kind it registered before,
#: the hook of that kind now). A component that a config names as the old kind but that a plugin
#: registered through the hook is refused with this migration, not only as "unknown".
MOVED_KINDS: dict[str, tuple[str, str, str]] = {
    "register_spotters": ("spotter", "apex_spotter", "register_apex_spotters"),
}


@component_hook("flow_extractor", "Optical-flow extractors: dense (u, v) flow between two frames.")
def register_flow_extractors(register: Register) -> None:
    """Register optical-flow extractors (kind ``flow_extractor``).

    A factory returns a callable ``(first: (B, 1, H, W), second: (B, 1, H, W)) -> (B, 2, H, W)``
    (:class:`mertk.api.FlowExtractor`).
    """


@component_hook("roi_selector", "ROI selectors: turn the encoded flow image into one model input view.")
def register_roi_selectors(register: Register) -> None:
    """Register ROI selectors (kind ``roi_selector``).

    A factory returns a callable ``(image: (C, H, W), landmarks: (68, 2)) -> (C, S, S)``
    (:class:`mertk.api.RoiSelector`).
    """


@component_hook("backbone", "Backbones: feature extractors (B, C, H, W) -> (B, C', h, w).")
def register_backbones(register: Register) -> None:
    """Register backbones (kind ``backbone``).

    A factory takes ``in_channels: int`` (supplied by the model) and returns an
    ``nn.Module`` mapping ``(B, in_channels, H, W) -> (B, out_channels, h, w)`` with an
    ``out_channels: int`` attribute.
    """


@component_hook("attention", "Attention modules: (B, C, H, W) -> (B, C, H, W) re-weighting.")
def register_attentions(register: Register) -> None:
    """Register attention modules (kind ``attention``).

    A factory takes ``channels: int`` (supplied by the model) and returns an ``nn.Module``
    mapping ``(B, channels, H, W) -> (B, channels, H, W)``.
    """


@component_hook("task", "Tasks: what a run learns and how it is scored (emotion classes, action units).")
def register_tasks(register: Register) -> None:
    """Register tasks (kind ``task``), chosen by the config's ``task`` key (default ``emotion``).

    A factory takes the config's arguments and returns a :class:`mertk.api.Task`: which samples
    it can use, their targets (``(N,)`` int64 classes or ``(N, K)`` float multi-hot), the names of
    the model's ``K`` outputs, how logits become scores and decisions, the training statistic,
    the metrics written to ``metrics.json`` and the report's results section.
    """


@component_hook("loss", "Losses: (ModelOutput, target) -> scalar.")
def register_losses(register: Register) -> None:
    """Register losses (kind ``loss``).

    A factory returns an ``nn.Module`` whose ``forward(output: ModelOutput, target)`` returns a
    scalar tensor; ``target`` is what the run's task makes (:attr:`mertk.api.Task.targets`:
    ``(B,)`` int64 classes, or ``(B, K)`` float multi-hot). It may receive ``num_classes: int``
    (the model's outputs), ``class_counts`` (training-fold samples per class, or positives per
    output for a multi-label task) and ``num_samples`` (training-fold size) if it declares them.
    A factory for multi-label targets says so with ``targets = "multi-label"``
    (:class:`mertk.api.LossTargets`); one without it is taken for class targets.
    """


@component_hook("model", "Models: views {name: (B, C, S, S)} -> ModelOutput(logits, features).")
def register_models(register: Register) -> None:
    """Register models (kind ``model``).

    A factory takes ``num_classes: int`` and ``in_channels: int`` (supplied by the engine) and
    returns an ``nn.Module`` whose ``forward(views: Mapping[str, (B, C, S, S)])`` returns a
    :class:`mertk.api.ModelOutput`. The model's ``views: tuple[str, ...]`` attribute names the
    views it reads.
    """


@component_hook("tracker", "Experiment trackers: receive the config, per-epoch values and fold and run metrics.")
def register_trackers(register: Register) -> None:
    """Register experiment trackers (kind ``tracker``), configured as ``output.trackers``.

    A factory takes the config's arguments and returns an object with ``start``,
    ``start_fold``, ``log_epoch``, ``end_fold``, ``finish`` and ``close``
    (:class:`mertk.api.Tracker`). A tracker that cannot start stops the run before any
    training, naming it; one that raises later is warned about once and dropped for the rest of
    the run, which goes on.
    """


@component_hook("executor",
                "Executors: run independent tasks (folds, clips) here, in worker processes or on a cluster.")
def register_executors(register: Register) -> None:
    """Register executors (kind ``executor``).

    A factory returns an object with ``map(function, shared, tasks)`` that calls
    ``function(shared, task)`` for every task, here or in other processes or machines, and yields
    ``(position, result)`` pairs as tasks finish, a :class:`mertk.api.TaskFailure` as the result
    of a task that raised (:class:`mertk.api.Executor`). Its keyword arguments are the config's
    ``executor`` node.
    """


@component_hook("video_dataset",
                "Long-video dataset adapters: read recordings and their annotated expression intervals.")
def register_video_datasets(register: Register) -> None:
    """Register long-video dataset adapters (kind ``video_dataset``), for spotting.

    A factory returns an object with ``load() -> LongVideoLoad`` (:class:`mertk.api.VideoDataset`).
    """


@component_hook("spotter", "Spotters: find the intervals of micro- and macro-expressions in a long video.")
def register_spotters(register: Register) -> None:
    """Register long-video spotters (kind ``spotter``).

    A factory returns an object with ``spot(video: LongVideo, frames: Iterator[(H, W) uint8]) ->
    SpotResult`` (:class:`mertk.api.Spotter`): it reads the recording's grey frames once, in
    order, holding a bounded window of them, and returns the intervals it found with the
    per-frame signal it found them in. (Apex spotters, this kind's name before mertk 0.3,
    register through :func:`register_apex_spotters`.)
    """


@hookspec
def register_commands(cli: "click.Group") -> None:
    """Add commands to the ``mertk`` command line: ``cli.add_command(my_command)``."""


@hookspec
def register_config_sections(register: Register) -> None:
    """Register sections of the run config: ``register("train", TrainSettings)``.

    The model is a pydantic class, usually a :class:`mertk.settings.Strict` subclass whose
    fields all have defaults; the config key of the same name is validated with it, and the
    validated section is ``loaded.config.<key>``. Core's own keys (``name``, ``seed``,
    ``dataset``, ``on_error``, ``protocol``, ``model``, ``loss``) cannot be taken, and a key
    registered by two plugins is an error naming both. The engine registers ``train`` and
    ``output``, preprocessing registers ``preprocess``.

    A section may instead hold one component spec:
    ``register("executor", mertk.settings.component("executor"), default="local")`` validates
    ``executor: {name: local, workers: 2}`` against the registered ``executor`` components, and
    ``--set executor.workers=2`` adjusts the default component. ``mertk.execution`` registers
    ``executor`` this way.

    A rule that involves other keys goes in a method ``check_run(config, components, file)``
    of the section: it is called once the whole config and its component specs are valid, and
    raises :class:`mertk.errors.ConfigError` (``train`` refuses an explicit ``stack_folds`` for a
    model that cannot be stacked).
    """


@hookspec
def register_config_dirs(register: Register) -> None:
    """Register folders of bundled ``*.yaml`` run configs: ``register(folder)``.

    ``mertk run NAME`` and ``extends: NAME`` find a bundled config by its file name; the first
    folder registered wins when two plugins bundle the same name.
    """


@hookspec(warn_on_impl=DeprecationWarning(
    "the hook mertk_config_dirs() is deprecated and will be removed in mertk 0.3; implement "
    "register_config_dirs(register) and call register(folder) for each folder instead"))
def mertk_config_dirs() -> list[str]:
    """Deprecated (use :func:`register_config_dirs`): return folders of bundled run configs."""
