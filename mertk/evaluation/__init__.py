"""Evaluation protocols (LOSO, LODO, k-fold) and MEGC metrics (:func:`mertk.evaluation.metrics.evaluate`)."""
