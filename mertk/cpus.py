"""How many CPU cores this process may use, and why.

A batch system or a shared machine says so in one of three ways, and mertk respects all of
them (the smallest wins): ``OMP_NUM_THREADS``, a cgroup CPU quota (cgroup v2 ``cpu.max``, v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; a container's ``--cpus``), and the CPU affinity
mask (``taskset``, ``sched_setaffinity``). ``os.cpu_count()`` alone ignores all three.

>>> budget = available_cpus()
>>> budget.count >= 1, budget.reason          # doctest: +SKIP
(True, '2 CPUs in the process affinity mask')
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

__all__ = ["CpuBudget", "available_cpus", "cgroup_cpu_limit"]


class CpuBudget(NamedTuple):
    """A core count and the limit it comes from (``"OMP_NUM_THREADS=1"``, ...)."""

    count: int
    reason: str


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """Controller (``""`` for cgroup v2) -> this process's cgroup path, from ``/proc/self/cgroup``."""
    out: dict[str, str] = {}
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                out[controller] = parts[2]
    return out


def _candidates(mount: Path, own: str | None) -> list[Path]:
    """The process's cgroup folder under ``mount`` and its ancestors (a parent's quota binds too);
    the mount itself last (inside a container the process's path is often not visible)."""
    folders: list[Path] = []
    if own:
        path = mount / own.lstrip("/")
        while path != mount and mount in path.parents:
            folders.append(path)
            path = path.parent
    folders.append(mount)
    return [f for f in dict.fromkeys(folders) if f.is_dir()]


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"),
                     proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[float, str] | None:
    """The tightest cgroup CPU quota in cores (``1.5`` = one and a half cores) and the file that
    sets it, or ``None`` when no quota applies."""
    own = _own_cgroups(proc_cgroup)
    limits: list[tuple[float, str]] = []
    for folder in _candidates(root, own.get("")):  # cgroup v2: "max 100000" or "150000 100000"
        fields = (_read(folder / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0] != "max":
            limits.append((int(fields[0]) / int(fields[1]), str(folder / "cpu.max")))
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):  # cgroup v1: quota -1 means none
        for folder in _candidates(root / name, own.get("cpu")):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            if quota and period and quota.lstrip("-").isdigit() and int(quota) > 0 and int(period) > 0:
                limits.append((int(quota) / int(period), str(folder / "cpu.cfs_quota_us")))
    return min(limits) if limits else None


def available_cpus(environ: Mapping[str, str] | None = None, *, cgroup_root: Path = Path("/sys/fs/cgroup"),
                   proc_cgroup: Path = Path("/proc/self/cgroup")) -> CpuBudget:
    """The number of cores to use: the smallest of ``OMP_NUM_THREADS``, the cgroup CPU quota
    (rounded down, at least 1) and the affinity mask, with the reason.

    Args:
        environ: Environment to read ``OMP_NUM_THREADS`` from (default ``os.environ``).
        cgroup_root: Where the cgroup file systems are mounted.
        proc_cgroup: The process's cgroup membership file.
    """
    environ = os.environ if environ is None else environ
    cores = _affinity()
    options = [CpuBudget(cores, f"{cores} CPU{'s' if cores != 1 else ''} in the process affinity mask")]
    quota = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if quota is not None:
        cores, where = quota
        options.append(CpuBudget(max(1, math.floor(cores)), f"cgroup CPU quota of {cores:g} cores ({where})"))
    omp = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        options.append(CpuBudget(int(omp), f"OMP_NUM_THREADS={omp}"))
    return min(options, key=lambda b: b.count)
