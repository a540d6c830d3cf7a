"""Frame sources: read the frames of a clip from an image folder or a video file, in colour or grey.

Image folders (``jpg``/``png``/``bmp``) are listed by the dataset adapters in temporal order
(:func:`mertk.data.frames.list_frames`: natural order of frame numbers, gaps allowed) into
``Sample.frames``; positions (``Sample.onset``/``apex``) index that list, not the frame numbers.
Videos are read with OpenCV; positions are frame indices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from mertk.api import LongVideo, Problem, Sample
from mertk.preprocess.errors import ClipError

__all__ = ["read_image", "clip_length", "read_frames", "stream_frames", "source_files", "used_positions",
           "decode_problems", "recording_problems"]


def read_image(path: str | Path, *, colour: bool = True, sample: str = "") -> np.ndarray:
    """Read one frame as ``(H, W, 3)`` RGB or ``(H, W)`` grey ``uint8``.

    Raises:
        ClipError: the file is missing or not an image, naming the sample and the file.
    """
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError:
        data = np.empty(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE) if data.size else None
    if image is None:
        raise ClipError(path, sample, "cannot read this frame (missing or not an image)",
                        "restore the file")
    if _truncated(Path(path).suffix.lower(), data):
        raise ClipError(path, sample, "this frame is truncated (the file ends before the image does; OpenCV "
                        "would fill the rest with grey)", "restore the file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if colour else image


def _truncated(suffix: str, data: np.ndarray) -> bool:
    """Whether a JPEG or PNG file ends before its image does.

    OpenCV decodes such files and invents the missing rows, which would enter the optical flow
    as fake motion; Pillow's decoder notices the missing data (padding after the end marker,
    which some cameras write, is not mistaken for damage).
    """
    if suffix not in (".jpg", ".jpeg", ".png"):
        return False
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as image:
            image.load()
    except OSError:
        return True
    return False


def clip_length(sample: Sample) -> int:
    """Number of frames of the clip (frames listed, or frames in the video)."""
    if sample.frames:
        return len(sample.frames)
    if sample.video is None:
        return 0
    capture = cv2.VideoCapture(str(sample.video))
    try:
        n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if n <= 0:  # some containers do not store the count: count by reading
            while capture.grab():
                n += 1
        return n
    finally:
        capture.release()


def read_frames(sample: Sample, positions: Sequence[int], *, colour: bool = True) -> list[np.ndarray]:
    """Read the frames at ``positions`` (indices into the clip) as RGB or grey ``uint8`` arrays.

    Raises:
        ClipError: a position is outside the clip or a file cannot be read.
    """
    if sample.frames:
        out = []
        for p in positions:
            if not 0 <= p < len(sample.frames):
                raise ClipError(sample.frames[0].parent, sample.id, f"frame position {p} is outside the clip "
                                f"({len(sample.frames)} frames)", "correct the onset/apex in the annotation")
            out.append(read_image(sample.frames[p], colour=colour, sample=sample.id))
        return out
    if sample.video is not None:
        return _read_video(sample, positions, colour)
    raise ClipError("<dataset>", sample.id, "the sample has neither frames nor a video",
                    "check the dataset folder layout")


def _read_video(sample: Sample, positions: Sequence[int], colour: bool) -> list[np.ndarray]:
    wanted = sorted(set(positions))
    found: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(sample.video))
    if not capture.isOpened():
        raise ClipError(sample.video, sample.id, "cannot open the video",
                        "check the file (a codec OpenCV reads?)")
    try:
        index = 0
        while wanted and index <= wanted[-1]:  # read sequentially: seeking is inexact in many codecs
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                found[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB if colour else cv2.COLOR_BGR2GRAY)
            index += 1
    finally:
        capture.release()
    missing = [p for p in positions if p not in found]
    if missing:
        raise ClipError(sample.video, sample.id, f"frame {missing[0]} is beyond the end of the video ({index} "
                        "frames read)", "correct the onset/apex")
    return [found[p] for p in positions]


def stream_frames(video: LongVideo) -> Iterator[np.ndarray]:
    """The grey ``(H, W)`` ``uint8`` frames of a long recording, read one at a time, in order.

    Only the frame being yielded is held, so a recording of any length streams in constant
    memory (a spotter keeps the window it needs, see :class:`mertk.api.Spotter`).

    Raises:
        ClipError: a frame file cannot be read, or the video file cannot be opened (naming the
            recording and the file).
    """
    if video.frames:
        for path in video.frames:
            yield read_image(path, colour=False, sample=video.id)
        return
    capture = cv2.VideoCapture(str(video.video))
    if not capture.isOpened():
        raise ClipError(video.video, video.id, "cannot open the video", "check the file (a codec OpenCV reads?)")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    finally:
        capture.release()


def source_files(sample: Sample) -> list[Path]:
    """The files a sample's pixels come from (for cache keys)."""
    files = list(sample.frames)
    files += [p for p in (sample.video, sample.flow_image) if p is not None]
    return files


