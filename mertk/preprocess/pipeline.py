"""The preprocessing pipeline: samples -> model input views, cached per clip.

For each clip: read the onset and apex frames (all frames when the apex must be spotted), find
the face and 68 landmarks on the detection frame, align every frame with one transform, pick the
apex (annotation, else the spotter), compute the optical flow onset -> apex on the aligned grey
faces, and cache ``{flow, face, landmarks, record}``. Then, for all kept clips, encode the flows
(u, v, strain, ...) and apply each view's ROI selector.

Samples with ``flow_image`` set (precomputed flow from a manifest) skip alignment and flow: the
PNG's channels are reordered to the configured encoding, and the landmarks come from
:func:`mertk.preprocess.crops.flow_landmarks`: a supplied landmarks file, else the face and
landmark detectors run on the sample's face crop (``face_image``, the whole crop as the face
box when they find no face; cached per crop), mapped into the flow image's pixels; a mean-face
template only when the sample has neither (with a warning). Every record says which in
``landmarks_source`` (``detected``, ``whole-crop``, ``supplied``, ``template``; clips from
frames are ``detected``).

A view whose selector has ``source = "frames"`` reads the aligned grey clip instead of the flow
image: its selector is called with ``(T, 1, A, A)`` frames in ``[0, 1]`` (onset to offset, the
whole clip when the offset is unknown) and the landmarks. The clip is then cached too (as
``uint8``; the cache folder differs from the flow-only one), and precomputed flow images, which
have no frames, cannot feed such a view.

CPU path: clips are processed by ``workers`` forked processes, flow included. CUDA path (flow
extractors with ``uses_device = True`` such as ``torch-tvl1``, with ``device: auto`` on a machine
with CUDA, or ``device: cuda``): workers read and align, and the flow of up to ``batch_size``
clips runs as one batch on the GPU. With an executor that is not ``local`` (``ray``), each
uncached clip is a task instead (:func:`clip_task`, on whatever device the worker has), and this
process writes each result to the same cache as it arrives.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.pool
import signal
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import torch

from mertk.api import Problem, Sample, TaskFailure, TaskRetry, view_source
from mertk.cpus import available_cpus
from mertk.data.problems import stop_on_fatal
from mertk.errors import MertkError, PluginError
from mertk.plugins import PluginRecipe, plugin_recipe
from mertk.preprocess.align import alignment_matrix, transform_points, warp_frames
from mertk.preprocess.cache import ClipCache
from mertk.preprocess.crops import CropCache, flow_landmarks, landmark_warning
from mertk.preprocess.encoding import encode
from mertk.preprocess.errors import ClipError
from mertk.preprocess.faces import WholeFrame
from mertk.preprocess.frames import clip_length, read_frames
from mertk.preprocess.settings import PreprocessSettings
from mertk.progress import progress_bar
from mertk.registry import Components
from mertk.writable import check_writable_dir

__all__ = ["Prepared", "Stages", "prepare", "ClipJob", "clip_task"]


@dataclass
class Prepared:
    """What :func:`prepare` returns for the samples that made it through, in input order.

    Attributes:
        sample_ids: Ids of the kept samples.
        views: View name -> ``(N, C, S, S)`` float32 in ``[0, 1]`` (raw scale with
            ``encoding.normalize: none``).
        records: Per kept sample: ``face_method``, ``face_box``, ``onset``, ``apex``,
            ``apex_source`` (``annotation``, ``spotter`` or ``precomputed``), ``detect_frame``,
            ``frames`` (clip length), ``source``, ``landmarks_source`` (``detected``,
            ``whole-crop``, ``supplied`` or ``template``).
        problems: Every skipped sample (``fatal=True``) and warning (``fatal=False``).
        landmarks: ``(N, 68, 2)`` landmarks in the aligned face frame (for precomputed flow
            images, in that image's frame; see ``landmarks_source``).
        faces: ``(N, 1, A, A)`` aligned apex faces (grey, ``[0, 1]``); zeros for precomputed
            flow images; ``None`` when no sample has a face.
        flows: ``(N, 2, A, A)`` raw flow ``(u, v)`` in aligned pixels (zeros for precomputed
            flow images), for previews; ``None`` when no sample has one.
    """

    sample_ids: list[str]
    views: dict[str, torch.Tensor]
    records: list[dict]
    problems: list[Problem]
    landmarks: torch.Tensor
    faces: torch.Tensor | None
    flows: torch.Tensor | None = None


@dataclass
class Stages:
    """The built components of one preprocessing configuration.

    ``specs`` are the validated specs of the stages whose output is cached (their digest names
    the cache folder).
    """

    settings: PreprocessSettings
    face: Any
    landmarks: Any
    spotter: Any
    flow: Any
    views: dict[str, Any]
    device: torch.device
    specs: dict[str, Any] = field(default_factory=dict)

    @property
    def clip(self) -> bool:
        """Some view reads the aligned frames (``source = "frames"``), so clips are kept."""
        return "clip" in self.specs

    @classmethod
    def build(cls, settings: PreprocessSettings, components: Components, config_file: str = "<config>") -> Stages:
        """Validate and build every stage's component (``preprocess.<field>`` in errors)."""
        def spec(kind: str, value: Any, key: str) -> dict[str, Any]:
            return components.validate(kind, value, file=config_file, key=f"preprocess.{key}")

        specs = {
            "face_detector": spec("face_detector", settings.face_detector, "face_detector"),
            "landmark_detector": spec("landmark_detector", settings.landmark_detector, "landmark_detector"),
            # keyed "spotter" as before the kind was renamed apex_spotter: the key is hashed into the
            # cache folder's name, and the cached clips are the same
            "spotter": spec("apex_spotter", settings.apex_spotter, "apex_spotter"),
            "flow": spec("flow_extractor", settings.flow, "flow"),
            "detect_on": settings.detect_on,
            "align": settings.align.model_dump(),
        }
        build = components.build
        flow = build("flow_extractor", specs["flow"], file=config_file, key="preprocess.flow")
        device = settings.device
        if device == "cuda" and not torch.cuda.is_available():
            raise MertkError(f"{config_file}: preprocess.device: cuda, but no CUDA device is available. "
                             "Fix: set preprocess.device: cpu (or auto)")
        if device == "auto":  # the GPU path only pays for flow extractors that run on their input's device
            device = "cuda" if torch.cuda.is_available() and getattr(flow, "uses_device", False) else "cpu"
        views = {name: build("roi_selector", s, file=config_file, key=f"preprocess.views.{name}")
                 for name, s in settings.views.items()}
        if any(view_source(v) == "frames" for v in views.values()):
            specs["clip"] = "onset-offset"
        return cls(
            settings=settings,
            face=build("face_detector", specs["face_detector"], file=config_file, key="preprocess.face_detector"),
            landmarks=build("landmark_detector", specs["landmark_detector"], file=config_file,
                            key="preprocess.landmark_detector"),
            spotter=build("apex_spotter", specs["spotter"], file=config_file, key="preprocess.apex_spotter"),
            flow=flow,
            views=views,
            device=torch.device(device),
            specs=specs,
        )


# --------------------------------------------------------------------------- one clip


@dataclass
class _Front:
    """A clip read and aligned: the onset/apex pair plus what is cached besides the flow."""

    first: torch.Tensor  # (1, A, A)
    second: torch.Tensor  # (1, A, A)
    landmarks: torch.Tensor  # (68, 2), aligned frame
    record: dict[str, Any]
    clip: torch.Tensor | None = None  # (T, 1, A, A) onset..offset, when a view reads frames


def _read_and_align(sample: Sample, stages: Stages) -> _Front:
    """Read, detect, align and pick the apex of one clip."""
    settings = stages.settings
    n = clip_length(sample)
    if n == 0:
        raise ClipError(sample.video or "<dataset>", sample.id, "the clip has no frames",
                        "check the clip's folder or video")
    onset = sample.onset if sample.onset is not None else 0
    spotted = sample.apex is None
    positions = list(range(n)) if spotted else [onset, sample.apex]
    if stages.clip:
        last = sample.offset if sample.offset is not None else n - 1
        clip_positions = list(range(onset, max(last, onset) + 1))
        positions = sorted(set(positions) | set(clip_positions))
    detect_pos = sample.apex if settings.detect_on == "apex" and not spotted else onset
    frames = read_frames(sample, positions)
    image = frames[positions.index(detect_pos)]
    where = sample.frames[detect_pos] if sample.frames else sample.video

    boxes = stages.face(image)
    if not boxes:
        raise ClipError(where, sample.id, "no face found on the detection frame",
                        "for cropped face releases use preprocess.face_detector: whole-frame (or the default "
                        "dlib-auto)")
    box = boxes[0]
    raw_landmarks = torch.from_numpy(np.asarray(stages.landmarks(image, box), dtype=np.float32))
    size = settings.align.size
    matrix = alignment_matrix(raw_landmarks, size, settings.align.margin, settings.align.rotate)
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.ndim == 3 else f for f in frames])
    aligned = warp_frames(torch.from_numpy(grey)[:, None].float() / 255, matrix, size).clamp(0, 1)

    if spotted:
        apex = int(stages.spotter(aligned, onset))
        if not 0 <= apex < n:
            raise ClipError(where, sample.id, f"the spotter returned apex {apex}, outside the clip of {n} frames",
                            "use another preprocess.apex_spotter")
    else:
        apex = sample.apex
    record = {
        "face_method": box.method or type(stages.face).__name__,
        "face_box": [float(box.left), float(box.top), float(box.right), float(box.bottom)],
        "onset": onset, "apex": apex, "apex_source": "spotter" if spotted else "annotation",
        "detect_frame": str(where), "frames": n, "source": "video" if sample.video and not sample.frames else "frames",
        "landmarks_source": "detected",
        # the detectors before whole-frame in a chain (dlib-auto) found no face: say so, it may be no face at all
        "face_fallback": box.method == "whole-frame" and not isinstance(stages.face, WholeFrame),
    }
    clip = aligned[[positions.index(p) for p in clip_positions]] if stages.clip else None
    return _Front(first=aligned[positions.index(onset)], second=aligned[positions.index(apex)],
                  landmarks=transform_points(raw_landmarks, matrix), record=record, clip=clip)


