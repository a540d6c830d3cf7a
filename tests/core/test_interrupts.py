"""SIGINT and SIGTERM become one exception that says which signal stopped the command."""

from __future__ import annotations

import os
import signal

import pytest

from mertk.interrupts import Interrupted, keep_signal_handlers, signals_interrupt


@pytest.fixture
def default_sigterm():
    """SIGTERM as a fresh `mertk` process has it (a local Ray started by other tests sets its own)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_raises_interrupted_with_exit_code_143_inside_the_block_only(default_sigterm) -> None:
    with pytest.raises(Interrupted) as stopped, signals_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(stopped.value, KeyboardInterrupt)  # every `except KeyboardInterrupt` clean-up runs
    assert stopped.value.exit_code == 143 and stopped.value.what == "interrupted (SIGTERM)"
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
