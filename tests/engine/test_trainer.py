"""The trainer: optimizers, schedules, determinism, loss sums, learning on separable data."""

from __future__ import annotations

import pytest
import torch

from mertk.engine.settings import TrainSettings
from mertk.engine.trainer import (
    Trainer,
    build_loss,
    build_model,
    make_optimizer,
    make_scheduler,
    normalize_views,
    predict,
    select_device,
    train_model,
)

from .conftest import synthetic_data


def fit(components, settings: TrainSettings, seed: int = 0, loss=None, **model):
    data = synthetic_data(subjects=2)
    views = normalize_views(data.views, 0.5, 0.5, torch.device("cpu"))
    labels = torch.tensor([s.label for s in data.samples])
    torch.manual_seed(seed)
    model = build_model({"name": "dual-atme", "hidden": 32, **model}, components, num_classes=3, in_channels=3,
                        sample={k: v[:2] for k, v in views.items()})
    loss = loss or build_loss([{"name": "focal"}, {"name": "similarity", "weight": 0.01}], components,
                              num_classes=3, class_counts=[4, 4, 4])
    history = train_model(model, loss, views, labels, settings, generator=torch.Generator().manual_seed(seed))
    return model, history, views, labels


@pytest.mark.parametrize("precision, fused", [("fp32", False), ("bf16", True)])
def test_training_learns_separable_data(components, precision: str, fused: bool) -> None:
    settings = TrainSettings(epochs=15, batch_size=6, precision=precision)
    model, history, views, labels = fit(components, settings, fused_branches=fused)
    assert len(history) == 15
    assert history[-1].loss < history[0].loss
    probs = predict(model, views, precision=precision)
    assert probs.shape == (12, 3)
    torch.testing.assert_close(probs.sum(1), torch.ones(12))
    assert (probs.argmax(1) == labels).float().mean() >= 0.9


def test_training_is_deterministic_for_a_seed(components) -> None:
    settings = TrainSettings(epochs=2, batch_size=5)
    a = predict(fit(components, settings, seed=3)[0], fit(components, settings, seed=3)[2])
    model_a = fit(components, settings, seed=3)[0]
    model_b = fit(components, settings, seed=3)[0]
    for (name, pa), (_, pb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert a.shape == (12, 3)


def test_trainer_epochs_continue_one_run(components) -> None:
    """Epoch by epoch, the Trainer keeps its optimizer state and schedule: it is train_model's run."""
    settings = TrainSettings(epochs=3, batch_size=5, scheduler={"name": "step", "step_size": 1, "gamma": 0.5})
    whole, history, views, labels = fit(components, settings, seed=4)
    torch.manual_seed(4)
    stepped = build_model({"name": "dual-atme", "hidden": 32}, components, num_classes=3, in_channels=3,
                          sample={k: v[:2] for k, v in views.items()})
    loss = build_loss([{"name": "focal"}, {"name": "similarity", "weight": 0.01}], components,
                      num_classes=3, class_counts=[4, 4, 4])
    trainer = Trainer(stepped, loss, views, labels, settings, generator=torch.Generator().manual_seed(4))
    stats = [trainer.epoch() for _ in range(3)]
    assert [s.epoch for s in stats] == [1, 2, 3]
    assert [s.lr for s in stats] == [h.lr for h in history] == [1e-3, 5e-4, 2.5e-4]
    assert len(trainer.optimizer.state) > 0
    for (name, a), (_, b) in zip(whole.state_dict().items(), stepped.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_loss_sum_weights_terms(components) -> None:
    from mertk.api import ModelOutput

    out = ModelOutput(logits=torch.tensor([[1.0, 0.0, 0.0]]),
                      features={"upper": torch.tensor([[1.0, 0.0]]), "lower": torch.tensor([[0.0, 1.0]])})
    target = torch.tensor([1])
    ce = torch.nn.functional.cross_entropy(out.logits, target).item()
    loss = build_loss([{"name": "cross-entropy", "weight": 2.0}, {"name": "similarity", "weight": 0.5}], components,
                      num_classes=3, class_counts=[1, 1, 1])
    assert loss(out, target).item() == pytest.approx(2 * ce + 0.5 * 1.0)
    assert loss.names == ["cross-entropy", "similarity"]


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimizers_and_schedules(name: str) -> None:
    from mertk.engine.settings import OptimizerSettings, SchedulerSettings

    p = torch.nn.Parameter(torch.ones(3))
    opt = make_optimizer([p], OptimizerSettings(name=name, lr=0.1), torch.device("cpu"))
    assert type(opt).__name__.lower() == name
    step = make_scheduler(opt, SchedulerSettings(name="step", step_size=2, gamma=0.5), epochs=10)
    for _ in range(2):
        opt.step()
        step.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    cosine = make_scheduler(make_optimizer([p], OptimizerSettings(name=name, lr=0.1), torch.device("cpu")),
                            SchedulerSettings(name="cosine"), epochs=4)
    assert cosine is not None
    assert make_scheduler(opt, SchedulerSettings(name="none"), epochs=4) is None


def test_select_device() -> None:
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("amx, avx512_bf16, capability, expected", [
    (True, False, "AVX512", torch.bfloat16),   # Intel with AMX
    (False, True, "AVX512", torch.bfloat16),   # AMD EPYC with AVX512-BF16, no AMX
    (False, False, "AVX512", None),            # AVX-512 without bf16 units
    (True, True, "AVX2", None),                # forced to the AVX2 code path: no bf16 kernels run
])
def test_auto_precision_is_bf16_where_the_cpu_has_bf16_units(monkeypatch, amx, avx512_bf16, capability,
                                                             expected) -> None:
    from mertk.engine.trainer import autocast_dtype

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) == expected
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu) == torch.bfloat16