def _flow_entries(fronts: Sequence[_Front], stages: Stages) -> list[dict[str, Any]]:
    """Flow for a batch of aligned pairs, on the stages' device -> cache entries."""
    first = torch.stack([f.first for f in fronts]).to(stages.device)
    second = torch.stack([f.second for f in fronts]).to(stages.device)
    with torch.inference_mode():
        flows = stages.flow(first, second).float().cpu()
    entries = [{"flow": flow.clone(), "face": (f.second * 255).round().to(torch.uint8),
                "landmarks": f.landmarks, "record": f.record} for f, flow in zip(fronts, flows)]
    for f, entry in zip(fronts, entries):
        if f.clip is not None:
            entry["clip"] = (f.clip * 255).round().to(torch.uint8)
    return entries


# --------------------------------------------------------------------------- workers

_WORKER_STAGES: Stages | None = None  # inherited by forked workers


def _default_sigterm() -> None:
    """In a forked worker: SIGTERM ends the process again. The fork copies the parent's Python
    handlers (mertk's, or one a library such as Ray set), and a worker that handles SIGTERM instead
    of dying leaves ``Pool.terminate`` waiting for it forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _fork_pool(processes: int) -> multiprocessing.pool.Pool:
    """Forked workers with one thread each. The thread counts are lowered in the parent around
    the fork: calling ``cv2.setNumThreads`` in a forked child deadlocks on the parent's pool."""
    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        return multiprocessing.get_context("fork").Pool(processes, initializer=_default_sigterm)
    finally:
        torch.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])


