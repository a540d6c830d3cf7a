"""How many cores mertk uses: OMP_NUM_THREADS, cgroup CPU quotas (v1 and v2) and the affinity mask."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mertk.cpus import available_cpus, cgroup_cpu_limit

AFFINITY = len(os.sched_getaffinity(0))


def _v2(tmp_path: Path, cpu_max: str, parent: str = "max 100000") -> tuple[Path, Path]:
    """A cgroup v2 tree where this process sits in ``/batch/job`` (the parent has its own cpu.max)."""
    root = tmp_path / "cgroup"
    (root / "batch" / "job").mkdir(parents=True)
    (root / "batch" / "cpu.max").write_text(parent + "\n")
    (root / "batch" / "job" / "cpu.max").write_text(cpu_max + "\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("0::/batch/job\n")
    return root, proc


def _v1(tmp_path: Path, quota: int, period: int = 100000) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    folder = root / "cpu,cpuacct" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (folder / "cpu.cfs_period_us").write_text(f"{period}\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    return root, proc


def test_no_limit_means_the_affinity_mask(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, "max 100000")
    budget = available_cpus({}, cgroup_root=root, proc_cgroup=proc)
    assert budget.count == AFFINITY and "affinity" in budget.reason


def test_omp_num_threads_wins_when_smaller(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, "max 100000")
    budget = available_cpus({"OMP_NUM_THREADS": "1"}, cgroup_root=root, proc_cgroup=proc)
    assert budget == (1, "OMP_NUM_THREADS=1")
    assert available_cpus({"OMP_NUM_THREADS": "junk"}, cgroup_root=root, proc_cgroup=proc).count == AFFINITY


@pytest.mark.skipif(AFFINITY < 2, reason="needs 2 cores in the affinity mask to see a quota below it")
def test_cgroup_v2_quota_of_the_process_or_a_parent(tmp_path: Path) -> None:
    root, proc = _v2(tmp_path, "150000 100000")  # 1.5 cores: rounded down
    budget = available_cpus({}, cgroup_root=root, proc_cgroup=proc)
    assert budget.count == 1 and "cgroup CPU quota of 1.5 cores" in budget.reason
    assert str(root / "batch" / "job" / "cpu.max") in budget.reason
    root, proc = _v2(tmp_path / "parent", "max 100000", parent="100000 100000")
    assert cgroup_cpu_limit(root, proc) == (1.0, str(root / "batch" / "cpu.max"))


@pytest.mark.skipif(AFFINITY < 2, reason="needs 2 cores in the affinity mask to see a quota below it")
def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    root, proc = _v1(tmp_path, 100000)
    budget = available_cpus({}, cgroup_root=root, proc_cgroup=proc)
    assert budget.count == 1 and "cpu.cfs_quota_us" in budget.reason
    root, proc = _v1(tmp_path / "none", -1)
    assert cgroup_cpu_limit(root, proc) is None


def test_a_container_sees_its_quota_at_the_mount_root(tmp_path: Path) -> None:
    """Inside a container /proc/self/cgroup says ``0::/`` and the quota sits at the mount root."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cpu.max").write_text("200000 100000\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("0::/\n")
    assert cgroup_cpu_limit(root, proc) == (2.0, str(root / "cpu.max"))


def test_train_threads_zero_follows_the_environment(monkeypatch) -> None:
    import torch

    from mertk.engine.trainer import configure_threads, set_threads, thread_budget

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert thread_budget(0) == (1, "OMP_NUM_THREADS=1")
        assert configure_threads(0) == 1 and torch.get_num_threads() == 1
        assert set_threads(3) == (3, "train.threads")
    finally:
        torch.set_num_threads(before)
