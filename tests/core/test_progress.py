"""Progress bars: redraws in place on a terminal, whole lines at most every 30 s in a log file."""

from __future__ import annotations

import io

import pytest

from mertk.progress import LOG_INTERVAL, progress_bar


class Clock:
    """A settable time source for tqdm."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("tqdm.std.time", clock)
    return clock


def _epochs(bar, clock: Clock, seconds_each: float, n: int) -> None:
    for epoch in range(n):
        clock.now += seconds_each
        bar.set_postfix(loss=f"{1 / (epoch + 1):.4f}", acc="0.500")  # tqdm redraws here unless told not to
        bar.update()


def test_a_short_fold_writes_nothing_to_a_log(clock) -> None:
    """60 epochs in 6 s: the run log's own line reports the fold; the bar adds nothing."""
    log = io.StringIO()
    bar = progress_bar(total=60, desc="fold 1/68 sub01", leave=False, unit="epoch", file=log)
    _epochs(bar, clock, 0.1, 60)
    bar.close()
    assert log.getvalue() == ""


def test_a_long_fold_writes_a_line_at_most_every_30_s(clock) -> None:
    log = io.StringIO()
    bar = progress_bar(total=60, desc="fold 1/68 sub01", leave=False, unit="epoch", file=log)
    _epochs(bar, clock, 2.0, 60)  # 120 s
    bar.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    assert 1 <= len(lines) <= 120 / LOG_INTERVAL
    assert all(line.startswith("fold 1/68 sub01:") for line in lines) and "loss=" in lines[-1]


def test_a_bar_that_stays_ends_with_one_final_line(clock) -> None:
    log = io.StringIO()
    bar = progress_bar(total=442, desc="preprocess", unit="clip", file=log)
    for _ in range(442):
        clock.now += 0.01
        bar.update()
    bar.close()
    (line,) = log.getvalue().splitlines()
    assert line.startswith("preprocess: 100%") and "442/442" in line


def test_a_terminal_still_gets_a_live_bar(clock) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    bar = progress_bar(total=10, desc="fold 1/2", leave=False, unit="epoch", file=term)
    _epochs(bar, clock, 1.0, 10)
    bar.close()
    assert term.getvalue().count("\r") > 10  # redrawn in place
