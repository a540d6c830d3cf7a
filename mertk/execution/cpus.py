"""How many CPU cores a process may use, and how many intra-op threads each worker gets."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["available_cpus", "default_threads"]

_CGROUP = Path("/sys/fs/cgroup")


def _cgroup_quota(root: Path = _CGROUP) -> float | None:
    """The cgroup CPU quota in cores (``cpu.max`` of cgroup v2, else v1's CFS quota), ``None`` if unset."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """Cores this process may use: its CPU affinity, lowered to a container's CPU quota (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, int(quota))
    return max(1, cores)


def default_threads(workers: int = 1) -> int:
    """Intra-op threads for each of ``workers`` processes sharing this machine: the available cores
    divided among them, at most ``OMP_NUM_THREADS`` when that is set, at least 1."""
    threads = max(1, available_cpus() // max(1, workers))
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        threads = min(threads, int(omp))
    return threads
