"""mertk's version (``mertk.__version__``), from the installed distribution's metadata.

Its own module so that core modules read it without importing the ``mertk`` package's
``__init__``, which imports them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("mertk")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
