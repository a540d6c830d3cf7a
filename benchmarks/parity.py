"""Quality parity: mertk's ``dual-atme`` against the authors' model and loop, over many seeds.

Every arm trains on the same preprocessed views (mertk's preprocessing of ``--config``) and the
same folds, once per seed, and is scored on the pooled test predictions (UF1 / UAR), overall
and per source dataset (the samples' ``dataset``). Arms:

* ``reference``: an independent reimplementation of the authors' model and loop
  (``benchmarks/reference.py``: their layers, one CBAM shared by both branches as in their
  code, default Adam, fp32); ``reference-upper``: the same with CBAM on the upper branch only
  (the paper, and mertk's default ``attention_on: upper``), i.e. the same function as ``mertk``;
* ``mertk``: the config as it is, through :func:`mertk.engine.fold.train_and_test`, in fp32
  like the reference (``precision: auto`` would pick bf16 on some CPUs and not on others, and
  the comparison must not depend on the machine);
* each option where mertk departs from the authors' code, switched back one at a time:
  ``mertk-shared-attention`` (CBAM on both branches, one instance: the authors' code),
  ``mertk-unfused`` (branches one by one), ``mertk-nn-conv`` (``nn.Conv2d``'s kernels instead
  of :class:`mertk_dual_atme.conv.Conv2d`'s; the initialisation is ``nn.Conv2d``'s in both,
  as that class does not override ``reset_parameters``), ``mertk-nn-layers`` (that, and
  ``F.max_pool2d`` instead of :func:`mertk_dual_atme.pooling.max_pool2d`), ``mertk-plain-adam``
  (``torch.optim.Adam`` without fused kernels), ``mertk-nondeterministic``
  (``train.deterministic: false``) and ``mertk-bf16`` (bf16 autocast);
* ``mertk-same-init``: ``mertk``, but each fold's model starts from the initial weights
  ``reference-upper`` draws for that fold and seed (the reference built after
  ``torch.manual_seed(1000 * s + i)``, mapped with ``reference.to_mertk_state``); mertk's own
  loop, batches and dropout masks. Its difference to ``reference-upper`` carries no init-draw
  noise, only the training path's (and its random streams').

A LOSO's result moves a lot from seed to seed, so the script prints each arm's mean and sd over
seeds and, for each arm against each reference arm run (and each option against ``mertk``), the
mean paired difference with a 95 % t confidence interval, overall and per source dataset, and
the number of seeds that would make that interval narrower than 0.02 UF1 at the measured
spread. Seed ``s`` seeds fold ``i`` with ``1000 * s + i`` in every arm (the same seeds, not the
same random streams: the arms' models differ in layer layout).

Results are appended to ``--out`` (JSON lines) as each (arm, seed) finishes, and a rerun skips
the finished ones, so the run can be stopped and continued and more seeds added later.

Usage::

    python benchmarks/parity.py [--config dual-atme-demo-composite.yaml] [--seeds 10]
        [--arms reference mertk ...] [--folds 0] [--jobs 2] [--out parity.jsonl] [--set KEY=VALUE ...]

Any flows manifest (real data included) runs the same comparison through the bundled flows
config, with ``--set`` overrides as on mertk's command line::

    python benchmarks/parity.py --config dual-atme-flows.yaml --set dataset.path=/data/flows/manifest.csv

``--folds K`` replaces the config's protocol by K subject-grouped stratified folds (cheaper than
LOSO, for a first look; say so when quoting it). ``--jobs`` runs that many trainings at once,
each with ``cores / jobs`` threads (cores: the smallest of ``OMP_NUM_THREADS``, the CPU quota
and the affinity).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # per-epoch bars of parallel trainings would interleave

import torch
from fastpaths import plain_torch  # benchmarks/, on sys.path when run as a script

import mertk
from mertk.config import LoadedConfig, load_config
from mertk.cpus import available_cpus
from mertk.engine.fold import FoldContext, train_and_test
from mertk.engine.run import load_data
from mertk.engine.trainer import autocast_dtype, configure_threads, normalize_views
from mertk.evaluation.metrics import evaluate

#: Each arm: ``(config overrides, fast paths switched back to plain torch)``. ``reference*`` arms
#: run ``benchmarks/reference.py`` (their overrides are ignored); see :func:`fastpaths.plain_torch`.
ARMS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "reference": ([], ()),
    "reference-upper": ([], ()),
    "mertk": (["train.precision=fp32"], ()),
    "mertk-shared-attention": (["train.precision=fp32", "model.attention_on=both", "model.share_attention=true"],
                               ()),
    "mertk-unfused": (["train.precision=fp32", "model.fused_branches=false"], ()),
    "mertk-nn-conv": (["train.precision=fp32"], ("nn-conv",)),
    "mertk-nn-layers": (["train.precision=fp32"], ("nn-conv", "nn-pool")),
    "mertk-plain-adam": (["train.precision=fp32"], ("plain-adam",)),
    "mertk-nondeterministic": (["train.precision=fp32", "train.deterministic=false"], ()),
    "mertk-bf16": (["train.precision=bf16"], ()),
    "mertk-same-init": (["train.precision=fp32"], ()),
}
#: Which reference model each ``reference*`` arm trains (``attention`` of ``train_reference``).
REFERENCE_ATTENTION = {"reference": "shared", "reference-upper": "upper"}
#: The ``mertk`` arms that start from a reference arm's initial weights (:func:`reference_init`).
SAME_INIT = {"mertk-same-init": "reference-upper"}

_STATE: dict[str, Any] = {}  # set before the worker processes fork


def _arm_config(components: mertk.Components, args: argparse.Namespace, arm: str = "mertk") -> LoadedConfig:
    """The config as ``arm`` runs it: ``--set`` overrides, the arm's, and ``--folds``."""
    folds = [f"protocol={{name: kfold, k: {args.folds}, by_subject: true}}"] if args.folds else []
    return load_config(args.config, components, [*args.set, *ARMS[arm][0], *folds])


