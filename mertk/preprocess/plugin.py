"""Registers the built-in components of `mertk.preprocess` through mertk's hooks.

Everything is registered lazily (``"module:attribute"``), and those modules import dlib, OpenCV and
torch only when a component runs (kornia's TV-L1 through :mod:`mertk.preprocess.factories`), so
listing components and checking configs imports none of them.
"""

from __future__ import annotations

from mertk.hookspecs import hookimpl

P = "mertk.preprocess"


@hookimpl
def register_face_detectors(register):
    register("dlib-hog", f"{P}.faces:DlibHog")
    register("dlib-cnn", f"{P}.faces:DlibCnn")
    register("opencv", f"{P}.faces:OpenCVFace")
    register("whole-frame", f"{P}.faces:WholeFrame")
    register("dlib-auto", f"{P}.faces:FallbackChain",
             description="Try dlib HOG, HOG upsampled, dlib CNN, then the whole frame (configurable chain).")


@hookimpl
def register_landmark_detectors(register):
    register("dlib-68", f"{P}.faces:DlibLandmarks68")


@hookimpl
def register_apex_spotters(register):
    register("max-motion", f"{P}.spotting:MaxMotion")
    register("middle", f"{P}.spotting:Middle")


@hookimpl
def register_spotters(register):
    register("strain-peaks", f"{P}.strain_spotter:StrainPeaks")
    register("flow-windows", f"{P}.window_spotter:FlowWindows")


@hookimpl
def register_flow_extractors(register):
    register("tvl1", f"{P}.flow:TVL1")
    register("farneback", f"{P}.flow:Farneback")
    register("dis", f"{P}.flow:DIS")
    register("torch-tvl1", f"{P}.factories:torch_tvl1")


@hookimpl
def register_roi_selectors(register):
    register("full-face", f"{P}.roi:FullFace")
    register("hars", f"{P}.roi:Hars")


@hookimpl
def register_config_sections(register):
    from mertk.preprocess.settings import PreprocessSettings

    register("preprocess", PreprocessSettings)


@hookimpl
def register_commands(cli):
    from mertk.preprocess.cli import preprocess

    cli.add_command(preprocess)
