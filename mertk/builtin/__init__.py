"""mertk.builtin."""
