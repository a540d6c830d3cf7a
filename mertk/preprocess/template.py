"""A mean-face template of the 68 iBUG landmarks, for aligned crops that come without landmarks.

Precomputed flow images and official aligned crops have no landmarks; ROI selectors then use this
template scaled to the image. The coordinates are the mean of dlib's 68 landmarks over the faces
dlib finds in ``skimage.data.lfw_subset()`` (upscaled 4x) and ``skimage.data.astronaut()`` (93
faces), each levelled and scaled by :func:`mertk.preprocess.align.alignment_matrix` so that the
landmark box's longer side spans ``[0, 1]``; :func:`compute_template` recomputes them.
"""

from __future__ import annotations

import torch

__all__ = ["TEMPLATE", "template_landmarks", "compute_template"]

#: ``(x, y)`` per landmark, the landmark box's longer side being 1.
TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.008, 0.207), (0.010, 0.329), (0.021, 0.451), (0.042, 0.574), (0.082, 0.690), (0.148, 0.797),
    (0.234, 0.886), (0.338, 0.956), (0.469, 0.976), (0.602, 0.962), (0.718, 0.901), (0.817, 0.816),
    (0.896, 0.712), (0.946, 0.594), (0.972, 0.468), (0.987, 0.340), (0.995, 0.211), (0.090, 0.103),
    (0.142, 0.048), (0.221, 0.031), (0.306, 0.038), (0.382, 0.070), (0.546, 0.068), (0.631, 0.036),
    (0.721, 0.029), (0.807, 0.051), (0.868, 0.107), (0.463, 0.166), (0.460, 0.246), (0.457, 0.326),
    (0.454, 0.409), (0.366, 0.469), (0.411, 0.488), (0.460, 0.501), (0.511, 0.487), (0.559, 0.471),
    (0.181, 0.186), (0.230, 0.156), (0.292, 0.156), (0.345, 0.192), (0.289, 0.204), (0.229, 0.204),
    (0.597, 0.192), (0.651, 0.156), (0.714, 0.156), (0.766, 0.186), (0.717, 0.204), (0.657, 0.203),
    (0.286, 0.636), (0.346, 0.597), (0.413, 0.581), (0.463, 0.592), (0.517, 0.582), (0.591, 0.599),
    (0.661, 0.639), (0.595, 0.706), (0.520, 0.734), (0.463, 0.738), (0.409, 0.732), (0.342, 0.704),
    (0.313, 0.638), (0.412, 0.622), (0.463, 0.627), (0.517, 0.624), (0.632, 0.641), (0.518, 0.675),
    (0.461, 0.680), (0.411, 0.673),
)


def template_landmarks(size: int, margin: float = 0.15) -> torch.Tensor:
    """``(68, 2)`` template landmarks in a ``size x size`` aligned crop with ``margin``
    (the same geometry :func:`mertk.preprocess.align.alignment_matrix` produces).

    Examples:
        >>> from mertk.preprocess.template import template_landmarks
        >>> points = template_landmarks(64)
        >>> points.shape, points.dtype
        (torch.Size([68, 2]), torch.float32)
    """
    t = torch.tensor(TEMPLATE, dtype=torch.float32)
    return (size - 1) / 2 + (t - 0.5) * (size / (1 + 2 * margin))


def compute_template() -> torch.Tensor:
    """Recompute :data:`TEMPLATE` with dlib (HOG upsampled once, 68-point predictor): ``(68, 2)``."""
    import cv2
    import numpy as np
    import skimage.data

    from mertk.preprocess.align import alignment_matrix, transform_points
    from mertk.preprocess.faces import DlibHog, DlibLandmarks68

    detect, place = DlibHog(upsample=1), DlibLandmarks68()
    faces = [cv2.resize(np.clip(f * 255, 0, 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
             for f in skimage.data.lfw_subset()] + [skimage.data.astronaut()]
    found = []
    for face in faces:
        boxes = detect(face)
        if boxes:
            lm = torch.from_numpy(place(face, boxes[0]))
            found.append(transform_points(lm, alignment_matrix(lm, 1001, margin=0.0)) / 1000)
    return torch.stack(found).mean(0)
