"""mertk.evaluation."""
