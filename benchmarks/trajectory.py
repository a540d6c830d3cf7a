"""Training-trajectory parity: mertk's ``dual-atme`` training against the reference, step for step.

``benchmarks/parity.py`` compares final scores over independent seeds, where one LOSO moves by
0.05 UF1 from seed to seed, so a small systematic difference needs dozens of seeds to show. This
script takes the seed noise out. For each seed and fold, the reference model
(``benchmarks/reference.py``, CBAM placed as the config places it) is initialised, and its
weights are copied into mertk's model (:func:`reference.to_mertk_state`); both then train on the
same batches in the same order with the same dropout masks. The only differences left are how
each side computes: mertk's fast paths, its loop, its optimizer.

Training is chaotic, so any difference, even one float32 rounding step, grows. The floor is
measured in the same run: the ``control`` arm is the reference against itself with every weight
moved by about one rounding step (relative noise of 2**-24). An arm that follows the reference
as closely as the control does computes the same training up to rounding; an arm that falls
away faster changes training (for example by routing gradients through other tied maxima).

After each reported epoch both models predict the fold's test samples in eval mode; the script
prints, per arm and epoch, over all (seed, fold) pairs: the share of test predictions that agree
with the reference, the median largest |logit| difference and the median relative distance of
the fusion layer's weights; and at the last epoch each arm's pooled UF1 per seed, paired with the
reference's (mean difference, 95 % t interval).

Arms (``--arms``; each is mertk with these settings against the reference, fp32 unless named):

* ``control``: the reference from jittered weights (the rounding floor);
* ``plain``: ``model.fused_branches=false``, ``nn.Conv2d`` / ``F.max_pool2d`` kernels, torch's
  single-tensor Adam, ``train.deterministic=false``: mertk's loop with plain layers;
* ``fused-branches``, ``fast-conv``, ``fast-pool``, ``fused-adam``, ``deterministic``: ``plain``
  with that one of mertk's defaults back on;
* ``mertk``: every default of the config (in fp32); ``mertk-bf16``: and bf16 autocast.

Usage::

    python benchmarks/trajectory.py [--config dual-atme-demo-flows.yaml] [--folds 3] [--seeds 3]
        [--epochs 20] [--report 1 2 5 10 20] [--arms ...] [--set KEY=VALUE ...] [--out FILE.jsonl]
        [--report-only]

Results (one JSON line per arm, seed, fold and reported epoch, and one per arm and seed with the
pooled UF1) go to ``--out`` as they come; ``--report-only`` prints the tables again from them.
Any flows manifest, real data included, runs the same comparison::

    python benchmarks/trajectory.py --config dual-atme-flows.yaml --set dataset.path=/data/flows/manifest.csv
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from fastpaths import SWITCHES, plain_torch
from reference import AuthorsDualATME, fit_reference, to_mertk_state

import mertk
from mertk.config import load_config
from mertk.engine.run import load_data
from mertk.engine.trainer import Trainer, build_loss, build_model, configure_threads, normalize_views
from mertk.evaluation.metrics import evaluate

#: Each mertk arm: ``(config overrides, fast paths switched back to plain torch)``.
PLAIN = (["model.fused_branches=false", "train.deterministic=false", "train.precision=fp32"], SWITCHES)
ARMS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "plain": PLAIN,
    "fused-branches": (["train.deterministic=false", "train.precision=fp32"], SWITCHES),
    "fast-conv": (PLAIN[0], ("nn-pool", "plain-adam")),
    "fast-pool": (PLAIN[0], ("nn-conv", "plain-adam")),
    "fused-adam": (PLAIN[0], ("nn-conv", "nn-pool")),
    "deterministic": (["model.fused_branches=false", "train.precision=fp32"], SWITCHES),
    "mertk": (["train.precision=fp32"], ()),
    "mertk-bf16": (["train.precision=bf16"], ()),
}
JITTER = 2.0 ** -24


def _reference_arm(config: Any) -> str:
    """The reference model with the config's CBAM placement: ``shared`` or ``upper``."""
    model = config.model if isinstance(config.model, dict) else {}
    both = model.get("attention_on") == "both" and model.get("share_attention")
    return "shared" if both else "upper"