def prepare(args: argparse.Namespace) -> list[Any]:
    """Load the data and folds of ``args`` (``config``, ``set``, ``folds``) for every arm; the folds."""
    components = mertk.load_components()
    loaded = _arm_config(components, args)
    data = load_data(loaded, components)
    folds = components.build("protocol", loaded.config.protocol).split(data.samples)
    _STATE.update(components=components, loaded=loaded, data=data, folds=folds, args=args,
                  labels=torch.tensor([s.label for s in data.samples]))
    return folds


@contextlib.contextmanager
def reference_init(attention: str) -> Iterator[None]:
    """Inside the block, each model a fold builds (:func:`mertk.engine.fold.setup_fold`, which seeds
    with the fold's seed and then builds) is given the initial weights of the reference model
    ``train_reference(..., seed=that seed, attention=attention)`` starts from. The global generator
    is left as mertk's build left it, so the dropout masks are mertk's own."""
    from reference import AuthorsDualATME, to_mertk_state

    from mertk.engine import fold

    build = fold.build_model

    def build_from_reference(spec: Any, components: mertk.Components, **kwargs: Any) -> torch.nn.Module:
        model = build(spec, components, **kwargs)
        state = torch.get_rng_state()
        torch.manual_seed(torch.initial_seed())  # the fold's seed, as train_reference seeds
        reference = AuthorsDualATME(kwargs["num_classes"], kwargs["in_channels"], attention)
        torch.set_rng_state(state)
        missing, unexpected = model.load_state_dict(to_mertk_state(reference), strict=False)
        if unexpected or [key for key in missing if not key.endswith("num_batches_tracked")]:
            raise SystemExit(f"mertk's model does not take the reference's weights "
                             f"(missing {missing}, unexpected {unexpected})")
        return model

    fold.build_model = build_from_reference
    try:
        yield
    finally:
        fold.build_model = build


def fold_context(arm: str) -> FoldContext:
    """What mertk's fold training of ``arm`` needs, on the data and folds :func:`prepare` loaded."""
    components, data, folds, labels = _STATE["components"], _STATE["data"], _STATE["folds"], _STATE["labels"]
    loaded = _arm_config(components, _STATE["args"], arm)
    train = loaded.config.train
    inputs = normalize_views(data.views, train.normalize_mean, train.normalize_std, torch.device("cpu"))
    return FoldContext(loaded, components, tuple(data.samples), data.class_names, inputs, labels, tuple(folds))


