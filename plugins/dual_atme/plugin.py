"""Registers the Dual-ATME reference components through mertk's public hooks."""

from __future__ import annotations

from mertk import hookimpl  # noqa: F401
