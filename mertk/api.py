"""Data types and component interfaces shared by every part of mertk.

Data-side stages (datasets, face and landmark detectors, flow extractors, spotters, ROI
selectors, protocols) and executors are described by :class:`typing.Protocol` classes: any object with the
right methods works, no subclassing needed. Network parts (backbones, attention modules,
models, losses) are :class:`torch.nn.Module` subclasses whose ``forward`` contracts are given
here in the docstrings, with tensor shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Sample",
    "Problem",
    "DatasetLoad",
    "Interval",
    "LongVideo",
    "LongVideoLoad",
    "VideoDataset",
    "Dataset",
    "FaceBox",
    "FaceDetector",
    "LandmarkDetector",
    "FlowExtractor",
    "ApexSpotter",
    "SpotResult",
    "Spotter",
    "RoiSelector",
    "ViewPiece",
    "Box",
    "view_source",
    "Fold",
    "EvaluationProtocol",
    "ModelOutput",
    "Task",
    "RunStart",
    "RunResult",
    "Tracker",
    "TaskFailure",
    "TaskRetry",
    "Executor",
    "is_stacked",
    "UsesDevice",
    "ReadsFrames",
    "SizedView",
    "DrawsOrigin",
    "Fitted",
    "SpatialMap",
    "ChecksArguments",
    "LocalExecutor",
    "DescribedExecutor",
    "ClosableExecutor",
    "StartableExecutor",
    "CannotStack",
    "LossTargets",
    "Ability",
    "ABILITIES",
]


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One labelled micro-expression clip.

    Attributes:
        id: Unique key across the whole run, ``"{dataset}/{subject}/{clip}"`` (adapters add a
            suffix when a dataset repeats a clip name within a subject).
        subject: Subject key, unique across source datasets (``"casme2/sub01"``); LOSO folds
            are formed from it.
        clip: Clip name as released (``"EP02_01f"``, ``"006_1_2"``, ``"s01_ne_01"``).
        dataset: Source dataset name (``"casme2"``, ``"samm"``, ``"smic"``, ``"casme3"``,
            ``"demo"``, or what a manifest says); metrics are sliced by it.
        label: Class index into the dataset's ``class_names``.
        emotion: The original emotion annotation, before mapping to ``label``.
        frames: The clip's frame files in temporal order (natural sort of frame numbers,
            gaps allowed). Empty for video clips and precomputed-flow samples.
        onset: Position of the onset frame in ``frames`` (or frame index in ``video``).
        apex: Position of the apex frame; ``None`` when the annotation has none (SMIC):
            a spotter picks it during preprocessing.
        offset: Position of the offset frame, when known.
        video: A video file holding the clip, instead of ``frames``.
        face_image: A prepared face image (e.g. an aligned apex crop), when the data has one.
        flow_image: A precomputed flow image (3 channels, see the manifest's channel order);
            when set, face detection and flow extraction are skipped.
        aus: The facial action units coded for the clip, as FACS numbers without side or
            intensity letters (``("AU4", "AU12")``, see ``mertk.data.action_units``); ``()`` when
            coded as none, ``None`` when the source released no AU coding (SMIC). The action-unit
            task skips samples whose ``aus`` is ``None``, naming why.
        meta: Free-form extras: the annotation file and row, the AU text as released, frame numbers.
    """

    id: str
    subject: str
    clip: str
    dataset: str
    label: int
    emotion: str = ""
    frames: tuple[Path, ...] = ()
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    video: Path | None = None
    face_image: Path | None = None
    flow_image: Path | None = None
    aus: tuple[str, ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Interval:
    """A stretch of a long video holding one facial expression: a ground-truth annotation or a
    spotter's detection.

    Attributes:
        onset: First frame of the expression, a 0-based position in the video's frames.
        offset: Last frame, inclusive (``offset >= onset``).
        expression: ``"micro"`` or ``"macro"``; MEGC scores the two types separately.
        apex: Position of the apex frame, when known (annotations give one; spotters may).
        score: A detection's confidence (``None`` for annotations).
        meta: Free-form extras: the annotation file and row, the frame numbers as released.
    """

    onset: int
    offset: int
    expression: Literal["micro", "macro"] = "micro"
    apex: int | None = None
    score: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def length(self) -> int:
        """Frames covered, ends included."""
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class Problem:
    """Something wrong with the input data, reported to the user.

    Attributes:
        file: The file (annotation sheet, frame, folder) the problem is in.
        message: What is wrong, in one sentence.
        fix: What the user can do about it.
        row: 1-based row number in ``file`` (spreadsheet row as shown by Excel), if any.
        sample: The sample id concerned, if any.
        fatal: ``True`` when the sample cannot be used (it is skipped or stops the run,
            depending on the config's ``on_error``); ``False`` for a warning such as a
            missing apex that a fallback handled.
    """

    file: str
    message: str
    fix: str = ""
    row: int | None = None
    sample: str | None = None
    fatal: bool = True

    def __str__(self) -> str:
        where = self.file + (f", row {self.row}" if self.row is not None else "")
        who = f" [{self.sample}]" if self.sample else ""
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}{who}: {self.message}.{fix}"