def _mertk_predictions(arm: str, seed: int) -> list[int]:
    ctx, folds = fold_context(arm), _STATE["folds"]
    predictions = [0] * len(ctx.labels)
    same_init = reference_init(REFERENCE_ATTENTION[SAME_INIT[arm]]) if arm in SAME_INIT else contextlib.nullcontext()
    with plain_torch(*ARMS[arm][1]), same_init:
        for index, fold in enumerate(folds):
            _, record = train_and_test(ctx, fold.train, fold.test, seed=1000 * seed + index, desc="")
            for i, p in zip(fold.test, record["y_pred"]):
                predictions[i] = p
    return predictions


def _reference_predictions(arm: str, seed: int) -> list[int]:
    from reference import predict_reference, train_reference

    data, folds, labels = _STATE["data"], _STATE["folds"], _STATE["labels"]
    cfg = _STATE["loaded"].config
    mean, std = cfg.train.normalize_mean, cfg.train.normalize_std
    face, hars = ((data.views[v] - mean) / std for v in ("face", "hars"))
    predictions = [0] * len(labels)
    for index, fold in enumerate(folds):
        train, test = torch.tensor(fold.train), torch.tensor(fold.test)
        model = train_reference(face[train], hars[train], labels[train], seed=1000 * seed + index,
                                epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                                num_classes=len(data.class_names), attention=REFERENCE_ATTENTION[arm])
        for i, p in zip(fold.test, predict_reference(model, face[test], hars[test]).tolist()):
            predictions[i] = p
    return predictions


def _run(task: tuple[str, int]) -> dict[str, Any]:
    arm, seed = task
    configure_threads(_STATE["threads"])
    reference = arm in REFERENCE_ATTENTION
    predictions = _reference_predictions(arm, seed) if reference else _mertk_predictions(arm, seed)
    precision = "fp32" if reference else \
        _arm_config(_STATE["components"], _STATE["args"], arm).config.train.precision
    arithmetic = "bf16 autocast" if autocast_dtype(precision, torch.device("cpu")) else "fp32"
    data = _STATE["data"]
    metrics = evaluate(_STATE["labels"].tolist(), predictions, class_names=data.class_names,
                       groups=[s.dataset for s in data.samples])
    per = {g: {"uf1": m["uf1"], "uar": m["uar"]} for g, m in metrics["per_group"].items()}
    return {"key": _STATE["key"], "arm": arm, "seed": seed, "arithmetic": arithmetic,
            "uf1": metrics["overall"]["uf1"],
            "uar": metrics["overall"]["uar"], "per_dataset": per}


