"""A test plugin: dataset ``demo-aus``, the flows demo (casme2, samm, smic) with action units.

Until the demo generators code AUs themselves, each clip's AUs are derived from its class
(negative: AU4, positive: AU12 (+ AU6 on every other clip), surprise: AU1 + AU2), and SMIC's
clips get none released (``aus=None``), as the real SMIC.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import mertk
from mertk.api import DatasetLoad, Sample
from mertk.data.demo import Demo


def aus_of(sample: Sample, position: int) -> tuple[str, ...] | None:
    """The AUs the test data give ``sample`` (the ``position``-th clip of its dataset)."""
    if sample.dataset == "smic":
        return None
    if sample.label == 0:
        return ("AU4",)
    if sample.label == 1:
        return ("AU6", "AU12") if position % 2 else ("AU12",)
    return ("AU1", "AU2")


class DemoWithAus:
    """The flows demo in ``root`` with AUs; the first ``per_dataset`` clips of each source dataset
    (``datasets``: only these sources)."""

    def __init__(self, root: str, per_dataset: int = 30, datasets: list[str] | None = None) -> None:
        self.demo = Demo(root=root, variant="flows")
        self.per_dataset, self.datasets = per_dataset, datasets

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.demo.class_names

    def load(self) -> DatasetLoad:
        load = self.demo.load()
        seen: Counter[str] = Counter()
        samples = []
        for sample in load.samples:
            if self.datasets is not None and sample.dataset not in self.datasets:
                continue
            if seen[sample.dataset] < self.per_dataset:
                samples.append(dataclasses.replace(sample, aus=aus_of(sample, seen[sample.dataset])))
                seen[sample.dataset] += 1
        return DatasetLoad(samples, load.problems, load.class_names)


@mertk.hookimpl
def register_datasets(register):
    register("demo-aus", DemoWithAus)
