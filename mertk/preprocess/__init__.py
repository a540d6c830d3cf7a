"""mertk.preprocess."""
