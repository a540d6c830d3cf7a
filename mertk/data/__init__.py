"""mertk.data."""
