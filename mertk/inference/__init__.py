"""Use trained models: export/load model artefacts, predict new clips, explain predictions.

* :mod:`mertk.inference.inputs`: video files, frame folders, manifest CSVs -> samples;
* :mod:`mertk.inference.predict`: the run's preprocessing and normalisation, then the model;
* :mod:`mertk.inference.explain`: Grad-CAM per branch and attention maps on the aligned face;
* :mod:`mertk.inference.cli`: ``mertk predict`` and ``mertk explain``.

Model files are written and read by :mod:`mertk.artifact`, which sits below both the engine
(which exports them) and this package (which loads them); its names are re-exported here.
"""

__all__ = ["Artifact", "load_artifact", "save_artifact"]


def __getattr__(name: str):
    if name in __all__:
        from mertk import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
