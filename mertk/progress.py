"""Progress bars that stay readable in log files.

On a terminal the bar redraws in place; redirected to a file (a batch job, CI) every redraw
would be a new line, so there it updates at most every 30 s. Worker processes of an executor set
``MERTK_NO_PROGRESS=1``: their bars would interleave, and the driver reports each finished task.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "NO_PROGRESS_ENV"]

NO_PROGRESS_ENV = "MERTK_NO_PROGRESS"


def progress_bar(**kwargs: Any) -> tqdm:
    """A ``tqdm`` bar on stderr with a redraw interval suited to where stderr goes."""
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if interactive else 30.0)
    if os.environ.get(NO_PROGRESS_ENV):
        kwargs["disable"] = True
    return tqdm(**kwargs)
