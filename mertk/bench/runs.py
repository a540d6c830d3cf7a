"""Planning and running the (config, seed) runs of a bench, reusing finished ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mertk.config import LoadedConfig
from mertk.errors import MertkError
from mertk.registry import Components

__all__ = ["BENCH_DEFAULTS", "BenchRun", "plan_runs", "run_all"]

#: Overrides applied before the user's ``--set``: a bench compares scores, so it does not train
#: the extra all-samples model that ``mertk run`` exports (``--set output.export_model=true``
#: brings it back).
BENCH_DEFAULTS = ("output.export_model=false",)


@dataclass
class BenchRun:
    """One (config, seed) pair and its run folder.

    Attributes:
        label: The config's name in the table (its file stem).
        seed: The run's seed.
        loaded: The validated config with ``seed`` set.
        run_dir: ``BENCH_DIR/{label}-seed{seed}``.
    """

    label: str
    seed: int
    loaded: LoadedConfig
    run_dir: Path

    @property
    def finished(self) -> bool:
        """The engine writes ``metrics.json`` once every fold is done."""
        return (self.run_dir / "metrics.json").is_file()

    @property
    def started(self) -> bool:
        return (self.run_dir / "config.yaml").is_file()


def _data_key(loaded: LoadedConfig) -> tuple[Any, Any]:
    return loaded.config.dataset, loaded.config.protocol


def plan_runs(configs: Sequence[str], seeds: int, bench_dir: Path | None, overrides: Sequence[str],
              load: Callable[[str, Sequence[str]], LoadedConfig]) -> tuple[Path, list[BenchRun]]:
    """The bench folder and its runs: ``seeds`` runs per config, seeds ``seed, seed + 1, ...``.

    Args:
        configs: Config files or bundled config names.
        seeds: Runs per config.
        bench_dir: The bench folder; default ``{output.dir}/bench`` of the first config.
        overrides: ``--set`` overrides applied to every config (after :data:`BENCH_DEFAULTS`).
        load: ``(name, overrides) -> LoadedConfig`` (``App.config``).

    Raises:
        MertkError: two configs share a file stem, or use different data or protocols.
    """
    overrides = [*BENCH_DEFAULTS, *overrides]
    bases = [load(name, overrides) for name in configs]
    labels = [Path(b.file).stem for b in bases]
    for label in set(labels):
        if labels.count(label) > 1:
            raise MertkError(f"bench: two configs are called {label!r}; rename one file so their run folders differ")
    first = bases[0]
    for base in bases:
        if _data_key(base) != _data_key(first):
            raise MertkError(
                f"bench compares configs on the same data and protocol, but {Path(base.file).name} uses dataset "
                f"{base.config.dataset} / protocol {base.config.protocol} and {Path(first.file).name} uses "
                f"{first.config.dataset} / {first.config.protocol}. Fix: --set dataset=... (and protocol=...) "
                "for all of them")
    bench_dir = Path(bench_dir) if bench_dir is not None else Path(first.config.output.dir) / "bench"
    runs = []
    for name, label, base in zip(configs, labels, bases):
        for seed in range(base.config.seed, base.config.seed + seeds):
            loaded = load(name, [*overrides, f"seed={seed}"])
            runs.append(BenchRun(label, seed, loaded, bench_dir / f"{label}-seed{seed}"))
    return bench_dir, runs


def _check_same_config(run: BenchRun) -> None:
    saved = yaml.safe_load((run.run_dir / "config.yaml").read_text(encoding="utf-8"))
    if saved != yaml.safe_load(yaml.safe_dump(dict(run.loaded.data))):
        raise MertkError(
            f"{run.run_dir}: this run was made with a different config than {Path(run.loaded.file).name} with the "
            "current --set options; its results would be mixed up with the new ones. Fix: pass another --dir, "
            f"or delete {run.run_dir} to redo it")


def run_all(runs: Sequence[BenchRun], components: Components, *, echo: Callable[[str], None] = print,
            run_experiment: Callable[..., Any] | None = None) -> dict[str, int]:
    """Run what is missing: finished runs are kept, started ones resumed, the rest started.

    Returns:
        Counts ``{"reused": ..., "resumed": ..., "started": ...}``.

    Raises:
        MertkError: a run folder holds a run of a different config.
    """
    if run_experiment is None:
        from mertk.engine.runner import run_experiment
    counts = {"reused": 0, "resumed": 0, "started": 0}
    for i, run in enumerate(runs, 1):
        where = f"[{i}/{len(runs)}] {run.label} seed {run.seed}"
        if run.started:
            _check_same_config(run)
        if run.finished:
            counts["reused"] += 1
            echo(f"{where}: finished earlier, reusing {run.run_dir}")
            continue
        resume = run.started
        counts["resumed" if resume else "started"] += 1
        echo(f"{where}: {'resuming' if resume else 'running'} in {run.run_dir}")
        run_experiment(run.loaded, components, run_dir=run.run_dir, resume=resume)
    return counts
