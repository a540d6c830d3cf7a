"""Ctrl-C and SIGTERM: one exception that says which signal stopped a command and how to go on.

Python turns SIGINT (Ctrl-C) into :class:`KeyboardInterrupt` but lets SIGTERM (what ``kill`` and
a cluster scheduler send) end the process at once, skipping every ``finally``: no line in the
run log, worker processes left to notice on their own. :func:`signals_interrupt` makes both
raise :class:`Interrupted`, a :class:`KeyboardInterrupt`, so the same clean-up runs for either.
Code that knows how to continue (the engine knows the run folder) re-raises it with a ``hint``;
the command line prints the hint and exits with :attr:`Interrupted.exit_code` (128 + the signal
number, as shells do: 130 for SIGINT, 143 for SIGTERM).

A signal can land while a library runs a bare ``except:`` or a finalizer, which swallows the
exception (Python prints "Exception ignored in ..." for a finalizer). So the signal is also kept:
loops that run for long (the training loop, once per batch) call :func:`raise_if_interrupted`,
which raises it again, and a swallowed Ctrl-C stops the run at the next batch instead of never.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["Interrupted", "keep_signal_handlers", "raise_if_interrupted", "signals_deferred", "signals_interrupt"]


class Interrupted(KeyboardInterrupt):
    """The command was stopped by SIGINT (Ctrl-C) or SIGTERM.

    Attributes:
        signum: The signal's number.
        hint: What was kept and how to continue (``"interrupted; resume with ..."``), or ``""``.
    """

    def __init__(self, signum: int = signal.SIGINT, hint: str = "") -> None:
        self.signum, self.hint = int(signum), hint
        super().__init__(hint or self.what)

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def what(self) -> str:
        """``"interrupted"`` (Ctrl-C), or ``"interrupted (SIGTERM)"`` for another signal."""
        return "interrupted" + ("" if self.signum == signal.SIGINT else f" ({self.signal_name})")

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    @classmethod
    def of(cls, exc: BaseException, then: str = "") -> Interrupted:
        """``exc`` (a plain :class:`KeyboardInterrupt` is a SIGINT) as an :class:`Interrupted` whose
        hint is ``"interrupted; {then}"`` (no hint when ``then`` is empty)."""
        signum = getattr(exc, "signum", signal.SIGINT)
        return cls(signum, f"{cls(signum).what}; {then}" if then else "")


_received: list[int] = []  # the signals that arrived inside signals_interrupt(), until it ends


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if SIGINT or SIGTERM arrived inside :func:`signals_interrupt`,
    even when whatever code the signal landed in swallowed the first exception."""
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread.

    A signal the process was started to ignore (``nohup``, a background job of a script) stays
    ignored. The previous handlers come back when the block ends. Outside the main thread (where
    Python cannot set handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler):
            previous[signum] = current
            signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if previous:
            _received.clear()


@contextlib.contextmanager
def keep_signal_handlers() -> Iterator[None]:
    """Put the SIGINT and SIGTERM handlers back after the block: a library that sets its own when it
    starts (``ray.init`` makes SIGTERM exit with status 15, silently) does not replace mertk's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block, a SIGINT or SIGTERM is held, then handled when the block ends (as the
    handler in force would have: :class:`Interrupted` inside :func:`signals_interrupt`), so that
    code that must not stop half-way finishes first: starting a worker process, which must be sent
    its start data once it runs. A signal whose handler is the default action or ignored is not
    held. Outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    handlers = {signum: handler for signum, handler in saved.items() if callable(handler)}
    for signum in handlers:
        signal.signal(signum, lambda received, frame: held.append(received))
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if held:
            handlers[held[0]](held[0], None)