def _whole_clip(sample: Sample) -> dict[str, Any] | Problem:
    try:
        return _flow_entries([_read_and_align(sample, _WORKER_STAGES)], _WORKER_STAGES)[0]
    except ClipError as exc:
        return exc.problem


def _front_only(sample: Sample) -> _Front | Problem:
    try:
        return _read_and_align(sample, _WORKER_STAGES)
    except ClipError as exc:
        return exc.problem


def _compute(samples: Sequence[Sample], stages: Stages, workers: int) -> Iterator[tuple[int, dict | Problem]]:
    """Yield ``(position in samples, cache entry or Problem)`` as clips finish."""
    global _WORKER_STAGES
    _WORKER_STAGES = stages
    on_cpu = stages.device.type == "cpu"
    task = _whole_clip if on_cpu else _front_only
    pool = None
    if workers > 1 and len(samples) > 1:
        pool = _fork_pool(min(workers, len(samples)))
        results = pool.imap(task, samples)
    else:
        results = map(task, samples)
    try:
        if on_cpu:
            yield from enumerate(results)
            return
        batch: list[tuple[int, _Front]] = []
        for i, front in enumerate(results):
            if isinstance(front, Problem):
                yield i, front
            else:
                batch.append((i, front))
            if batch and (len(batch) == stages.settings.batch_size or i == len(samples) - 1):
                entries = _flow_entries([f for _, f in batch], stages)
                yield from ((j, e) for (j, _), e in zip(batch, entries))
                batch = []
    finally:
        _WORKER_STAGES = None
        if pool is not None:
            pool.terminate()