def _interval(differences: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t half-width of paired differences, and their sd."""
    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return mean, math.inf, math.nan
    sd = statistics.stdev(differences)
    from scipy.stats import t

    return mean, float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n), sd


def _paired(runs: dict[int, dict[str, Any]], base: dict[int, dict[str, Any]],
            group: str | None) -> tuple[int, float, float, float] | None:
    """Seeds, mean, 95 % half-width and sd of the paired UF1 differences (overall or of one dataset)."""
    def uf1(run: dict[str, Any]) -> float | None:
        return run["uf1"] if group is None else run.get("per_dataset", {}).get(group, {}).get("uf1")

    differences = [uf1(runs[s]) - uf1(base[s]) for s in sorted(set(runs) & set(base))
                   if uf1(runs[s]) is not None and uf1(base[s]) is not None]
    if not differences:
        return None
    return (len(differences), *_interval(differences))


def report(results: list[dict[str, Any]], arms: list[str]) -> str:
    """The table of arms (mean ± sd over seeds) and of paired differences with 95 % CIs, overall
    and per source dataset (the ``dataset`` column of the samples)."""
    by_arm = {arm: {r["seed"]: r for r in results if r["arm"] == arm} for arm in arms}
    groups = sorted({g for r in results if r["arm"] in arms for g in r.get("per_dataset", {})})
    lines = [f"{'arm':<24} {'seeds':>5} {'UF1 mean ± sd':>16} {'UAR mean ± sd':>16}"
             + "".join(f" {'UF1 ' + g:>12}" for g in groups)]
    for arm, runs in by_arm.items():
        if not runs:
            continue
        cells = []
        for metric in ("uf1", "uar"):
            values = [r[metric] for r in runs.values()]
            sd = statistics.stdev(values) if len(values) > 1 else math.nan
            cells.append(f"{statistics.fmean(values):.4f} ± {sd:.4f}")
        for g in groups:
            values = [r["per_dataset"][g]["uf1"] for r in runs.values() if g in r.get("per_dataset", {})]
            cells.append(f"{statistics.fmean(values):.4f}" if values else "-")
        lines.append(f"{arm:<24} {len(runs):>5} {cells[0]:>16} {cells[1]:>16}"
                     + "".join(f" {c:>12}" for c in cells[2:]))
    lines.append("")
    lines.append(f"{'difference (UF1)':<38} {'dataset':>10} {'seeds':>5} {'mean':>8} {'95% CI':>20} {'sd':>7} "
                 f"{'seeds for CI<0.02':>18}")
    references = [arm for arm in arms if arm in REFERENCE_ATTENTION]
    pairs = [(arm, base) for base in references for arm in arms if arm != base]
    pairs += [(arm, "mertk") for arm in arms if arm not in (*REFERENCE_ATTENTION, "mertk")]
    for arm, base in pairs:
        if arm in REFERENCE_ATTENTION and base in REFERENCE_ATTENTION and arms.index(arm) < arms.index(base):
            continue
        for group in (None, *groups):
            paired = _paired(by_arm.get(arm, {}), by_arm.get(base, {}), group)
            if paired is None:
                continue
            n, mean, half, sd = paired
            need = math.ceil((2 * 1.96 * sd / 0.02) ** 2) if not math.isnan(sd) else "-"
            lines.append(f"{arm + ' - ' + base:<38} {group or 'all':>10} {n:>5} {mean:+8.4f} "
                         f"{f'[{mean - half:+.4f}, {mean + half:+.4f}]':>20} {sd:7.4f} {need!s:>18}")
    return "\n".join(lines)


def _results_key(args: argparse.Namespace) -> str:
    """What the results of a run depend on: the config, the folds and the ``--set`` overrides less those
    that only say where and how fast the work runs (:data:`mertk.engine.fingerprint.OPERATIONAL`, e.g.
    ``preprocess.cache_dir``), so that results can be added to or reported from another machine."""
    from mertk.engine.fingerprint import OPERATIONAL

    def operational(override: str) -> bool:
        name = override.split("=", 1)[0].strip()
        return any(name == key or name.startswith(key + ".") for key in OPERATIONAL)

    kept = [s for s in args.set if not operational(s)]
    return json.dumps({"config": args.config, "folds": args.folds, "set": kept}, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="dual-atme-demo-composite.yaml")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--folds", type=int, default=0,
                        help="K subject-grouped folds instead of the config's protocol")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (all arms)")
    parser.add_argument("--out", type=Path, default=Path("parity.jsonl"))
    parser.add_argument("--report-only", action="store_true", help="print the table of --out and exit")
    args = parser.parse_args()
    key = _results_key(args)
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []
    done = [r for r in done if r["key"] == key]
    tasks = [(arm, seed) for seed in range(args.first_seed, args.first_seed + args.seeds) for arm in args.arms
             if not any(r["arm"] == arm and r["seed"] == seed for r in done)]
    if tasks and not args.report_only:
        prepare(args)
        cores = available_cpus().count  # OMP_NUM_THREADS, the CPU quota and the affinity
        _STATE.update(key=key, threads=max(1, cores // args.jobs))
        print(f"{len(tasks)} trainings to run ({len(done)} done earlier), {args.jobs} at once, "
              f"{_STATE['threads']} threads each; {len(_STATE['folds'])} folds, "
              f"{len(_STATE['data'].samples)} samples",
              flush=True)
        pool = multiprocessing.get_context("fork").Pool(args.jobs) if args.jobs > 1 else None
        results = pool.imap_unordered(_run, tasks) if pool else map(_run, tasks)
        with args.out.open("a") as out:
            for result in results:
                out.write(json.dumps(result) + "\n")
                out.flush()
                done.append(result)
                print(f"{result['arm']:<24} seed {result['seed']:>3}: "
                      f"UF1 {result['uf1']:.4f} UAR {result['uar']:.4f}",
                      flush=True)
        if pool:
            pool.close()
    folds = f"{args.folds} by subject" if args.folds else "the config's protocol"
    print(f"config {args.config}, folds: {folds}, "
          f"overrides {args.set}")
    print(report(done, args.arms))


if __name__ == "__main__":
    main()
