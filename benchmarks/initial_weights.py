"""Initial-weight parity: do mertk's ``dual-atme`` and the reference draw their weights from the same distributions?

``benchmarks/trajectory.py`` starts mertk from the reference's weights, so it cannot see a
difference in how the two *draw* their initial weights; ``benchmarks/parity.py`` lets each draw
its own, so such a difference would show there as a systematic gap. This script builds the
reference model (``benchmarks/reference.py``, CBAM placed as the config places it) and mertk's
model (the config's ``model``, built as a fold builds it: seeded, then
:func:`mertk.engine.trainer.build_model` with its forward pass that materialises the lazy fusion
layer) once per seed, maps the reference's weights into mertk's layout
(:func:`reference.to_mertk_state`: the three entry 1x1 convolutions as one layer, CBAM and head
as they are) and compares each tensor's values (its first 4000) pooled over the seeds: mean, sd, largest
magnitude (for PyTorch's uniform initialisations, the bound ``1 / sqrt(fan_in)``) and a
two-sample Kolmogorov-Smirnov p-value. The BatchNorm statistics right after the build are
listed too: a build-time forward in training mode would move them before the first step.

Usage::

    python benchmarks/initial_weights.py [--config dual-atme-demo-flows.yaml] [--inits 50] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from reference import AuthorsDualATME, to_mertk_state

import mertk
from mertk.config import load_config
from mertk.engine.trainer import build_model, seed_everything

__all__ = ["Comparison", "compare", "draw"]

#: Values kept per tensor and init (the first ones; the fusion layer alone has 4.8 M).
KEEP = 4000


def draw(components: mertk.Components, config: str, overrides: list[str], seeds: range,
         num_classes: int = 3, size: int = 28) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Per state-dict key, the initial values of every seed's model stacked ``(len(seeds), n)``, ``n``
    the tensor's first :data:`KEEP` values: the reference's (mapped to mertk's layout) and mertk's."""
    cfg = load_config(config, components, overrides).config
    attention = "shared" if cfg.model.get("share_attention") and cfg.model.get("attention_on") == "both" \
        else "upper"
    g = torch.Generator().manual_seed(0)
    views = cfg.model.get("views", ["face", "hars"])
    sample = {name: torch.rand(2, 3, size, size, generator=g) * 2 - 1 for name in views}
    ours: dict[str, list[torch.Tensor]] = {}
    theirs: dict[str, list[torch.Tensor]] = {}
    for seed in seeds:
        torch.manual_seed(seed)
        for key, value in to_mertk_state(AuthorsDualATME(num_classes, 3, attention)).items():
            theirs.setdefault(key, []).append(value.detach().flatten()[:KEEP].double())
        seed_everything(seed, cfg.train.deterministic)
        model = build_model(cfg.model, components, num_classes=num_classes, in_channels=3, sample=sample)
        for key, value in model.state_dict().items():
            ours.setdefault(key, []).append(value.detach().flatten()[:KEEP].double())
    return ({k: torch.stack(v) for k, v in theirs.items()}, {k: torch.stack(v) for k, v in ours.items()})


@dataclass(frozen=True)
class Comparison:
    """One tensor's initial values, pooled over the inits, in both models."""

    key: str
    numel: int  # values compared per init (at most KEEP)
    reference: tuple[float, float, float]  # mean, sd, largest |value|
    mertk: tuple[float, float, float]
    ks_p: float  # two-sample Kolmogorov-Smirnov p-value (1.0 for constants equal in both)


def compare(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> list[Comparison]:
    """A :class:`Comparison` per key both have (raises ``KeyError`` naming keys only one has)."""
    from scipy.stats import ks_2samp

    if set(theirs) != set(ours):
        raise KeyError(f"only in the reference: {sorted(set(theirs) - set(ours))}; "
                       f"only in mertk: {sorted(set(ours) - set(theirs))}")
    rows = []
    for key in sorted(theirs):
        a, b = theirs[key], ours[key]

        def stats(x: torch.Tensor) -> tuple[float, float, float]:
            return float(x.mean()), float(x.std()) if x.numel() > 1 else 0.0, float(x.abs().max())

        if torch.equal(a.amin(), a.amax()) and torch.equal(b.amin(), b.amax()):
            p = 1.0 if torch.equal(a.amin(), b.amin()) else 0.0  # constants (BatchNorm): equal or not
        else:
            p = float(ks_2samp(a.flatten().numpy(), b.flatten().numpy()).pvalue)
        rows.append(Comparison(key, a.shape[1], stats(a), stats(b), p))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="dual-atme-demo-flows.yaml")
    parser.add_argument("--inits", type=int, default=50)
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    components = mertk.load_components()
    rows = compare(*draw(components, args.config, args.set, range(args.inits)))
    print(f"config {args.config}, overrides {args.set}, {args.inits} inits of each model")
    print(f"{'tensor':<44} {'numel':>8} {'reference mean / sd / max':>28} {'mertk mean / sd / max':>28} {'KS p':>7}")
    for r in rows:
        cells = [f"{m:+.4f} / {s:.4f} / {x:.4f}" for m, s, x in (r.reference, r.mertk)]
        print(f"{r.key:<44} {r.numel:>8} {cells[0]:>28} {cells[1]:>28} {r.ks_p:7.3f}")
    print(f"smallest KS p over {len(rows)} tensors: {min(r.ks_p for r in rows):.4f}")


if __name__ == "__main__":
    main()
