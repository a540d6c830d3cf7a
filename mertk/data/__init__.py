"""Dataset adapters, class protocols and the demo dataset.

Every adapter (component kind ``dataset``) returns a :class:`mertk.api.DatasetLoad`: the usable
samples, every problem found (file, row, fix; fatal or warning) and the rows left out on purpose.
:func:`apply_on_error` turns fatal problems into an error or a reported skip.
"""

from mertk.data.problems import apply_on_error

__all__ = ["apply_on_error"]
