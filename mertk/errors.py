"""Errors a user can cause. The CLI prints them as one message, without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class MertkError(Exception):
    """A problem the user can fix (bad config, missing file, no face found, ...).

    The message names the file, the sample or key concerned, and the fix.
    """


class ConfigError(MertkError):
    """An invalid config value: ``"{file}: {key}: {message}"``.

    Attributes:
        file: The config file name (or ``"<config>"`` for configs built in code).
        key: Dotted path of the offending key (``"model.attention.reduction"``).
        message: What is wrong and, where possible, what was meant.
    """

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file, self.key, self.message = file, key, message
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


class ArgumentError(MertkError):
    """A component's ``check_arguments`` refuses an argument value (see the component contracts).

    Attributes:
        argument: Name of the argument, dotted below it where that helps (``"kwargs.drop_rat"``).
        message: What is wrong and how to fix it.
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument, self.message = argument, message
        super().__init__(f"{argument}: {message}")


class DataError(MertkError):
    """Bad input data stopped the work (``on_error: stop``); the message lists every problem.

    Attributes:
        problems: Every :class:`mertk.api.Problem` met, fatal ones and warnings, so that the
            caller can write them all (``problems.csv``) before it stops.
    """

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        self.problems = list(problems)
        super().__init__(message)


class PluginError(MertkError):
    """A plugin is broken: duplicate component names, misspelled hooks, import failures."""


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 3) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choices, or ``""`` when none is close."""
    matches = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"
