"""Progress bars that stay readable in log files.

On a terminal the bar redraws in place; redirected to a file (a batch job, CI) every redraw
would be a new line, so there it updates at most every 30 s.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(**kwargs: Any) -> tqdm:
    """A ``tqdm`` bar on stderr with a redraw interval suited to where stderr goes."""
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if interactive else 30.0)
    return tqdm(**kwargs)
