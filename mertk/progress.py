"""Progress bars that stay readable in log files.

On a terminal the bar redraws in place. Redirected to a file (a batch job, CI), every redraw
would be another line, so there a bar prints nothing for its first 30 s, then at most one line
every 30 s (``set_postfix`` does not force one), and a bar that stays (``leave=True``) one
final line when it closes. A bar that goes (``leave=False``, such as the per-fold epoch bar,
whose fold the run log reports in its own line) prints no final line. Worker processes of an
executor call :func:`quiet_process`: their bars would interleave, and the driver reports each
finished task.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from tqdm.auto import tqdm
from tqdm.std import tqdm as plain_tqdm

__all__ = ["LOG_INTERVAL", "NO_PROGRESS_ENV", "progress_bar", "quiet_process"]

#: Set (to anything) in a process whose bars should stay off.
NO_PROGRESS_ENV = "MERTK_NO_PROGRESS"

#: Seconds between two lines of a bar whose output is not a terminal.
LOG_INTERVAL = 30.0

#: Running in Jupyter, where ``tqdm.auto`` draws widgets (stderr is no terminal there either).
_NOTEBOOK = any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)


class _LogBar(plain_tqdm):
    """A tqdm bar for a non-terminal stream: whole lines, at most one per :data:`LOG_INTERVAL`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("mininterval", LOG_INTERVAL)
        kwargs.setdefault("delay", LOG_INTERVAL)
        kwargs["maxinterval"] = max(kwargs.get("maxinterval", LOG_INTERVAL), LOG_INTERVAL)
        kwargs["dynamic_ncols"] = False
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing a finished bar: a log keeps what it wrote
            return False
        self.fp.write((str(self) if msg is None else msg) + "\n")
        self.fp.flush()
        return True

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)  # shown with the next line, if any

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)

    def close(self) -> None:
        leave = self.pos == 0 if self.leave is None else self.leave
        if not self.disable and leave:
            with self._lock:
                self.display()
        self.leave = False  # the final line is written; tqdm itself would only clear the bar
        super().close()


def quiet_process() -> None:
    """Turn this process's bars off (``MERTK_NO_PROGRESS``, for its children too), for a worker.

    Also gives tqdm a thread lock instead of its default, a multiprocessing lock: that one is a
    named semaphore, which a worker that is killed (or terminated when its pool stops) never
    releases, and Python's resource tracker then warns about a "leaked semaphore" at exit.
    """
    os.environ[NO_PROGRESS_ENV] = "1"
    plain_tqdm.set_lock(threading.RLock())


def progress_bar(*, file: Any = None, **kwargs: Any) -> tqdm:
    """A ``tqdm`` bar on ``file`` (default stderr), suited to where that stream goes (see module docs)."""
    stream = sys.stderr if file is None else file
    if os.environ.get(NO_PROGRESS_ENV):
        kwargs["disable"] = True
    isatty = getattr(stream, "isatty", None)
    if _NOTEBOOK or (callable(isatty) and isatty()):
        kwargs.setdefault("mininterval", 0.1)
        return tqdm(file=stream, **kwargs)
    return _LogBar(file=stream, **kwargs)
