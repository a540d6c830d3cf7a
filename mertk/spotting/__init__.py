"""Spotting in long videos from the command line: ``mertk spot CONFIG`` (LOSO evaluation with a run
folder) and ``mertk analyze VIDEO`` (spot, then classify each interval with a recognition model).

The parts they use live elsewhere: the long-video datasets in :mod:`mertk.data`, the spotters in
:mod:`mertk.preprocess`, the MEGC metric in :mod:`mertk.evaluation.intervals`, the run folder, its
lock and fingerprint in :mod:`mertk.engine`.
"""