@dataclass
class DatasetLoad:
    """What a dataset adapter returns: the usable samples and every problem it met.

    ``excluded`` counts annotation rows left out on purpose, which are not problems: reason
    (``"emotion 'others' is outside class protocol megc3"``) -> number of rows.
    """

    samples: list[Sample]
    problems: list[Problem] = field(default_factory=list)
    class_names: tuple[str, ...] = ()
    excluded: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class Dataset(Protocol):
    """A dataset adapter (component kind ``dataset``).

    Built from the config's ``dataset`` node; reads annotation files and the on-disk layout
    and never touches pixels beyond checking that files exist.
    """

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the classes, index ``i`` is label ``i``."""
        ...

    def load(self) -> DatasetLoad:
        """Read the dataset; collect problems instead of raising for per-sample defects."""
        ...


# --------------------------------------------------------------------------- long videos


@dataclass(frozen=True)
class LongVideo:
    """One long recording to spot expressions in, with its annotated intervals.

    Attributes:
        id: Unique key across the whole run, ``"{dataset}/{subject}/{name}"``.
        subject: Subject key, unique across source datasets (``"casme-squared/s15"``); LOSO folds
            of spotting are formed from it.
        name: The recording's name as released (``"15_0101disgustingteeth"``, ``"006_1"``).
        dataset: Source dataset name (``"casme-squared"``, ``"samm-lv"``, ``"long-demo"``, or what
            a manifest says); metrics are sliced by it.
        fps: Frames per second of the recording (the frames', for a frame folder).
        frames: The frame files in temporal order (natural sort of frame numbers). Empty for a
            video file.
        video: A video file holding the recording, instead of ``frames``.
        intervals: The annotated expressions, positions indexing ``frames`` (or frame indices in
            ``video``), sorted by onset. Empty when none is annotated (a recording to analyse,
            or one where nothing happened).
        meta: Free-form extras: the annotation file, the released frame numbers.

    Frames are never held here, only listed: a spotter reads them one at a time (see
    :class:`Spotter`).
    """

    id: str
    subject: str
    name: str
    dataset: str
    fps: float
    frames: tuple[Path, ...] = ()
    video: Path | None = None
    intervals: tuple[Interval, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class LongVideoLoad:
    """What a long-video dataset adapter returns: the usable videos and every problem it met.

    A video with a fatal problem (missing frames, an annotation row that cannot be placed) is
    left out of ``videos`` whole: spotting it with part of its truth missing would count the
    missing expressions' detections as false positives. ``excluded`` counts annotation rows left
    out on purpose (reason -> rows).
    """

    videos: list[LongVideo]
    problems: list[Problem] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class VideoDataset(Protocol):
    """A long-video dataset adapter (component kind ``video_dataset``).

    Reads annotation files and the on-disk layout and never decodes frames.
    """

    def load(self) -> LongVideoLoad:
        """Read the dataset; collect problems instead of raising for per-video defects."""
        ...


# --------------------------------------------------------------------------- preprocessing


class FaceBox(NamedTuple):
    """A face rectangle in pixel coordinates, with how it was found."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 1.0
    method: str = ""


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in one image (component kind ``face_detector``)."""

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        """Detect faces.

        Args:
            image: ``(H, W)`` grey or ``(H, W, 3)`` RGB ``uint8`` image.

        Returns:
            Faces sorted by decreasing score; empty when none is found.
        """
        ...


@runtime_checkable
class LandmarkDetector(Protocol):
    """Places facial landmarks inside a face box (component kind ``landmark_detector``)."""

    def __call__(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """Return ``(68, 2)`` float32 ``(x, y)`` landmarks in the iBUG 300-W order."""
        ...


@runtime_checkable
class FlowExtractor(Protocol):
    """Dense optical flow between frame pairs (component kind ``flow_extractor``)."""

    def __call__(self, first: "torch.Tensor", second: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """Compute flow from ``first`` to ``second``.

        Args:
            first: ``(B, 1, H, W)`` float32 grey frames in ``[0, 1]``.
            second: ``(B, 1, H, W)`` float32 grey frames in ``[0, 1]``.

        Returns:
            ``(B, 2, H, W)`` float32 flow ``(u, v)`` in pixels, such that
            ``second(x + u, y + v) ~= first(x, y)``.
        """
        ...


@runtime_checkable
class ApexSpotter(Protocol):
    """Picks the apex frame of a clip whose annotation has none (component kind ``apex_spotter``;
    ``spotter`` before mertk 0.3, when that name did not yet mean long-video spotters)."""

    def __call__(self, frames: "torch.Tensor", onset: int) -> int:  # noqa: F821
        """Return the apex position given ``(T, 1, H, W)`` aligned grey frames in ``[0, 1]``."""
        ...


@dataclass(frozen=True)
class SpotResult:
    """What a :class:`Spotter` found in one recording.

    Attributes:
        intervals: The spotted expressions, positions in the recording's frames, sorted by
            onset, each with its ``expression`` type (``micro``/``macro``) and a ``score``.
        signals: Named ``(T,)`` float32 signals, one value per frame: what the spotter
            thresholded (``{"micro": ..., "macro": ...}`` for one per time scale), for the
            timeline plot and for analysis; ``T`` is the number of frames read.
        thresholds: The value of each signal an interval's peak had to reach, when the spotter
            has one (for the plot).
    """

    intervals: tuple[Interval, ...]
    signals: Mapping[str, np.ndarray]
    thresholds: Mapping[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        """``T``: the frames the spotter read."""
        return len(next(iter(self.signals.values()))) if self.signals else 0


@runtime_checkable
class Spotter(Protocol):
    """Finds micro- and macro-expression intervals in a long video (component kind ``spotter``).

    ``frames`` yields the recording's ``(H, W)`` grey ``uint8`` frames in order, one at a time,
    read lazily from disk: a spotter keeps only the window it needs (memory bounded whatever the
    recording's length) and must read them once, front to back. ``video`` gives the fps, the
    ids and the number of frames (``len(video.frames)`` for a frame folder); its ``intervals``
    are the truth and must not be looked at. A spotter that learns has a ``fit(videos)`` method
    (``flow-windows``): the caller trains it on the other subjects' recordings, with their
    intervals, before it spots a subject's recordings (LOSO).
    """

    def spot(self, video: LongVideo, frames: Iterator[np.ndarray]) -> SpotResult:
        """Return the intervals found in ``video``, read through ``frames``."""
        ...


#: ``(top, bottom, left, right)`` of a rectangle in pixels, end exclusive.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ViewPiece:
    """A rectangle of a view and the rectangle of the selector's input image it was resampled from.

    Attributes:
        region: What the piece shows (``"face"``, ``"eyes"``, ``"mouth"``, ...).
        view_box: The piece in the ``(S, S)`` view.
        image_box: Where it came from in the ``(H, W)`` image the selector read (the aligned face).
    """

    region: str
    view_box: Box
    image_box: Box


@runtime_checkable
class RoiSelector(Protocol):
    """Turns an encoded flow image into one model input view (component kind ``roi_selector``).

    Optional, like ``source`` (see :func:`view_source`): a method
    ``origin(landmarks: (68, 2), shape: (H, W)) -> list[ViewPiece]`` saying which rectangle
    of the ``(H, W)`` input each rectangle of the ``(S, S)`` view was resampled from. ``mertk
    explain`` uses it, and only it, to draw a view's maps on the aligned face and to outline its
    regions; a selector without it gets its maps drawn on the view itself.
    """

    def __call__(self, image: "torch.Tensor", landmarks: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """Select and resample regions.

        Args:
            image: ``(C, H, W)`` encoded flow (or face) image of the aligned face.
            landmarks: ``(68, 2)`` landmarks in the same pixel frame as ``image``.

        Returns:
            ``(C, S, S)`` view, ``S`` being the selector's output size.
        """
        ...


def view_source(selector: object) -> Literal["flow", "frames"]:
    """What a ``roi_selector`` reads: ``"frames"`` (the aligned grey clip ``(T, 1, A, A)``) when
    it is a :class:`ReadsFrames`, else ``"flow"`` (the encoded flow image)."""
    return "frames" if isinstance(selector, ReadsFrames) and selector.source == "frames" else "flow"


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Fold:
    """One train/test split of a protocol: indices into the sample list."""

    name: str
    train: tuple[int, ...]
    test: tuple[int, ...]


@runtime_checkable
class EvaluationProtocol(Protocol):
    """An evaluation protocol (component kind ``protocol``): LOSO, LODO, k-fold."""

    def split(self, samples: Sequence[Sample]) -> list[Fold]:
        """Return the folds in a deterministic order; every sample is tested exactly once."""
        ...


# --------------------------------------------------------------------------- networks


@dataclass
class ModelOutput:
    """What every ``model`` component returns from ``forward(views)``.

    Models take ``views: Mapping[str, Tensor]`` where each view is ``(B, C, S, S)``.

    Attributes:
        logits: ``(B, K)`` unnormalised class scores.
        features: Named ``(B, D)`` feature vectors (e.g. one per branch) that losses may use.
        maps: Named ``(B, C, h, w)`` intermediate maps kept for explanation (attention, last
            convolutional features); may be empty.
    """

    logits: "torch.Tensor"  # noqa: F821
    features: dict[str, "torch.Tensor"] = field(default_factory=dict)  # noqa: F821
    maps: dict[str, "torch.Tensor"] = field(default_factory=dict)  # noqa: F821


# --------------------------------------------------------------------------- tasks


@runtime_checkable
class Task(Protocol):
    """What a run learns and how it is scored (component kind ``task``, the config's ``task`` key).

    The engine trains, tests and scores every task the same way; the task says what differs.
    Built-in: ``emotion`` (one class per clip, the default) and ``aus`` (multi-label action units).
    Its methods are called in the driver and in workers alike; it holds only its settings.

    Attributes:
        name: The task's name, written to ``metrics.json`` and the exported model
            (``"emotion"``, ``"aus"``).
        target_kind: ``"classes"`` (targets ``(N,)`` int64 class indices) or ``"multi-label"``
            (targets ``(N, K)`` float32 in ``{0, 1}``). A loss is checked against it
            (:class:`LossTargets`).
        headline: The key of the main score in ``metrics["overall"]`` (``"uf1"``, ``"au_f1"``);
            ``mertk bench`` and trackers lead with it.
        outputs: What the model's outputs are, as a plural noun for messages (``"classes"``,
            ``"action units"``): ``run.log`` says ``data: 442 samples, 7 action units``.
    """

    name: str
    target_kind: Literal["classes", "multi-label"]
    headline: str
    outputs: str

    def output_names(self, class_names: Sequence[str]) -> tuple[str, ...]:
        """The names of the model's ``K`` outputs, given the dataset's class names: the classes
        themselves, or the action units (``("AU1", "AU4", ...)``)."""
        ...

    def skip_reason(self, sample: Sample) -> str | None:
        """Why the task cannot use ``sample`` (``"casme2 released no AU coding"``), else ``None``.
        Skipped samples are counted by reason in ``run.log``, before preprocessing."""
        ...

    def targets(self, samples: Sequence[Sample], class_names: Sequence[str]) -> "torch.Tensor":  # noqa: F821
        """The training targets of usable ``samples``: ``(N,)`` int64 or ``(N, K)`` float32 (CPU)."""
        ...

    def check(self, samples: Sequence[Sample], class_names: Sequence[str], folds: Sequence[Fold] = (), *,
              source: str) -> None:
        """Refuse data (and, when given, folds) the task cannot learn from, raising
        :class:`mertk.errors.MertkError` naming ``source`` (``"run.yaml: dataset"``) and the fix."""
        ...

    def counts(self, targets: "torch.Tensor", outputs: int) -> list[int]:  # noqa: F821
        """Per output, how many of the training ``targets`` have it: samples per class, or positives
        per AU; the losses' ``class_counts``."""
        ...

    def scores(self, logits: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """``(..., K)`` logits -> ``(..., K)`` float32 scores in ``[0, 1]`` (softmax, or a sigmoid per output)."""
        ...

    def decide(self, scores: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """``(N, K)`` scores -> ``(N,)`` int64 classes or ``(N, K)`` int64 decisions in ``{0, 1}``."""
        ...

    def hits(self, logits: "torch.Tensor", targets: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """The training statistic (``accuracy`` in ``history.csv``), per sample: ``(..., B, K)`` logits
        and ``(..., B)`` or ``(..., B, K)`` targets -> ``(..., B)`` float in ``[0, 1]`` (1 when the
        class is right; the fraction of outputs right). Written with torch operators only: it also
        runs under :func:`torch.func.vmap` in a stacked step."""
        ...

    def evaluate(self, y_true: Sequence[Any], y_pred: Sequence[Any], names: Sequence[str],
                 groups: Sequence[str]) -> dict[str, Any]:
        """``metrics.json``'s scores of the pooled test decisions (``y_true``/``y_pred`` as
        :meth:`decide` gives them, as lists; ``names``: :meth:`output_names`; ``groups``: each
        sample's source dataset): ``{"overall": {...}, "per_group": {dataset: {...}}, ...}``."""
        ...

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """A markdown table of the main scores, overall and per source dataset (printed at the end)."""
        ...

    def report(self, metrics: Mapping[str, Any], names: Sequence[str], folder: Path) -> list[str]:
        """The report's results section as markdown lines; writes its figures (PNG) into ``folder``."""
        ...


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class RunStart:
    """What a tracker is told when a run starts, or resumes.

    Attributes:
        name: The config's ``name``.
        run_dir: The run folder (a tracker may keep its own state there, e.g. an id to resume).
        config: The resolved config as a plain nested mapping: every key, defaults included.
        params: The same config flattened to dotted keys with text values
            (``"train.optimizer.lr": "0.001"``, ``"loss.0.name": "focal"``).
        environment: Versions, device, threads and arithmetic (what ``environment.json`` holds).
        resumed: ``mertk run --resume``: folds finished earlier are kept and not reported again;
            a tracker should continue what it logged for this run folder before.
    """

    name: str
    run_dir: Path
    config: Mapping[str, Any]
    params: Mapping[str, str]
    environment: Mapping[str, Any]
    resumed: bool = False


@dataclass(frozen=True)
class RunResult:
    """What a tracker is told when every fold is done and the report is written.

    Attributes:
        metrics: Scores of the pooled test predictions: ``uf1``, ``uar``, ``accuracy``, ``n``
            overall and ``"{dataset}/uf1"`` etc. per source dataset.
        curves: Per-epoch training loss and accuracy averaged over folds, by key as in
            :meth:`Tracker.log_epoch` (``"loss"``, ``"loss/{term}"``, ``"accuracy"``); entry
            ``e - 1`` is epoch ``e``.
        images: The report's plots by name (``confusion_matrix``, ``per_class``,
            ``training_curves``), PNG files.
        files: The run folder's result files (``report.md``, ``metrics.json``, ``history.csv``,
            the plots, ...), to keep as artifacts.
    """

    metrics: Mapping[str, float]
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)
    images: Mapping[str, Path] = field(default_factory=dict)
    files: Sequence[Path] = ()


@runtime_checkable
class Tracker(Protocol):
    """An experiment tracker (component kind ``tracker``): MLflow, TensorBoard, ...

    The engine calls, in this order: :meth:`start` once; for each fold it trains,
    :meth:`start_fold`, :meth:`log_epoch` after every epoch and :meth:`end_fold`; then
    :meth:`finish` once all folds are done; and :meth:`close` always, last, also when the run
    fails or is interrupted. Folds finished in an earlier, interrupted run are not reported again.
    A tracker that raises ``Exception`` from :meth:`start` stops the run before any data is
    loaded or fold trained: the user asked for tracking that cannot work (the error names the
    tracker and the reason; a :class:`mertk.errors.MertkError` is shown as written, so say the
    fix). One that raises from a later call is warned about once and not called again in that
    run: tracking then never stops or loses a run, whose run folder holds everything.
    """

    def start(self, run: RunStart) -> str | None:
        """The run starts (or resumes, ``run.resumed``): open or continue its record.

        Returns:
            Optionally one line saying where the run is tracked and the command that opens it
            (``"... open it with: tensorboard --logdir /runs/x/tensorboard"``), which the
            engine prints once and writes to ``run.log``.
        """
        ...

    def start_fold(self, index: int, name: str) -> None:
        """Fold ``index`` (0-based; ``name`` from the protocol, e.g. the subject) trains from
        its first epoch. Anything logged for this fold before (a run interrupted inside the fold)
        is stale: a tracker replaces or hides it, so no epoch appears twice."""
        ...

    def log_epoch(self, index: int, epoch: int, values: Mapping[str, float]) -> None:
        """Fold ``index`` finished ``epoch`` (1-based). ``values``: ``loss`` (the weighted total),
        ``loss/{term}`` (each loss term before its weight), ``accuracy`` (training),
        ``lr`` and ``seconds`` (the epoch's duration)."""
        ...

    def end_fold(self, index: int, name: str, metrics: Mapping[str, float]) -> None:
        """Fold ``index`` is tested and saved. ``metrics``: ``test_accuracy``, ``test_n``,
        ``train_size``, ``seconds`` and, for trained models, ``final_loss`` and ``final_accuracy``."""
        ...

    def finish(self, result: RunResult) -> None:
        """Every fold is done: log the run's scores, curves and result files."""
        ...

    def close(self, status: Literal["finished", "failed", "interrupted"]) -> None:
        """Release files and connections; ``status`` says how the run ended."""
        ...


# --------------------------------------------------------------------------- execution


@dataclass(frozen=True)
class TaskFailure:
    """What an executor yields, in place of a result, for a task that raised.

    Attributes:
        error: The exception's type name (``"ValueError"``).
        message: The exception's message.
        traceback: The formatted traceback, for the run log.
        user_error: The exception was a :class:`mertk.errors.MertkError` (a message written for
            the user, shown without its type).
    """

    error: str
    message: str
    traceback: str = ""
    user_error: bool = False

    def __str__(self) -> str:
        return self.message if self.user_error else f"{self.error}: {self.message}"


@dataclass(frozen=True)
class TaskRetry:
    """What an executor may yield, before a task's result, when it runs the task again because the
    worker process (or node) running it died; mertk writes a line to the run log for each
    (``worker died running fold 3/12 beta/s1 (killed by SIGKILL), retrying (1/3)``).

    Optional: an executor that never yields one still works; its retries just leave no trail.

    Attributes:
        attempt: This retry's number, from 1.
        retries: The executor's retry limit (``max_retries``).
        cause: How the worker died, in a few words (``"killed by SIGKILL"``, ``"node 10.0.0.3 died"``).
    """

    attempt: int
    retries: int
    cause: str


@runtime_checkable
class Executor(Protocol):
    """Runs independent tasks here, in worker processes or on a cluster (component kind ``executor``).

    mertk gives it module-level functions (importable by name in any worker), one ``shared``
    object per call (the preprocessed views of a run, its config and how to load its plugins)
    and small picklable tasks (a fold number, a clip). Each task's result depends only on
    ``shared`` and the task, never on where or in which order it ran. Tasks that run at the
    same time must run in separate processes: a fold seeds torch's global random generator.
    """

    def map(self, function: Callable[[Any, Any], Any], shared: Any,
            tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Call ``function(shared, task)`` for every task; yield results as tasks finish.

        Args:
            function: A module-level function (pickled by reference).
            shared: Sent to each worker process or node once, not once per task.
            tasks: The tasks' arguments.

        Yields:
            ``(position in tasks, result)`` in completion order, once per task. A task that
            raised yields a :class:`TaskFailure` as its result; the other tasks still run.
            A task whose worker died is run again, up to the executor's retry limit, then
            yields a :class:`TaskFailure` (with how the worker died, and a traceback where
            there is one, for the run log). Before running a task again an executor may
            yield ``(position, TaskRetry(...))`` to say so; its result still follows.
        """
        ...


# --------------------------------------------------------------------------- optional abilities
#
# A component may have these on top of its kind's interface; mertk tests for each with
# isinstance(component, Protocol), so leaving one out is fine. ABILITIES lists them with the
# kinds they apply to; docs/plugins/contracts.md's table is generated from it
# (docs/_hooks/abilities.py).


@runtime_checkable
class UsesDevice(Protocol):
    """The extractor computes on its inputs' device (like ``torch-tvl1``): with
    ``preprocess.device: auto`` on a CUDA machine, or ``cuda``, the flow of up to
    ``preprocess.batch_size`` clips runs as one batch on the GPU. Set ``uses_device = True``."""

    uses_device: bool


@runtime_checkable
class ReadsFrames(Protocol):
    """The selector reads the aligned grey clip ``(T, 1, A, A)`` (onset to offset) instead of the
    encoded flow image (like ``lbp-top``); the clip is then cached too. Set ``source = "frames"``
    (see :func:`view_source`)."""

    source: str


@runtime_checkable
class SizedView(Protocol):
    """The side ``S`` of the selector's ``(C, S, S)`` view, used to shape empty results."""

    size: int


@runtime_checkable
class DrawsOrigin(Protocol):
    """Which rectangle of the ``(H, W)`` aligned image each rectangle of the ``(S, S)`` view was
    resampled from (``full-face``: one piece, the whole image; ``hars``: one strip per region
    box); ``mertk explain`` uses it to draw the view's maps on the face and outline its regions,
    else it draws them on the view."""

    def origin(self, landmarks: np.ndarray, shape: tuple[int, int]) -> list[ViewPiece]:
        """The view's pieces for a face with these ``(68, 2)`` landmarks in an ``(H, W)`` image."""
        ...


@runtime_checkable
class Fitted(Protocol):
    """The model is fitted on the training fold once instead of trained by gradient descent (like
    ``linear-svm``), then predicts through ``forward``; it never stacks."""

    def fit(self, views: Mapping[str, Any], labels: Any) -> Any:
        """Fit on the training fold's views ``{name: (N, C, S, S)}`` and ``(N,)`` int64 labels."""
        ...


@runtime_checkable
class SpatialMap(Protocol):
    """The last spatial attention map ``(B, 1, h, w)``; the ``dual-atme`` model copies it into its
    output's ``maps`` (``upper_attention``), which ``mertk explain`` draws."""

    spatial_map: Any


@runtime_checkable
class ChecksArguments(Protocol):
    """A static or class method of the factory, called when a config is checked with the
    component's arguments from the config (not those mertk supplies at run time); it raises
    ``mertk.errors.ArgumentError(argument, message)`` for what a signature cannot express, e.g.
    arguments passed on to another library (the ``timm`` backbone checks its ``kwargs`` against
    the timm model this way); the error is reported at that argument's key."""

    def check_arguments(self, **arguments: Any) -> None:
        """Raise ``ArgumentError`` for a bad argument."""
        ...


@runtime_checkable
class LocalExecutor(Protocol):
    """The executor runs only on this machine: preprocessing then uses mertk's own forked workers
    (``preprocess.workers``) instead of one task per clip through ``map``. Set ``local = True``."""

    local: bool


@runtime_checkable
class DescribedExecutor(Protocol):
    """One line saying where tasks run, written to ``run.log`` and ``environment.json``."""

    def describe(self) -> str:
        """Where tasks run, in words."""
        ...


@runtime_checkable
class ClosableExecutor(Protocol):
    """Called when the command is done (the ``ray`` executor shuts down a Ray it started)."""

    def close(self) -> None:
        """Release what the executor started."""
        ...


@runtime_checkable
class StartableExecutor(Protocol):
    """Starts its worker processes before the tasks exist, so that their start-up (importing
    torch) overlaps the driver's data loading (the ``local`` pool). mertk calls ``start`` once the
    first run's folder is opened and locked, before its data loads; :meth:`Executor.map` then uses
    the started workers, and ``close()`` stops them if no task came (a run refused on its data)."""

    def start(self, prepare: Callable[[], Any] | None = None) -> None:
        """Start the workers now; each calls ``prepare`` (a module-level function: the imports a
        task would otherwise pay for on its first call) once. Calling it again does nothing."""
        ...


@runtime_checkable
class CannotStack(Protocol):
    """The component cannot be trained with its folds stacked (``train.stack_folds``): ``mertk
    config check`` refuses an explicit stack size naming the component and the reason, and
    ``auto`` trains one fold after another, saying why in the run log (like ``timm`` with a
    ``drop_rate``). On the factory: a reason (str), or a static function of the component's
    config arguments returning one or ``None``."""

    cannot_stack: str | Callable[[Mapping[str, Any]], str | None]


@runtime_checkable
class LossTargets(Protocol):
    """The targets the loss takes: ``"classes"`` (``(B,)`` int64), ``"multi-label"`` (``(B, K)``
    float, like ``bce``) or ``"any"`` (the loss reads no target, like ``similarity``). A config
    whose loss takes other targets than its task makes is refused, naming the loss and the task.
    On the factory; a loss factory without it is taken for ``"classes"``."""

    targets: str


class Ability(NamedTuple):
    """An optional ability: its protocol, the kinds that may have it, and where it goes."""

    protocol: type
    kinds: tuple[str, ...]
    on: Literal["component", "factory"] = "component"


#: Every optional ability, in the order the contracts page lists them.
ABILITIES: tuple[Ability, ...] = (
    Ability(UsesDevice, ("flow_extractor",)),
    Ability(ReadsFrames, ("roi_selector",)),
    Ability(SizedView, ("roi_selector",)),
    Ability(DrawsOrigin, ("roi_selector",)),
    Ability(Fitted, ("model",)),
    Ability(SpatialMap, ("attention",)),
    Ability(ChecksArguments, ("any",), "factory"),
    Ability(LocalExecutor, ("executor",)),
    Ability(DescribedExecutor, ("executor",)),
    Ability(ClosableExecutor, ("executor",)),
    Ability(StartableExecutor, ("executor",)),
    Ability(CannotStack, ("model", "backbone", "attention", "loss"), "factory"),
    Ability(LossTargets, ("loss",), "factory"),
)


def is_stacked(tensor: "torch.Tensor") -> bool:  # noqa: F821
    """``True`` when ``tensor`` is one model's share of a stacked computation.

    With ``train.stack_folds`` mertk trains several folds' models at once: their weights are
    stacked on a leading fold axis and one :func:`torch.func.vmap` call runs the model's
    ``forward`` for all of them, so inside ``forward`` every tensor is a per-fold view of a
    stacked one. Layers that bypass torch's operators for speed (memory-format tricks, custom
    :class:`torch.autograd.Function` without a vmap rule) ask this to take their plain torch
    path, or a path written for the stacked layout, instead. A stackable model keeps all its
    per-fold state in parameters and buffers, draws randomness only through ``nn.Dropout``
    modules and runs under :func:`torch.func.vmap` (every operator it uses has a batching
    rule, as almost all of torch's do).
    """
    import torch

    # torch has no public test for a vmap-batched tensor; this is the one torch.func itself uses
    return bool(torch._C._functorch.is_batchedtensor(tensor))  # noqa: SLF001


def __getattr__(name: str) -> Any:
    if name == "Protocol_":  # the name before 0.2
        import warnings

        warnings.warn("mertk.api.Protocol_ is deprecated and will be removed in mertk 0.3; use "
                      "mertk.api.EvaluationProtocol", DeprecationWarning, stacklevel=2)
        return EvaluationProtocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
