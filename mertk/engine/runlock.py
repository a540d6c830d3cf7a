"""One process at a time in a run folder: ``RUN_DIR/run.lock``.

Two ``mertk run --resume RUN_DIR`` (or two ``mertk bench`` on one folder) at once would both
train the unfinished folds and overwrite each other's files. The process that opens or creates
a run folder takes an exclusive :func:`fcntl.flock` on ``run.lock`` and writes who it is into it
(pid, host, start time, command line); a second process is refused with that holder named,
before it writes anything. The kernel releases a ``flock`` when its process ends, however it
ends (``kill -9`` included), so a lock is never left behind by a dead process; the file is
removed when the run releases it normally. Worker processes do not inherit the lock (Python
opens files non-inheritable and the executors start fresh interpreters).
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mertk.errors import MertkError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunFolderBusy", "RunLock"]

#: The lock file in a run folder.
LOCK_NAME = "run.lock"


class RunFolderBusy(MertkError):
    """Another process holds the run folder's lock.

    Attributes:
        holder: What the holder wrote into the lock file (``pid``, ``host``, ``since``, ``command``);
            empty when it could not be read.
    """

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.holder = holder
        if holder:
            who = (f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('since')} "
                   f"(`{holder.get('command')}`)")
            stop = f"stop it (kill {holder.get('pid')} on {holder.get('host')}) and run this again"
        else:
            who, stop = "another process", "stop it and run this again"
        super().__init__(f"{folder}: the run folder is in use by {who}; two processes in one run folder would "
                         f"train the same folds twice. Fix: wait for it to finish, or {stop}")


class RunLock:
    """The exclusive lock on one run folder, held from :meth:`acquire` to :meth:`release`.

    Attributes:
        path: The lock file.
        note: Why the folder could not be locked (a file system without ``flock``), else ``""``:
            the run goes on unlocked and says so in its log.
    """

    def __init__(self, path: Path, fd: int | None, note: str = "") -> None:
        self.path, self._fd, self.note = path, fd, note

    @classmethod
    def acquire(cls, folder: Path) -> RunLock:
        """Lock ``folder`` (which exists) for this process, or refuse naming the holder.

        Raises:
            RunFolderBusy: another live process holds it.
        """
        path = Path(folder) / LOCK_NAME
        if fcntl is None:
            return cls(path, None, "this platform has no flock")
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunFolderBusy(Path(folder), _holder(path)) from None
            except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system without locks
                os.close(fd)
                return cls(path, None, f"the file system does not support locks ({os.strerror(exc.errno or 0)})")
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder released and removed the file meanwhile: lock the new one
        lock = cls(path, fd)
        lock._write_holder()
        return lock

    def _write_holder(self) -> None:
        argv = list(sys.argv) or ["python"]
        if Path(argv[0]).name in ("mertk", "__main__.py"):  # the console script, or python -m mertk
            argv[0] = "mertk"
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": _dt.datetime.now().isoformat(sep=" ", timespec="seconds"), "command": " ".join(argv)}
        data = json.dumps(info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file and release the lock (again: nothing)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: nobody locks the old file after this
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor releases the flock


def _holder(path: Path) -> dict[str, Any]:
    """What the holder wrote into the lock file; ``{}`` when it is not there (yet) or unreadable."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
