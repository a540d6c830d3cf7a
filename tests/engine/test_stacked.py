"""Stacked fold training (train.stack_folds): the same models as sequential training, the same run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import mertk
from mertk.api import ModelOutput
from mertk.config import validate_config
from mertk.engine import fold as fold_module
from mertk.engine import runner
from mertk.engine.fold import train_folds
from mertk.engine.stacked import stack_memory_limit, stack_size
from mertk.errors import ConfigError, MertkError
from mertk.testing import components_with, invoke

from .conftest import context_of, folds_of, synthetic_data

#: Subjects of 6, 8, 7 and 4 clips: the first three LOSO folds (subjects 1, 3, 0) train on 17, 21
#: and 19 clips, i.e. batches of 8 + 8 + 1 (the 1 is skipped: two steps), 8 + 8 + 5 and 8 + 8 + 3.
UNEVEN = (6, 8, 7, 4)


def _batch_statistics(model: nn.Module) -> nn.Module:
    """Eval mode (no dropout) except BatchNorm, which normalises with the batch's statistics."""
    model.eval()
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            module.train()
    return model


def _train_both_ways(make_config, changes: dict, device: str = "cpu"):
    data = synthetic_data(per_subject=UNEVEN)
    loaded = make_config(changes)
    inputs = {k: ((v - 0.5) / 0.5).to(device) for k, v in data.views.items()}
    labels = torch.tensor([s.label for s in data.samples], device=device)
    folds = list(enumerate(mertk.load_components()["protocol"].get("loso").factory().split(data.samples)))[:3]
    assert [len(f.train) for _, f in folds] == [17, 21, 19]
    components = mertk.load_components()
    ctx = context_of(loaded, components, data, inputs, labels, [f for _, f in folds])
    sequential = [train_folds(ctx, [i])[0] for i, _ in folds]
    stacked = train_folds(ctx, [i for i, _ in folds])
    return inputs, sequential, stacked


@pytest.mark.parametrize("optimizer", [{"name": "sgd", "lr": 0.01}, {"name": "adam", "lr": 0.001}])
def test_stacked_folds_are_the_sequential_models(make_config, optimizer: dict) -> None:
    """fp32, 3 folds of different sizes, 3 epochs, dropout and BatchNorm: the fold models match.

    Stacking changes only the summation order, so the test needs training that does not blow
    rounding up; two sequential runs that differ only in memory layout (``train.channels_last``)
    are the control. With SGD the tested (eval-mode) logits agree within 1e-4 (measured 5e-7;
    the control 3e-7). At lr 0.05 the fold whose last batch has 3 samples is ill-conditioned:
    the control differs by 1.3e-3 there, as much as stacking does.

    With Adam the logits agree within 1e-4 when BatchNorm normalises with batch statistics, as
    in training (measured 8e-6); in eval mode they do not, and neither does the control (4e-4
    to 9e-4): the convolution and fusion-layer biases in front of BatchNorm have a gradient of
    exactly zero in exact arithmetic, so their fp32 gradient is rounding noise, which Adam
    scales to learning-rate-sized steps whatever its size; the biases wander differently under
    any other summation order, and the running means follow them.
    """
    inputs, sequential, stacked = _train_both_ways(
        make_config, {"train": {"epochs": 3, "batch_size": 8, "precision": "fp32", "optimizer": optimizer}})
    for (seq_model, seq), (stack_model, stack) in zip(sequential, stacked):
        assert stack["stack"] == [0, 1, 2] and stack["train_size"] == seq["train_size"]
        assert stack["test_ids"] == seq["test_ids"] and stack["y_true"] == seq["y_true"]
        for a, b in zip(seq["history"], stack["history"]):
            assert (a["epoch"], a["lr"]) == (b["epoch"], b["lr"])
            assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
            assert a["accuracy"] == pytest.approx(b["accuracy"])
        buffers = dict(stack_model.named_buffers())
        for name, value in seq_model.named_buffers():
            if name.endswith("num_batches_tracked"):  # one per batch trained on: 2 or 3 per epoch
                assert int(buffers[name]) == int(value) == 3 * (2 if seq["train_size"] == 17 else 3), name
        with torch.no_grad():
            if optimizer["name"] == "sgd":
                difference = (seq_model.eval()(inputs).logits - stack_model.eval()(inputs).logits).abs().max()
            else:
                difference = (_batch_statistics(seq_model)(inputs).logits
                              - _batch_statistics(stack_model)(inputs).logits).abs().max()
        assert difference < 1e-4


