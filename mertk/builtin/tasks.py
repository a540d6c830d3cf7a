"""The built-in tasks (component kind ``task``): emotion classes and multi-label action units.

A task is what the config's ``task`` key names (:class:`mertk.api.Task`): ``emotion`` (the
default: one class per clip, scored by UF1 and UAR) or ``{name: aus, aus: [AU1, AU4, ...]}``
(which of ``K`` facial action units are present, scored by per-AU F1 and their mean). The
engine trains, tests and scores both the same way; everything that differs is here. Torch is
imported inside the methods, so checking a config does not load it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mertk.api import Fold, Sample
from mertk.data.action_units import DEFAULT_AUS, check_au_set
from mertk.errors import MertkError

if TYPE_CHECKING:
    import torch

__all__ = ["EmotionTask", "ActionUnitTask"]


class EmotionTask:
    """One emotion class per clip (the default task): targets ``(N,)`` int64 class indices, a
    softmax over the ``K`` classes, the argmax as the decision, and MEGC's UF1, UAR and accuracy.

    Examples:
        >>> import torch
        >>> task = EmotionTask()
        >>> task.decide(task.scores(torch.tensor([[0.1, 2.0, -1.0]]))).tolist()
        [1]
    """

    name = "emotion"
    target_kind: Literal["classes", "multi-label"] = "classes"
    headline = "uf1"
    outputs = "classes"

    def output_names(self, class_names: Sequence[str]) -> tuple[str, ...]:
        return tuple(class_names)

    def skip_reason(self, sample: Sample) -> str | None:
        return None

    def targets(self, samples: Sequence[Sample], class_names: Sequence[str]) -> torch.Tensor:
        import torch

        return torch.as_tensor([s.label for s in samples], dtype=torch.int64)

    def check(self, samples: Sequence[Sample], class_names: Sequence[str], folds: Sequence[Fold] = (), *,
              source: str) -> None:
        from mertk.evaluation.classes import check_classes, check_fold_classes

        check_classes(samples, class_names, source=source)
        if folds:
            check_fold_classes(folds, samples, class_names, source=source)

    def counts(self, targets: torch.Tensor, outputs: int) -> list[int]:
        import torch

        return torch.bincount(targets.cpu(), minlength=outputs).tolist()

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        from mertk.engine.trainer import softmax_scores  # the engine's default: one definition

        return softmax_scores(logits)

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.argmax(-1)

    def hits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        from mertk.engine.trainer import class_hits

        return class_hits(logits, targets)

    def evaluate(self, y_true: Sequence[Any], y_pred: Sequence[Any], names: Sequence[str],
                 groups: Sequence[str]) -> dict[str, Any]:
        from mertk.evaluation.metrics import evaluate

        metrics = evaluate(y_true, y_pred, class_names=names, groups=groups)
        metrics["class_names"] = list(names)
        return metrics

    def summary(self, metrics: Mapping[str, Any]) -> str:
        from mertk.engine.report import summary_table

        return summary_table(metrics)

    def report(self, metrics: Mapping[str, Any], names: Sequence[str], folder: Path) -> list[str]:
        from mertk.engine.report import classification_results

        return classification_results(metrics, names, folder)


class ActionUnitTask:
    """Multi-label facial action units: which of ``K`` AUs each clip shows (MEB's task).

    Targets are ``(N, K)`` float32 multi-hot vectors from :attr:`mertk.api.Sample.aus`; an AU
    counts as present whatever its side or intensity. Scores are a sigmoid per AU, the decision
    is ``score >= 0.5``, and a run is scored by each AU's F1 over the pooled test predictions
    and their mean (``au_f1``), overall and per source dataset. A sample whose source released
    no AU coding (``aus is None``, e.g. SMIC) is skipped, counted by dataset in ``run.log``.

    Args:
        aus: The AUs to detect (``[AU1, AU4, AU12]``; ``4`` or ``au4`` are read as ``AU4``), output
            in AU-number order (:func:`mertk.data.action_units.check_au_set`); default: the
            cross-dataset set ``mertk.data.action_units.DEFAULT_AUS``.

    Examples:
        >>> import torch
        >>> task = ActionUnitTask(aus=["AU1", "au4", 12])
        >>> task.aus
        ('AU1', 'AU4', 'AU12')
        >>> task.decide(task.scores(torch.tensor([[2.0, -1.0, 0.5]]))).tolist()
        [[1, 0, 1]]
    """

    name = "aus"
    target_kind: Literal["classes", "multi-label"] = "multi-label"
    headline = "au_f1"
    outputs = "action units"

    def __init__(self, aus: list[str | int] | None = None) -> None:
        self.aus = check_au_set(DEFAULT_AUS if aus is None else aus, key="aus")

    @staticmethod
    def check_arguments(aus: list[str | int] | None = None) -> None:
        """Refuse an empty list, a code that is not a FACS action unit, or an AU listed twice."""
        if aus is not None:
            check_au_set(aus, key="aus")

    def output_names(self, class_names: Sequence[str]) -> tuple[str, ...]:
        return self.aus

    def skip_reason(self, sample: Sample) -> str | None:
        if sample.aus is None:
            return f"{sample.dataset}: no action-unit coding released (aus unknown), not usable for task aus"
        return None

    def targets(self, samples: Sequence[Sample], class_names: Sequence[str]) -> torch.Tensor:
        import torch

        position = {au: k for k, au in enumerate(self.aus)}
        out = torch.zeros(len(samples), len(self.aus), dtype=torch.float32)
        for i, sample in enumerate(samples):
            for au in sample.aus or ():
                if au in position:
                    out[i, position[au]] = 1.0
        return out

    def check(self, samples: Sequence[Sample], class_names: Sequence[str], folds: Sequence[Fold] = (), *,
              source: str) -> None:
        """Refuse AUs that no usable sample shows: the model could not learn them and their F1
        would be 0 by construction. (A fold whose training set lacks an AU is allowed: on
        leave-one-dataset-out that is what transfer to another dataset measures.)"""
        if not samples:
            return
        present = Counter(au for s in samples for au in set(s.aus or ()))
        missing = [au for au in self.aus if not present[au]]
        if missing:
            coded = ", ".join(f"{au} ({n})" for au, n in present.most_common(12)) or "none"
            raise MertkError(
                f"{source}: task aus: {', '.join(missing)} occur(s) in none of the {len(samples)} usable samples, so "
                f"the model cannot learn it and its F1 would be 0 by construction. AUs coded in these samples "
                f"(clips): {coded}. Fix: remove it from task.aus, or add data coded with it")

    def counts(self, targets: torch.Tensor, outputs: int) -> list[int]:
        return [int(v) for v in targets.sum(0).round().tolist()]

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().sigmoid()

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        import torch

        return (scores >= 0.5).to(torch.int64)

    def hits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((logits.detach() > 0) == (targets > 0.5)).float().mean(-1)

    def evaluate(self, y_true: Sequence[Any], y_pred: Sequence[Any], names: Sequence[str],
                 groups: Sequence[str]) -> dict[str, Any]:
        from mertk.evaluation.metrics import evaluate_multilabel

        scored = evaluate_multilabel(y_true, y_pred, names=names, groups=groups)
        overall = scored["overall"]
        return {"task": self.name, "au_f1": overall["au_f1"], "per_au": overall["per_au"], **scored,
                "aus": list(names)}

    def summary(self, metrics: Mapping[str, Any]) -> str:
        from mertk.engine.report import au_summary_table

        return au_summary_table(metrics)

    def report(self, metrics: Mapping[str, Any], names: Sequence[str], folder: Path) -> list[str]:
        from mertk.engine.report import action_unit_results

        return action_unit_results(metrics, names, folder)
