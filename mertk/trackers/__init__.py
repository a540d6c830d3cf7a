"""Experiment trackers shipped with mertk (component kind ``tracker``): ``mlflow`` and ``tensorboard``.

Each needs an optional extra (``pip install 'mertk[mlflow]'``, ``'mertk[tensorboard]'``); its
package is imported only when a run uses the tracker, so ``import mertk`` stays fast.
"""

from __future__ import annotations

import importlib.util

from mertk.errors import MertkError

__all__ = ["require"]


def require(module: str, tracker: str) -> None:
    """Raise a :class:`MertkError` with the install command when ``module`` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise MertkError(f"the {tracker!r} tracker needs the package {module!r}, which is not installed. "
                         f"Fix: pip install 'mertk[{tracker}]', or remove {tracker!r} from output.trackers")