BASELINES = [
    {"model": {"name": "ststnet"}, "loss": [{"name": "weighted-cross-entropy"}]},
    {"model": {"name": "off-apexnet", "hidden": 16},
     "loss": [{"name": "cross-entropy", "label_smoothing": 0.1}]},
    {"model": {"name": "dual-inception", "hidden": 16}, "loss": [{"name": "cross-entropy"}]},
    {"model": {"name": "timm-classifier", "model_name": "resnet18"}, "loss": [{"name": "cross-entropy"}]},
    {"model": {"name": "dual-atme", "hidden": 16, "attention": {"name": "se"}, "attention_on": "both",
               "share_attention": True},
     "loss": [{"name": "focal", "alpha": [1, 2, 3]}, {"name": "similarity"}]},
    {"model": {"name": "dual-atme", "hidden": 16, "backbone": {"name": "conv-pool"}, "attention": {"name": "identity"}},
     "loss": [{"name": "weighted-cross-entropy"}]},
]


@pytest.mark.parametrize("changes", BASELINES,
                         ids=lambda c: "-".join([c["model"]["name"], *(v["name"] for v in c["model"].values()
                                                                       if isinstance(v, dict))]))
def test_built_in_models_and_losses_train_stacked(make_config, changes: dict) -> None:
    """Every built-in model, loss, backbone and attention trains stacked, per fold as sequentially
    (losses per epoch); the tiny config's dual-atme covers inception and cbam."""
    data = synthetic_data(subjects=3, per_subject=(5, 4, 6))
    loaded = make_config({**changes, "train": {"epochs": 2, "batch_size": 6, "precision": "fp32"}})
    components = mertk.load_components()
    inputs = {k: (v - 0.5) / 0.5 for k, v in data.views.items()}
    labels = torch.tensor([s.label for s in data.samples])
    folds = list(enumerate(components["protocol"].get("loso").factory().split(data.samples)))[:2]
    ctx = context_of(loaded, components, data, inputs, labels, [f for _, f in folds])
    sequential = [train_folds(ctx, [i])[0].record for i, _ in folds]
    stacked = [trained.record for trained in train_folds(ctx, [i for i, _ in folds])]
    for seq, stack in zip(sequential, stacked):
        losses = [h["loss"] for h in seq["history"]]
        assert [h["loss"] for h in stack["history"]] == pytest.approx(losses, abs=2e-3)
        assert len(stack["probs"]) == len(seq["probs"])


def test_a_stacked_run_writes_folds_one_by_one_and_resumes_by_fold(make_config, fake_data, components,
                                                                  tmp_path: Path, monkeypatch) -> None:
    loaded = make_config({"train": {"epochs": 2, "batch_size": 8, "stack_folds": 2}})
    run_dir = tmp_path / "run"
    real = fold_module.train_folds
    calls: list[list[int]] = []

    def crash_in_second_stack(ctx, indices):
        calls.append(list(indices))
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash")
        return real(ctx, indices)

    monkeypatch.setattr(fold_module, "train_folds", crash_in_second_stack)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(loaded, components, run_dir=run_dir)
    assert calls == [[0, 1], [2, 3]]
    assert sorted(p.name for p in (run_dir / "folds").iterdir()) == ["000.json", "001.json"]
    record = json.loads((run_dir / "folds" / "001.json").read_text())
    assert record["stack"] == [0, 1] and record["index"] == 1 and len(record["history"]) == 2
    assert "folds 1-2/4: trained as one stack of 2" in (run_dir / "run.log").read_text()

    calls.clear()
    resumed = mertk.config.load_config(run_dir / "config.yaml", components)
    runner.run_experiment(resumed, components, run_dir=run_dir, resume=True)
    assert calls == [[2, 3]]
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 24
    assert sorted(p.name for p in (run_dir / "folds").iterdir()) == [f"00{i}.json" for i in range(4)]


