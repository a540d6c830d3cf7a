"""SIGINT and SIGTERM become one exception that says which signal stopped the command."""

from __future__ import annotations

import signal
import threading

import pytest

from mertk.interrupts import Interrupted, keep_signal_handlers, signals_deferred, signals_interrupt


def _signal_this_thread(signum: int) -> None:
    """Send ``signum`` to this (the main) thread: its handler has run when this returns.

    ``os.kill`` on the process may hand the signal to another thread (tqdm's monitor, Ray's), and the
    main thread then runs the handler some bytecodes later, maybe after the block under test ended.
    """
    signal.pthread_kill(threading.get_ident(), signum)


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal():
    """SIGINT as an interactive ``mertk`` finds it: a suite started as a shell's background job has it
    ignored, and an ignored SIGINT stays ignored inside :func:`signals_interrupt` (by design)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def default_sigterm():
    """SIGTERM as a fresh `mertk` process has it (a local Ray started by other tests sets its own)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_raises_interrupted_with_exit_code_143_inside_the_block_only(default_sigterm) -> None:
    with pytest.raises(Interrupted) as stopped, signals_interrupt():
        _signal_this_thread(signal.SIGTERM)
    assert isinstance(stopped.value, KeyboardInterrupt)  # every `except KeyboardInterrupt` clean-up runs
    assert stopped.value.exit_code == 143 and stopped.value.what == "interrupted (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_signal_inside_signals_deferred_stops_the_command_when_the_block_ends(default_sigterm) -> None:
    """What must not stop half-way (starting a worker process) finishes; then the signal is handled."""
    finished = []
    with pytest.raises(Interrupted) as stopped, signals_interrupt():
        with signals_deferred():
            _signal_this_thread(signal.SIGTERM)
            finished.append("the block")
        finished.append("after the block")
    assert finished == ["the block"] and stopped.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_plain_ctrl_c_is_a_sigint_and_a_hint_names_the_signal() -> None:
    assert Interrupted.of(KeyboardInterrupt()).exit_code == 130
    assert Interrupted.of(KeyboardInterrupt(), "resume with X").hint == "interrupted; resume with X"
    assert Interrupted.of(Interrupted(signal.SIGTERM), "resume with X").hint == "interrupted (SIGTERM); resume with X"


def test_an_ignored_sigint_stays_ignored_and_a_library_cannot_replace_the_handlers(default_sigterm) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job of a shell script
    try:
        with signals_interrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            mine = signal.getsignal(signal.SIGTERM)
            with keep_signal_handlers():
                signal.signal(signal.SIGTERM, lambda *_: None)  # what ray.init does
            assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGINT, previous)


class _CountingLoop:
    """A :class:`~mertk.engine.trainer.TrainingLoop` that counts its epochs."""

    def __init__(self) -> None:
        self.epochs, self.closed = 0, False

    def train_epoch(self) -> list:
        self.epochs += 1
        return []

    def close(self) -> None:
        self.closed = True


def _swallowed_ctrl_c() -> None:
    """A SIGINT that lands in a library's bare ``except:``, which swallows the exception."""
    try:
        _signal_this_thread(signal.SIGINT)
    except BaseException:  # the library's bare except
        pass


def test_a_ctrl_c_that_a_library_swallowed_still_stops_training_at_the_next_step() -> None:
    from mertk.engine.trainer import run_epochs

    loop = _CountingLoop()
    with pytest.raises(Interrupted) as stopped, signals_interrupt():
        _swallowed_ctrl_c()
        run_epochs(loop, epochs=1000)
    assert stopped.value.exit_code == 130
    assert loop.epochs == 0 and loop.closed

    after = _CountingLoop()  # leaving the block forgets the signal: the next command trains
    with signals_interrupt():
        run_epochs(after, epochs=3)
    assert after.epochs == 3