class Fold:
    """One fold's normalised views and labels, and the trajectory of the reference on it."""

    def __init__(self, face: torch.Tensor, hars: torch.Tensor, labels: torch.Tensor,
                 train: list[int], test: list[int]) -> None:
        self.train, self.test = torch.tensor(train), torch.tensor(test)
        self.face, self.hars, self.labels = face, hars, labels

    def views(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """mertk's model input: ``{"face": (n, C, S, S), "hars": (n, C, S, S)}`` of the samples ``index``."""
        return {"face": self.face[index], "hars": self.hars[index]}


def _snapshot(logits: torch.Tensor, fusion: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"logits": logits.detach().clone(), "fusion": fusion.detach().clone()}


def reference_trajectory(model: AuthorsDualATME, fold: Fold, *, seed: int, epochs: int, batch_size: int,
                         report: set[int]) -> dict[int, dict[str, torch.Tensor]]:
    """Train the reference ``model`` on ``fold``; its test logits and fusion weights at each reported epoch."""
    trajectory: dict[int, dict[str, torch.Tensor]] = {}

    def record(epoch: int) -> None:
        if epoch in report:
            model.eval()
            with torch.no_grad():
                logits = model(fold.face[fold.test], fold.hars[fold.test])[0]
            trajectory[epoch] = _snapshot(logits, model.head[0].weight)

    torch.manual_seed(seed)  # the dropout masks
    fit_reference(model, fold.face[fold.train], fold.hars[fold.train], fold.labels[fold.train], epochs=epochs,
                  batch_size=batch_size, order=torch.Generator().manual_seed(seed), on_epoch=record)
    return trajectory


def mertk_trajectory(arm: str, reference: AuthorsDualATME, fold: Fold, *, components: mertk.Components,
                     config: str, overrides: list[str], seed: int, epochs: int,
                     report: set[int]) -> dict[int, dict[str, torch.Tensor]]:
    """mertk's model of ``arm`` (``config`` with ``overrides``, then the arm's), from the reference's
    initial weights, trained by mertk's loop on ``fold``; its test logits and fusion weights at each
    reported epoch."""
    arm_overrides, switches = ARMS[arm]
    loaded = load_config(config, components, [*overrides, *arm_overrides, f"train.epochs={epochs}"])
    cfg = loaded.config
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(cfg.train.deterministic, warn_only=True)
    k = int(fold.labels.max()) + 1
    trajectory: dict[int, dict[str, torch.Tensor]] = {}
    with plain_torch(*switches):
        model = build_model(cfg.model, components, num_classes=k, in_channels=fold.face.shape[1],
                            sample=fold.views(fold.train[:2]))
        missing, unexpected = model.load_state_dict(to_mertk_state(reference), strict=False)
        if unexpected or [key for key in missing if not key.endswith("num_batches_tracked")]:
            raise SystemExit(f"arm {arm}: mertk's model does not take the reference's weights "
                             f"(missing {missing}, unexpected {unexpected})")
        counts = torch.bincount(fold.labels[fold.train], minlength=k).tolist()
        loss = build_loss(cfg.loss, components, num_classes=k, class_counts=counts)
        torch.manual_seed(seed)  # the dropout masks
        trainer = Trainer(model, loss, fold.views(fold.train), fold.labels[fold.train], cfg.train,
                          generator=torch.Generator().manual_seed(seed))
        for epoch in range(1, epochs + 1):
            trainer.epoch()
            if epoch in report:
                model.eval()
                with torch.no_grad():
                    logits = model(fold.views(fold.test)).logits
                trajectory[epoch] = _snapshot(logits.float(), model.head[0].weight)
    torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
    return trajectory


def compare(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Share of agreeing predicted classes, largest |logit| difference, relative fusion-weight distance."""
    agree = (ours["logits"].argmax(1) == theirs["logits"].argmax(1)).float().mean()
    return {"agree": float(agree), "logit_diff": float((ours["logits"] - theirs["logits"]).abs().max()),
            "weight_distance": float((ours["fusion"] - theirs["fusion"]).norm() / theirs["fusion"].norm())}


def _t_interval(differences: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return mean, math.inf
    from scipy.stats import t

    return mean, float(t.ppf(0.975, len(differences) - 1)) * statistics.stdev(differences) / math.sqrt(
        len(differences))


def report_table(rows: list[dict[str, Any]], arms: list[str], epochs: list[int]) -> str:
    """The per-epoch distance table (rows with a ``fold``) and the paired last-epoch UF1 differences
    (rows without: one per arm and seed)."""
    scored = [r for r in rows if r["fold"] is None]
    rows = [r for r in rows if r["fold"] is not None]
    lines = ["| arm | " + " | ".join(f"epoch {e}: agree / max dlogit / dW" for e in epochs) + " |",
             "|---|" + "---|" * len(epochs)]
    for arm in arms:
        cells = []
        for epoch in epochs:
            mine = [r for r in rows if r["arm"] == arm and r["epoch"] == epoch]
            if not mine:
                cells.append("")
                continue
            cells.append(f"{statistics.fmean(r['agree'] for r in mine):.3f} / "
                         f"{statistics.median(r['logit_diff'] for r in mine):.2g} / "
                         f"{statistics.median(r['weight_distance'] for r in mine):.2g}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    last = max(epochs)
    lines += ["", f"Pooled UF1 at epoch {last}, paired with the reference's (same seed, folds, initial weights):",
              "", "| arm | seeds | mean UF1 | reference | mean difference | 95 % CI |", "|---|---|---|---|---|---|"]
    for arm in arms:
        scores = {r["seed"]: r for r in scored if r["arm"] == arm}
        if not scores:
            continue
        differences = [r["uf1"] - r["reference_uf1"] for r in scores.values()]
        mean, half = _t_interval(differences)
        lines.append(f"| {arm} | {len(scores)} | {statistics.fmean(r['uf1'] for r in scores.values()):.4f} | "
                     f"{statistics.fmean(r['reference_uf1'] for r in scores.values()):.4f} | {mean:+.4f} | "
                     f"[{mean - half:+.4f}, {mean + half:+.4f}] |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="dual-atme-demo-flows.yaml")
    parser.add_argument("--folds", type=int, default=3, help="subject-grouped stratified folds (0: the config's)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--report", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    parser.add_argument("--arms", nargs="+", default=["control", *ARMS], choices=["control", *ARMS])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("trajectory.jsonl"))
    parser.add_argument("--report-only", action="store_true",
                        help="print the tables from the rows in --out made with these options; train nothing")
    args = parser.parse_args()
    configure_threads(args.threads)
    report = sorted({e for e in args.report if e <= args.epochs} | {args.epochs})
    if args.report_only:
        sets = [*args.set, *([f"protocol={{name: kfold, k: {args.folds}, by_subject: true}}"] if args.folds else [])]
        rows = [row for row in map(json.loads, args.out.read_text().splitlines())
                if row["config"] == args.config and row["set"] == sets and row["seed"] <= args.seeds]
        print(report_table(rows, args.arms, report))
        return

    components = mertk.load_components()
    folds_override = [f"protocol={{name: kfold, k: {args.folds}, by_subject: true}}"] if args.folds else []
    args.set = [*args.set, *folds_override]
    loaded = load_config(args.config, components, args.set)
    cfg = loaded.config
    data = load_data(loaded, components)
    folds = components.build("protocol", cfg.protocol).split(data.samples)
    labels = torch.tensor([s.label for s in data.samples])
    views = normalize_views(data.views, cfg.train.normalize_mean, cfg.train.normalize_std, torch.device("cpu"))
    attention = _reference_arm(cfg)
    print(f"{args.config}: {len(labels)} samples, {len(folds)} folds, {args.seeds} seeds, {args.epochs} epochs, "
          f"reference CBAM {attention}, {torch.get_num_threads()} threads", flush=True)

    rows: list[dict[str, Any]] = []
    with args.out.open("a") as out:
        for seed in range(1, args.seeds + 1):
            predictions: dict[str, list[int]] = {}
            reference_predictions = [0] * len(labels)
            for index, split in enumerate(folds):
                fold = Fold(views["face"], views["hars"], labels, list(split.train), list(split.test))
                fold_seed = 1000 * seed + index
                torch.manual_seed(fold_seed)
                initial = AuthorsDualATME(len(data.class_names), fold.face.shape[1], attention)
                theirs = reference_trajectory(copy.deepcopy(initial), fold, seed=fold_seed, epochs=args.epochs,
                                              batch_size=cfg.train.batch_size, report=set(report))
                for i, p in zip(split.test, theirs[args.epochs]["logits"].argmax(1).tolist()):
                    reference_predictions[i] = p
                for arm in args.arms:
                    if arm == "control":
                        jittered = copy.deepcopy(initial)
                        with torch.no_grad():
                            generator = torch.Generator().manual_seed(fold_seed)
                            for p in jittered.parameters():
                                p.mul_(1 + JITTER * torch.randn(p.shape, generator=generator))
                        ours = reference_trajectory(jittered, fold, seed=fold_seed, epochs=args.epochs,
                                                    batch_size=cfg.train.batch_size, report=set(report))
                    else:
                        ours = mertk_trajectory(arm, copy.deepcopy(initial), fold, components=components,
                                                config=args.config, overrides=args.set, seed=fold_seed,
                                                epochs=args.epochs, report=set(report))
                    pooled = predictions.setdefault(arm, [0] * len(labels))
                    for i, p in zip(split.test, ours[args.epochs]["logits"].argmax(1).tolist()):
                        pooled[i] = p
                    for epoch in report:
                        row = {"config": args.config, "set": args.set, "arm": arm, "seed": seed, "fold": index,
                               "epoch": epoch, **compare(ours[epoch], theirs[epoch])}
                        rows.append(row)
                        out.write(json.dumps(row) + "\n")
                    out.flush()
                    last = [r for r in rows if r["arm"] == arm and r["seed"] == seed and r["fold"] == index
                            and r["epoch"] == args.epochs][0]
                    print(f"seed {seed} fold {index} {arm:15s} agree {last['agree']:.3f} "
                          f"dW {last['weight_distance']:.2g}", flush=True)
            reference_uf1 = evaluate(labels.tolist(), reference_predictions, class_names=data.class_names)
            for arm, predicted in predictions.items():
                uf1 = evaluate(labels.tolist(), predicted, class_names=data.class_names)["overall"]["uf1"]
                row = {"config": args.config, "set": args.set, "arm": arm, "seed": seed, "fold": None,
                       "epoch": args.epochs, "uf1": uf1, "reference_uf1": reference_uf1["overall"]["uf1"]}
                rows.append(row)
                out.write(json.dumps(row) + "\n")
    print(report_table(rows, args.arms, report))


if __name__ == "__main__":
    main()
