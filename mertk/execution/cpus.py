"""How many intra-op threads each worker process of an executor gets."""

from __future__ import annotations

from mertk.cpus import available_cpus

__all__ = ["default_threads"]


def default_threads(workers: int = 1) -> int:
    """Intra-op threads for each of ``workers`` processes sharing this machine: the cores this
    process may use (:func:`mertk.cpus.available_cpus`: the smallest of ``OMP_NUM_THREADS``, the
    cgroup CPU quota and the CPU affinity) divided among them, at least 1."""
    return max(1, available_cpus().count // max(1, workers))