# --------------------------------------------------------------------------- on an executor


@dataclass
class ClipJob:
    """What a worker of an executor needs to preprocess clips; sent to each worker once.

    Attributes:
        key: Unique id of the job (workers keep the stages built from it under this key).
        settings: The config's ``preprocess`` section.
        plugins: How to load the run's plugins in another process, or why that is impossible.
        config_file: Config file name for error messages.
    """

    key: str
    settings: PreprocessSettings
    plugins: PluginRecipe | str
    config_file: str


_JOB_STAGES: collections.OrderedDict[str, Stages] = collections.OrderedDict()  # per worker process


def clip_task(job: ClipJob, sample: Sample) -> dict[str, Any] | Problem:
    """Preprocess one clip in a worker: its cache entry, or the :class:`Problem` that stops it."""
    stages = _JOB_STAGES.get(job.key)
    if stages is None:
        if isinstance(job.plugins, str):
            raise PluginError(job.plugins)
        stages = _JOB_STAGES[job.key] = Stages.build(job.settings, job.plugins.load(), job.config_file)
        while len(_JOB_STAGES) > 2:
            _JOB_STAGES.popitem(last=False)
    return next(_compute([sample], stages, workers=1))[1]


def _compute_on(executor: Any, samples: Sequence[Sample], settings: PreprocessSettings, components: Components,
                config_file: str) -> Iterator[tuple[int, dict | Problem]]:
    """:func:`_compute` with one task per clip on ``executor``, results in completion order."""
    try:
        plugins: PluginRecipe | str = plugin_recipe(components)
    except PluginError as exc:
        plugins = str(exc)
    job = ClipJob(uuid.uuid4().hex, settings, plugins, config_file)
    results = executor.map(clip_task, job, list(samples))
    try:
        for i, outcome in results:
            if isinstance(outcome, TaskRetry):
                print(f"worker died preprocessing sample {samples[i].id} ({outcome.cause}), retrying "
                      f"({outcome.attempt}/{outcome.retries})", file=sys.stderr, flush=True)
                continue
            if isinstance(outcome, TaskFailure):
                raise MertkError(f"{config_file}: preprocessing sample {samples[i].id} failed: {outcome}")
            yield i, outcome
    finally:
        close = getattr(results, "close", None)
        if callable(close):
            close()


# --------------------------------------------------------------------------- precomputed flow


