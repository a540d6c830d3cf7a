"""Planning and running the (config, seed) runs of a bench, reusing finished ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        MertkError: two configs share a file stem, or use different data, protocols or tasks.
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
        if (base.config.task or "emotion") != (first.config.task or "emotion"):
            raise MertkError(
                f"bench compares configs of one task, but {Path(base.file).name} has task "
                f"{base.config.task or 'emotion'} and {Path(first.file).name} {first.config.task or 'emotion'}: "
                "they are scored differently (UF1 and UAR, or per-AU F1). Fix: bench the configs of each task "
                "separately, or --set task=... for all of them")
    bench_dir = Path(bench_dir) if bench_dir is not None else Path(first.config.output.dir) / "bench"
    runs = []
    for name, label, base in zip(configs, labels, bases):
        for seed in range(base.config.seed, base.config.seed + seeds):
            loaded = load(name, [*overrides, f"seed={seed}"])
            runs.append(BenchRun(label, seed, loaded, bench_dir / f"{label}-seed{seed}"))
    return bench_dir, runs


def _check_same_config(run: BenchRun, components: Components) -> None:
    """Refuse a run folder made with another recipe (config less where its folds ran, versions),
    as ``mertk run --resume`` does (:func:`mertk.engine.fingerprint.check_resume`)."""
    from mertk.engine.fingerprint import check_resume, recipe_fingerprint
    from mertk.engine.rundir import RunFolder

    check_resume(RunFolder(run.run_dir), run.loaded, recipe_fingerprint(run.loaded, components),
                 fix=f"this bench's results would be mixed with another's; pass another --dir, or delete "
                     f"{run.run_dir} to redo it")


def run_all(runs: Sequence[BenchRun], components: Components, *, echo: Callable[[str], None] = print,
            run_experiments: Callable[..., Any] | None = None) -> dict[str, int]:
    """Run what is missing: finished runs are kept, started ones resumed, the rest started.

    The folds of every run that is not finished go to the executor together (the first
    config's ``executor``): the unit of work is one fold of one seed of one config.

    Returns:
        Counts ``{"reused": ..., "resumed": ..., "started": ...}``.

    Raises:
        MertkError: a run folder holds a run of a different config.
    """
    from mertk.engine.schedule import RunRequest

    if run_experiments is None:
        from mertk.engine.schedule import run_experiments
    counts = {"reused": 0, "resumed": 0, "started": 0}
    requests = []
    for i, run in enumerate(runs, 1):
        where = f"[{i}/{len(runs)}] {run.label} seed {run.seed}"
        if run.started:
            _check_same_config(run, components)
        if run.finished:
            counts["reused"] += 1
            echo(f"{where}: finished earlier, reusing {run.run_dir}")
            continue
        resume = run.started
        counts["resumed" if resume else "started"] += 1
        echo(f"{where}: {'resuming' if resume else 'running'} in {run.run_dir}")
        requests.append(RunRequest(run.loaded, run.run_dir, resume))
    if requests:
        run_experiments(requests, components)
    return counts
