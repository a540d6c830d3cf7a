"""mertk.preprocess: clips -> aligned faces -> optical flow -> model input views, cached per clip.

Modules, in pipeline order (components are registered by :mod:`mertk.preprocess.plugin`):

- :mod:`~mertk.preprocess.frames`: read frames from image folders or videos;
- :mod:`~mertk.preprocess.faces`: face detectors (``dlib-hog``, ``dlib-cnn``, ``opencv``,
  ``whole-frame``, ``dlib-auto``) and the ``dlib-68`` landmark detector;
- :mod:`~mertk.preprocess.align`: one kornia similarity warp per clip;
- :mod:`~mertk.preprocess.spotting`: apex spotters (kind ``apex_spotter``: ``max-motion``, ``middle``);
- :mod:`~mertk.preprocess.flow` (``tvl1``, ``farneback``, ``dis``) and
  :mod:`~mertk.preprocess.tvl1` (``torch-tvl1``): optical flow;
- :mod:`~mertk.preprocess.encoding`: u, v, strain, magnitude channels and normalisation;
- :mod:`~mertk.preprocess.roi` (``full-face``, ``hars``); :mod:`~mertk.preprocess.crops` finds the
  landmarks of precomputed flow images on their face crops, with :mod:`~mertk.preprocess.template`
  landmarks as the last resort;
- :mod:`~mertk.preprocess.cache`, :mod:`~mertk.preprocess.pipeline` (:func:`prepare`),
  :mod:`~mertk.preprocess.preview` and :mod:`~mertk.preprocess.cli` (``mertk preprocess``).

Long videos (spotting): :mod:`~mertk.preprocess.strain_spotter` (the ``strain-peaks`` spotter, built
from the components above), :mod:`~mertk.preprocess.peaks` (signal -> intervals) and
:mod:`~mertk.preprocess.spot` (:func:`~mertk.preprocess.spot.spot_video`, which calls any spotter).
"""
