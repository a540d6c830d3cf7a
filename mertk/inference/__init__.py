"""Use trained models: export/load model artefacts, predict new clips, explain predictions.

* :mod:`mertk.inference.artifact`: ``save_artifact`` / ``load_artifact`` (safetensors + JSON);
* :mod:`mertk.inference.inputs`: video files, frame folders, manifest CSVs -> samples;
* :mod:`mertk.inference.predict`: the run's preprocessing and normalisation, then the model;
* :mod:`mertk.inference.explain`: Grad-CAM per branch and attention maps on the aligned face;
* :mod:`mertk.inference.cli`: ``mertk predict`` and ``mertk explain``.
"""

__all__ = ["Artifact", "load_artifact", "save_artifact"]


def __getattr__(name: str):  # noqa: ANN202 - imported on use: importing torch here would slow every CLI call
    if name in __all__:
        from mertk.inference import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