def _read_flow_image(sample: Sample, channels: Sequence[str]) -> torch.Tensor:
    """Read a precomputed flow PNG into the configured channel order: ``(C, H, W)`` in ``[0, 1]``."""
    raw = cv2.imread(str(sample.flow_image), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ClipError(sample.flow_image, sample.id, "cannot read the flow image", "restore the file")
    scale = 65535.0 if raw.dtype == np.uint16 else 255.0
    raw = raw[..., None] if raw.ndim == 2 else cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    stored = list(sample.meta.get("flow_channels", ["u", "v", "strain"]))
    if len(stored) != raw.shape[-1]:
        raise ClipError(sample.flow_image, sample.id, f"the image has {raw.shape[-1]} channels but the manifest "
                        f"names {len(stored)} ({', '.join(stored)})", "fix flow_channels in the manifest")
    missing = [c for c in channels if c not in stored]
    if missing:
        raise ClipError(sample.flow_image, sample.id, f"the precomputed flow has no {missing[0]!r} channel (it "
                        f"has {', '.join(stored)})", "set preprocess.encoding.channels to channels it has")
    image = torch.from_numpy(raw.astype(np.float32) / scale).permute(2, 0, 1)
    return image[[stored.index(c) for c in channels]]


def _flow_image_entry(sample: Sample, stages: Stages, crops: CropCache) -> dict[str, Any]:
    """A precomputed flow image's entry: ``image`` ``(C, H, W)``, ``landmarks`` ``(68, 2)`` in its
    pixels (see :func:`mertk.preprocess.crops.flow_landmarks`) and ``record``."""
    image = _read_flow_image(sample, stages.settings.encoding.channels)
    found = flow_landmarks(sample, tuple(image.shape[-2:]), stages, crops)
    box = found.box
    record = {"face_method": box.method if box else None, "face_box": [float(v) for v in box[:4]] if box else None,
              "onset": sample.onset, "apex": sample.apex, "apex_source": "precomputed",
              "detect_frame": str(sample.face_image) if box else None, "frames": 0, "source": "flow_image",
              "landmarks_source": found.source}
    return {"image": image, "landmarks": found.points, "record": record}


def _warnings(sample: Sample, record: dict[str, Any]) -> list[Problem]:
    """Non-fatal problems of a kept sample: zero flow, no face found (the whole frame taken instead),
    landmarks not detected on a face."""
    problems = []
    if record["apex"] is not None and record["apex"] == record["onset"] and record["source"] != "flow_image":
        problems.append(Problem(file=record["detect_frame"] or "<dataset>", sample=sample.id, fatal=False,
                                message="the apex is the onset frame, so the flow is zero",
                                fix="check the clip's onset/apex annotation"))
    if record.get("face_fallback"):
        problems.append(Problem(file=record["detect_frame"], sample=sample.id, fatal=False,
                                message="no face detector found a face on the detection frame, so the whole frame "
                                        "was taken as the face (the last detector of preprocess.face_detector)",
                                fix="right for a release of cropped faces; otherwise check the clip, or use a "
                                    "face_detector without whole-frame (e.g. dlib-hog) so that such clips are "
                                    "skipped or stop the run (on_error)"))
    warning = landmark_warning(record) if record["source"] == "flow_image" else None
    if warning is not None:
        file = sample.face_image or sample.meta.get("file") or sample.flow_image
        problems.append(Problem(file=str(file), sample=sample.id, fatal=False, message=warning[0], fix=warning[1],
                                row=None if sample.face_image else sample.meta.get("row")))
    return problems


# --------------------------------------------------------------------------- all samples


def _check_cache_writable(samples: Sequence[Sample], cache: ClipCache, config_file: str) -> None:
    """Refuse an enabled cache that cannot be written, before any clip is computed; a cache that
    already holds every clip may be read-only (a shared, precomputed one). Precomputed flow images
    count as uncached (their face crops' detections are cached on first use)."""
    if not cache.enabled:
        return
    if all((s.frames or s.video is not None) and cache.path(s).is_file() for s in samples):
        return
    check_writable_dir(cache.folder, what="the preprocessing cache",
                       fix=f"set preprocess.cache_dir in {config_file} (or $MERTK_CACHE) to a folder you can write, "
                       "or preprocess.cache: false")


def prepare(samples: Sequence[Sample], settings: PreprocessSettings, components: Components, *,
            on_error: Literal["stop", "skip"] = "stop", progress: bool = True,
            config_file: str = "<config>", executor: Any = None) -> Prepared:
    """Preprocess ``samples`` into model input views, using and filling the per-clip cache.

    Args:
        samples: Samples from a dataset adapter.
        settings: The config's ``preprocess`` section.
        components: Registries to build the stages from (``preprocess.<field>`` specs).
        on_error: ``stop``: every clip is still processed (good ones are cached), then one
            error lists every bad clip; ``skip``: bad clips are left out and listed in
            ``problems``.
        progress: Show a tqdm progress bar.
        config_file: Config file name for error messages.
        executor: Where uncached clips are computed: ``None`` or a ``local`` executor (one with
            ``local = True``): ``settings.workers`` forked processes here; another executor
            (``ray``): one task per clip on it.

    Raises:
        DataError: with ``on_error="stop"`` and at least one bad clip, naming each sample, file
            and fix; its ``problems`` holds every problem met.
        MertkError: the cache is on and cannot be written (checked before any clip is computed).
    """
    stages = Stages.build(settings, components, config_file)
    cache = ClipCache(settings.cache_dir, stages.specs, enabled=settings.cache)
    crops = CropCache(settings.cache_dir, {"crop_landmarks": {k: stages.specs[k] for k in
                                                              ("face_detector", "landmark_detector")}},
                      enabled=settings.cache)
    _check_cache_writable(samples, cache, config_file)
    entries: dict[int, dict[str, Any]] = {}
    problems: list[Problem] = []
    todo: list[int] = []

    fail = problems.append

    for i, sample in enumerate(samples):
        if sample.flow_image is not None and not sample.frames and sample.video is None:
            if stages.clip:
                frames_views = [n for n, v in stages.views.items() if view_source(v) == "frames"]
                fail(Problem(file=str(sample.flow_image), sample=sample.id, message=f"view {frames_views[0]!r} "
                             "reads the aligned frames, but this sample is a precomputed flow image",
                             fix="list the clip's frames (or video) instead, or remove that view"))
                continue
            try:
                entries[i] = _flow_image_entry(sample, stages, crops)
            except ClipError as exc:
                fail(exc.problem)
        elif (hit := cache.load(sample)) is not None:
            entries[i] = hit
        else:
            todo.append(i)

    bar = progress_bar(total=len(todo), desc="preprocess", unit="clip", disable=not progress or not todo)
    pending = [samples[i] for i in todo]
    if executor is None or getattr(executor, "local", False):
        results = _compute(pending, stages, settings.workers or available_cpus().count)
    else:
        results = _compute_on(executor, pending, settings, components, config_file)
    try:
        for j, result in results:
            i = todo[j]
            bar.update()
            if isinstance(result, Problem):
                fail(result)
                continue
            cache.save(samples[i], result)
            entries[i] = result
    finally:
        results.close()  # a stop on a bad clip ends the workers' other clips too
        bar.close()

    kept = sorted(entries)
    for i in kept:
        entries[i]["record"].setdefault("landmarks_source", "detected")  # clips cached before the field existed
        problems.extend(_warnings(samples[i], entries[i]["record"]))
    stop_on_fatal(problems, on_error)
    return _assemble([samples[i].id for i in kept], [entries[i] for i in kept], stages, problems)


def _assemble(ids: list[str], entries: list[dict[str, Any]], stages: Stages, problems: list[Problem]) -> Prepared:
    """Encode the flows, apply the views and stack everything."""
    enc = stages.settings.encoding
    with_flow = [k for k, e in enumerate(entries) if "flow" in e]
    images: list[torch.Tensor | None] = [e.get("image") for e in entries]
    flows = faces = None
    if with_flow:
        flow = torch.stack([entries[k]["flow"] for k in with_flow])
        encoded = encode(flow, enc.channels, enc.normalize)
        for k, image in zip(with_flow, encoded):
            images[k] = image
        size = flow.shape[-1]
        flows = torch.zeros(len(entries), 2, size, size)
        faces = torch.zeros(len(entries), 1, size, size)
        for k in with_flow:
            flows[k] = entries[k]["flow"]
            faces[k] = entries[k]["face"].float() / 255
    landmarks = [e["landmarks"].float() for e in entries]
    def source(entry: dict[str, Any], image: torch.Tensor, selector: Any) -> torch.Tensor:
        return entry["clip"].float() / 255 if view_source(selector) == "frames" else image

    views = {name: torch.stack([sel(source(e, img, sel), lm) for e, img, lm in zip(entries, images, landmarks)])
             if entries
             else torch.zeros(0, len(enc.channels), getattr(sel, "size", 0), getattr(sel, "size", 0))
             for name, sel in stages.views.items()}
    return Prepared(sample_ids=ids, views={k: v.float().contiguous() for k, v in views.items()},
                    records=[e["record"] for e in entries], problems=problems,
                    landmarks=torch.stack(landmarks) if landmarks else torch.zeros(0, 68, 2),
                    faces=faces, flows=flows)
