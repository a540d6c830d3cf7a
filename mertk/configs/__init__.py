"""Bundled run configs (`mertk config show NAME`)."""