def test_config_check_refuses_a_stack_of_a_model_that_cannot_stack(components, tmp_path: Path) -> None:
    svm = {"dataset": "demo", "model": "linear-svm", "preprocess": {"views": {"lbp-top": "lbp-top"}}}
    with pytest.raises(ConfigError, match=r"train\.stack_folds: 4: model 'linear-svm' cannot be trained "
                                          r"stacked: it is fitted"):
        validate_config({**svm, "train": {"stack_folds": 4}}, components)
    timm = {"name": "dual-atme",
            "backbone": {"name": "timm", "model_name": "resnet18", "kwargs": {"drop_rate": 0.2}}}
    with pytest.raises(ConfigError, match=r"backbone 'timm' \(model\.backbone\) cannot be trained stacked"):
        validate_config({"dataset": "demo", "model": timm, "train": {"stack_folds": 4},
                         "preprocess": {"views": {"face": "full-face", "hars": "hars"}}}, components)
    for setting in ("auto", "off"):  # auto falls back at run time, saying why
        validate_config({**svm, "train": {"stack_folds": setting}}, components)
    config = tmp_path / "svm.yaml"
    config.write_text("extends: lbp-top.yaml\ntrain: {stack_folds: 8}\n")
    result = invoke(["config", "check", str(config)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "model 'linear-svm' cannot be trained stacked" in result.output
    assert "stack_folds: off" in result.output


def test_auto_says_in_the_run_log_why_it_trains_one_fold_after_another(make_config, components, tmp_path: Path,
                                                                        monkeypatch) -> None:
    from mertk.engine import run as run_module
    from mertk.engine.run import Run

    data = synthetic_data()
    data.views["lbp-top"] = data.views["face"].clone()
    monkeypatch.setattr(run_module, "load_data", lambda loaded, components, **kwargs: data)
    for model, expected in ((mertk.config.load_config("lbp-top.yaml", components).config.model,
                             "model 'linear-svm' cannot be trained stacked: it is fitted"),
                            ({"name": "dual-atme", "hidden": 8}, "auto: one fold after another on cpu")):
        loaded = make_config({"model": model, "train": {"stack_folds": "auto"},
                              "preprocess": {"views": {"face": "full-face", "hars": "hars", "lbp-top": "lbp-top"}}})
        opened = []
        try:
            run = Run.start(loaded, components, run_dir=tmp_path / model["name"], resume=False, executor="here",
                            opened=opened)
            assert run.stack == 1 and run.groups() == [(0,), (1,), (2,), (3,)]
        finally:
            for folder in opened:
                folder.release()
        assert expected in (tmp_path / model["name"] / "run.log").read_text()


class _ItemModel(nn.Module):
    """A model whose forward reads a tensor value in Python, which vmap cannot batch."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.linear = nn.LazyLinear(num_classes)

    def forward(self, views) -> ModelOutput:
        x = views["face"].flatten(1)
        return ModelOutput(logits=self.linear(x) * (1.0 if float(x.sum()) > -1e9 else 0.0))


class _ItemPlugin:
    @mertk.hookimpl
    def register_models(self, register):
        register("item-model", _ItemModel)


def test_an_explicit_stack_of_a_model_vmap_cannot_run_fails_clearly(make_config, fake_data,
                                                                    tmp_path: Path) -> None:
    components = components_with(_ItemPlugin())
    overrides = ["model={name: item-model}", "loss=[cross-entropy]", "train.stack_folds=2"]
    loaded = mertk.config.load_config(make_config().file, components, overrides)
    with pytest.raises(MertkError, match=r"train\.stack_folds: model 'item-model' cannot be trained stacked "
                                         r".* Set train\.stack_folds: off"):
        runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "folds").exists() or not any((tmp_path / "run" / "folds").iterdir())


def test_stack_sizes() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert stack_size("off", cuda, 68) == 1 and stack_size(1, cuda, 68) == 1
    assert stack_size(16, cpu, 68) == 16 and stack_size(16, cpu, 5) == 5
    assert stack_size("auto", cpu, 68) == 1  # measured slower on CPU (benchmarks/stacked.py)
    assert stack_size("auto", cuda, 68) == 68 and stack_size("auto", cuda, 68, memory_limit=20) == 20
    assert stack_memory_limit(free_bytes=10_000, fold_bytes=1_000) == 5
    assert stack_memory_limit(free_bytes=100, fold_bytes=1_000) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_stacked_folds_on_cuda_are_the_sequential_models(make_config, monkeypatch) -> None:
    """On CUDA in fp32 (TF32 off), without dropout (CUDA's sequential dropout kernel takes no
    generator, so its masks are not reproduced bit for bit), SGD: eval logits within 1e-4."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    inputs, sequential, stacked = _train_both_ways(make_config, {
        "model": {"name": "dual-atme", "hidden": 32, "dropout": 0.0},
        "train": {"epochs": 3, "batch_size": 8, "precision": "fp32", "device": "cuda",
                  "optimizer": {"name": "sgd", "lr": 0.05}}}, device="cuda")
    for (seq_model, _), (stack_model, _) in zip(sequential, stacked):
        with torch.no_grad():
            assert (seq_model.eval()(inputs).logits - stack_model.eval()(inputs).logits).abs().max() < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_stacks_on_cuda(make_config, fake_data, components, tmp_path: Path) -> None:
    loaded = make_config({"train": {"epochs": 2, "batch_size": 8, "device": "cuda", "stack_folds": "auto"}})
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    log = (run_dir / "run.log").read_text()
    assert "auto: stacks of up to 4 folds on cuda" in log and "trained as one stack of 4" in log


