"""Registers the built-in components of `mertk.preprocess` through mertk's hooks."""

from __future__ import annotations

from mertk.hookspecs import hookimpl  # noqa: F401