def used_positions(sample: Sample, n: int, *, whole_clip: bool = False) -> list[int]:
    """Positions of the frames preprocessing reads from a clip of ``n`` frames.

    The onset, apex and offset; every frame when the apex is left to the spotter (it reads the
    whole clip); onset..offset too when ``whole_clip`` (a view reads the aligned frames).
    """
    onset = sample.onset or 0
    if sample.apex is None:
        return list(range(n))
    wanted = {onset, sample.apex} | ({sample.offset} if sample.offset is not None else set())
    if whole_clip:
        wanted.update(range(onset, (sample.offset if sample.offset is not None else n - 1) + 1))
    return sorted(p for p in wanted if 0 <= p < n)


def decode_problems(sample: Sample, *, whole_clip: bool = False, deep: bool = False) -> list[Problem]:
    """Decode the files a sample's preprocessing will read; one problem per unreadable file.

    Frames preprocessing reads (:func:`used_positions`), a precomputed flow image and a face
    image give fatal problems: the sample cannot be used. With ``deep``, every other frame of
    the clip is decoded too; an unreadable one there is a warning, since preprocessing does not
    read it. Videos are read up to the last frame used (all of it with ``deep``).
    """
    problems: list[Problem] = []

    def check(path: Path, fatal: bool) -> None:
        try:
            read_image(path, colour=False, sample=sample.id)
        except ClipError as exc:
            p = exc.problem
            problems.append(Problem(file=p.file, message=p.message + ("" if fatal else "; preprocessing does not "
                                    "read this frame, but it belongs to the clip"), fix=p.fix, sample=sample.id,
                                    fatal=fatal))

    for path in (sample.flow_image, sample.face_image):
        if path is not None:
            check(Path(path), True)
    if sample.frames:
        used = set(used_positions(sample, len(sample.frames), whole_clip=whole_clip))
        for position, path in enumerate(sample.frames):
            if position in used or deep:
                check(path, position in used)
    elif sample.video is not None:
        n = clip_length(sample)
        positions = list(range(n)) if deep else used_positions(sample, n, whole_clip=whole_clip)
        try:
            read_frames(sample, positions or [0], colour=False)
        except ClipError as exc:
            problems.append(exc.problem)
    return problems


def recording_problems(video: LongVideo, *, deep: bool = False) -> list[Problem]:
    """Decode the frames of a long recording that tell whether a spotter can read it: the first, the
    last and every annotated onset, apex and offset (every frame with ``deep``); all fatal, since a
    spotter reads every frame. A video file is opened and its first frame read (all with ``deep``)."""
    problems: list[Problem] = []
    if video.frames:
        last = len(video.frames) - 1
        wanted = set(range(last + 1)) if deep else {0, last} | {
            p for i in video.intervals for p in (i.onset, i.apex, i.offset) if p is not None and 0 <= p <= last}
        for position in sorted(wanted):
            try:
                read_image(video.frames[position], colour=False, sample=video.id)
            except ClipError as exc:
                problems.append(exc.problem)
        return problems
    frames = stream_frames(video)
    try:
        for _ in frames if deep else [next(frames)]:
            pass
    except StopIteration:
        problems.append(Problem(file=str(video.video), message="the video has no frame", sample=video.id,
                                fix="check the file (a codec OpenCV reads?)"))
    except ClipError as exc:
        problems.append(exc.problem)
    finally:
        frames.close()
    return problems