def test_stacks_are_executor_tasks_and_a_pool_runs_them_side_by_side(make_config, fake_data, components,
                                                                     tmp_path: Path) -> None:
    """A stack of folds is one task: a pool of two workers trains the two stacks at once and writes
    the same folds as one process trains them, stack after stack."""
    def folds(executor: dict, name: str) -> dict[str, dict]:
        loaded = make_config({"train": {"epochs": 2, "batch_size": 8, "stack_folds": 2, "threads": 1},
                              "executor": executor, "output": {"export_model": False}})
        run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / name)
        assert (run_dir / "run.log").read_text().count("trained as one stack of 2") == 2
        return folds_of(run_dir)

    here = folds({"name": "local", "workers": 1, "threads": 1}, "here")
    pool = folds({"name": "local", "workers": 2, "threads": 1}, "pool")
    assert [r["stack"] for r in here.values()] == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert pool == here


def test_a_stacked_run_logs_the_same_history_columns_as_a_sequential_run(make_config, fake_data, components,
                                                                         tmp_path: Path) -> None:
    """One training loop: a stack's epochs carry their seconds and loss terms too, so history.csv (and
    the trackers) get the same columns either way, with real seconds."""
    import csv

    def history(stack_folds) -> tuple[list[str], list[dict[str, str]]]:
        loaded = make_config({"train": {"epochs": 2, "batch_size": 8, "stack_folds": stack_folds}})
        run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / str(stack_folds))
        with open(run_dir / "history.csv", newline="") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)

    sequential, stacked = history("off"), history(2)
    assert stacked[0] == sequential[0]
    assert {"seconds", "loss/focal", "loss/similarity"} <= set(stacked[0])
    assert len(stacked[1]) == len(sequential[1]) == 4 * 2
    assert all(float(row["seconds"]) > 0 and row["loss/focal"] and row["loss/similarity"] for row in stacked[1])
