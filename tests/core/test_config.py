"""Config loading and validation: a table of bad configs and the exact messages they produce."""

from __future__ import annotations

from typing import Annotated, Callable, Literal

import pytest
import yaml

from mertk import ConfigError
from mertk.config import apply_overrides, deep_merge, find_config, load_config, validate_config
from mertk.engine.settings import OutputSettings, TrainSettings
from mertk.preprocess.settings import PreprocessSettings
from mertk.registry import Components, Ref
from mertk.settings import component


class Attention:
    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        self.channels, self.reduction = channels, reduction


class Model:
    def __init__(self, num_classes: int, in_channels: int,
                 attention: Annotated[Callable[..., Attention], Ref("attention", provided=("channels",))] = "cbam",
                 dropout: float = 0.5) -> None:
        self.attention = attention(channels=48)


class Dataset:
    def __init__(self, root: str = "", classes: Literal["megc3", "5class"] = "megc3") -> None:
        self.root = root


def _noop(**kwargs):
    return kwargs


@pytest.fixture
def components() -> Components:
    c = Components()
    c["attention"].register("cbam", Attention, plugin="t")
    c["model"].register("dual-atme", Model, plugin="t")
    c["dataset"].register("demo", Dataset, plugin="t")
    c["loss"].register("focal", lambda gamma=2.0, alpha=1.0: None, plugin="t")
    c["loss"].register("similarity", lambda: None, plugin="t")
    c["loss"].register("cross-entropy", lambda: None, plugin="t")
    c["protocol"].register("loso", lambda: None, plugin="t")
    c.register_section("preprocess", PreprocessSettings, plugin="t")
    c.register_section("train", TrainSettings, plugin="t")
    c.register_section("output", OutputSettings, plugin="t")
    c.register_section("executor", component("executor"), default="local", plugin="t")
    for kind, name in [("face_detector", "dlib-auto"), ("landmark_detector", "dlib-68"), ("apex_spotter", "max-motion"),
                       ("flow_extractor", "tvl1"), ("executor", "local")]:
        c[kind].register(name, _noop, plugin="t")
    c["roi_selector"].register("full-face", lambda size=28: None, plugin="t")
    return c


GOOD = {
    "name": "t",
    "seed": 1,
    "dataset": {"name": "demo"},
    "model": {"name": "dual-atme", "attention": {"name": "cbam", "reduction": 16}},
    "loss": [{"name": "focal", "gamma": 2}, {"name": "similarity", "weight": 0.01}],
    "train": {"epochs": 3},
}


def _with(path: str, value):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if value is DELETE:
        del node[keys[-1]]
    elif isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return data


DELETE = object()

BAD = [
    (_with("model.attention.reductoin", 8),
     "dual-atme.yaml: model.attention.reductoin: unexpected argument (did you mean 'reduction'?)"),
    (_with("model.attention.name", "cbma"),
     "dual-atme.yaml: model.attention.name: unknown attention 'cbma' (did you mean 'cbam'?); installed: cbam"),
    (_with("model.name", "dual-atm"),
     "dual-atme.yaml: model.name: unknown model 'dual-atm' (did you mean 'dual-atme'?); installed: dual-atme"),
    (_with("model.attention.reduction", "lots"),
     "dual-atme.yaml: model.attention.reduction: input should be a valid integer, unable to parse string as an "
     "integer, got 'lots'"),
    (_with("model.attention.channels", 3),
     "dual-atme.yaml: model.attention.channels: is set by mertk at run time; remove it from the config"),
    (_with("model.dropuot", 0.1),
     "dual-atme.yaml: model.dropuot: unexpected argument (did you mean 'dropout'?)"),
    (_with("trian", {"epochs": 1}), "dual-atme.yaml: trian: unknown key (did you mean 'train'?)"),
    (_with("train.epochs", "ten"),
     "dual-atme.yaml: train.epochs: input should be a valid integer, unable to parse string as an integer, got 'ten'"),
    (_with("train.optimizer.name", "adma"),
     "dual-atme.yaml: train.optimizer.name: input should be 'adam', 'adamw' or 'sgd', got 'adma'"),
    (_with("dataset", DELETE), "dual-atme.yaml: dataset: missing required key"),
    (_with("dataset.classes", "7class"),
     "dual-atme.yaml: dataset.classes: input should be 'megc3' or '5class', got '7class'"),
    (_with("loss.1.weight", "big"),
     "dual-atme.yaml: loss.1.weight: input should be a valid number, unable to parse string as a number, got 'big'"),
    (_with("loss.0.gama", 1), "dual-atme.yaml: loss.0.gama: unexpected argument (did you mean 'gamma'?)"),
    (_with("preprocess.align.szie", 64), "dual-atme.yaml: preprocess.align.szie: unknown key (did you mean 'size'?)"),
    (_with("preprocess.flow", {"name": "tvl2"}),
     "dual-atme.yaml: preprocess.flow.name: unknown flow_extractor 'tvl2' (did you mean 'tvl1'?); installed: tvl1"),
    (_with("preprocess.views", {"face": {"name": "ful-face"}}),
     "dual-atme.yaml: preprocess.views.face.name: unknown roi_selector 'ful-face' (did you mean 'full-face'?)"),
    (_with("on_error", "ignore"), "dual-atme.yaml: on_error: input should be 'stop' or 'skip', got 'ignore'"),
    (_with("model", 5), "dual-atme.yaml: model: expected a model name or a mapping with 'name', got 5"),
]


@pytest.mark.parametrize("data, message", BAD, ids=[m.split(": ")[1] for _, m in BAD])
def test_bad_configs(components, data, message):
    with pytest.raises(ConfigError) as exc:
        validate_config(data, components, file="dual-atme.yaml")
    assert str(exc.value).startswith(message), str(exc.value)


def test_good_config_normalised(components):
    config = validate_config(GOOD, components, file="x.yaml")
    assert config.model == {"name": "dual-atme", "attention": {"name": "cbam", "reduction": 16}}
    assert config.loss[1] == {"name": "similarity", "weight": 0.01}
    assert config.preprocess.flow == {"name": "tvl1"}
    model = components.build("model", config.model, num_classes=3, in_channels=3)
    assert model.attention.reduction == 16 and model.attention.channels == 48


def test_overrides(components):
    data = apply_overrides(GOOD, ["train.epochs=7", "model.attention.reduction=4", "loss.1.weight=0.1",
                                  "preprocess.align.size=64", "dataset=demo", "name=with spaces"])
    config = validate_config(data, components)
    assert config.train.epochs == 7 and config.model["attention"]["reduction"] == 4
    assert config.loss[1]["weight"] == 0.1 and config.preprocess.align.size == 64
    assert config.dataset == {"name": "demo"} and config.name == "with spaces"
    assert GOOD["train"]["epochs"] == 3  # the input is not modified


def test_override_into_named_component_string(components):
    data = apply_overrides({**GOOD, "model": "dual-atme"}, ["model.dropout=0.2"])
    assert data["model"] == {"name": "dual-atme", "dropout": 0.2}


@pytest.mark.parametrize("override, message", [
    ("train.epochs", "--set: train.epochs: expected KEY.PATH=VALUE"),
    ("loss.5.weight=1", "--set: loss.5: list index out of range (the list has 2 items)"),
    ("seed.x=1", "--set: seed: is 1, not a mapping"),
])
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError) as exc:
        apply_overrides(GOOD, [override])
    assert str(exc.value).startswith(message)


def test_extends_and_files(components, tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(GOOD))
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain: {batch_size: 8}\nloss: [{name: cross-entropy}]\n")
    loaded = load_config(tmp_path / "child.yaml", components, ["seed=5"])
    assert loaded.config.train.epochs == 3 and loaded.config.train.batch_size == 8
    assert loaded.config.loss == [{"name": "cross-entropy"}] and loaded.config.seed == 5
    assert loaded.data["train"] == {"epochs": 3, "batch_size": 8}
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="loop.yaml: extends: 'loop.yaml' extends itself"):
        load_config(tmp_path / "loop.yaml", components)


@pytest.mark.parametrize("text, message", [
    ("model: [unclosed\n", "bad.yaml: line 2, column 1: invalid YAML"),
    ("- a\n- b\n", "bad.yaml: the top level must be a mapping"),
    ("extends: 3\n", "bad.yaml: extends: expected a config file name, got 3"),
    ("x: !!python/object/apply:os.system ['echo hi']\n", "bad.yaml: line 1, column 4: invalid YAML"),
])
def test_bad_yaml(components, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, components)
    assert str(exc.value).startswith(message), str(exc.value)


def test_missing_config_suggests_bundled(components):
    with pytest.raises(ConfigError, match="no-such.yaml: no such file, and no bundled config of that name"):
        find_config("no-such.yaml", components)


def test_deep_merge_copies():
    base = {"a": {"b": [1]}, "c": 1}
    merged = deep_merge(base, {"a": {"d": 2}})
    merged["a"]["b"].append(2)
    assert base == {"a": {"b": [1]}, "c": 1} and merged == {"a": {"b": [1, 2], "d": 2}, "c": 1}


def test_a_setting_of_a_component_left_at_its_default_adjusts_the_default(components):
    """`--set executor.workers=3` on a config without `executor`: the default `local`, with 3 workers."""
    data = apply_overrides(GOOD, ["executor.workers=3"])
    assert data["executor"] == {"workers": 3}
    assert validate_config(data, components).executor == {"name": "local", "workers": 3}
    components["executor"].register("ray", lambda address=None: None, plugin="t")
    assert validate_config(apply_overrides(GOOD, ["executor.name=ray"]), components).executor == {"name": "ray"}

def test_a_bad_set_value_names_the_set_option(components, tmp_path):
    """The base file is fine; the value came from --set, so the message names that option."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(GOOD))
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "base.yaml", components, ["seed=2", "train.epochs=many"])
    assert str(exc.value).startswith("--set train.epochs=many: train.epochs: input should be a valid integer")
    with pytest.raises(ConfigError) as exc:  # a mapping set whole: the error is inside it
        load_config(tmp_path / "base.yaml", components, ["model={name: dual-atme, hiden: 3}"])
    assert str(exc.value).startswith("--set model={name: dual-atme, hiden: 3}: model.hiden: unexpected argument")
    bad = {**GOOD, "train": {"epochs": "many"}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as exc:  # the file's own mistake still names the file
        load_config(tmp_path / "bad.yaml", components, ["seed=2"])
    assert str(exc.value).startswith("bad.yaml: train.epochs:")


def test_a_missing_extends_target_names_the_config_that_extends_it(components, tmp_path):
    (tmp_path / "child.yaml").write_text("extends: bsae.yaml\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "child.yaml", components)
    assert str(exc.value).startswith(f"child.yaml: extends: 'bsae.yaml': not found next to it ({tmp_path / 'bsae.yaml'})")
    assert "no bundled config of that name" in str(exc.value)


TYPO_CHECK = """
import sys
import mertk
from mertk.config import load_config
for override in sys.argv[1:]:
    try:
        load_config("dual-atme.yaml", mertk.load_components(), [override])
    except mertk.ConfigError as exc:
        print(exc)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "cv2", "dlib", "kornia", "timm"})
print("heavy:", heavy)
"""


def test_typos_in_names_and_arguments_are_found_without_importing_torch() -> None:
    """A typo is reported from the factories' source (mertk.signatures), before torch, OpenCV or
    dlib load: the slow part of `mertk config check` is then never paid for a typo."""
    import subprocess
    import sys

    typos = ["model.attention.reductoin=8", "model.backbone.widht=3", "loss.0.gama=1",
             "preprocess.flow.name=tvl2", "preprocess.views.hars.regoins=[eyes]", "executor.wrokers=2",
             "executor.name=rya"]
    proc = subprocess.run([sys.executable, "-c", TYPO_CHECK, *typos], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:-1] == [  # each typo came from a --set option, so the message names that option
        f"--set {typos[0]}: model.attention.reductoin: unexpected argument (did you mean 'reduction'?)",
        f"--set {typos[1]}: model.backbone.widht: unexpected argument (did you mean 'widths'?)",
        f"--set {typos[2]}: loss.0.gama: unexpected argument (did you mean 'gamma'?)",
        f"--set {typos[3]}: preprocess.flow.name: unknown flow_extractor 'tvl2' (did you mean 'tvl1'?); "
        "installed: dis, farneback, torch-tvl1, tvl1",
        f"--set {typos[4]}: preprocess.views.hars.regoins: unexpected argument (did you mean 'regions' or "
        "'margin'?)",
        f"--set {typos[5]}: executor.wrokers: unexpected argument (did you mean 'workers'?)",
        f"--set {typos[6]}: executor.name: unknown executor 'rya' (did you mean 'ray'?); installed: local, ray",
    ]
    assert lines[-1] == "heavy: []"


def test_outline_read_from_source_matches_the_imported_signature() -> None:
    """For every lazily registered built-in and Dual-ATME factory whose source says, the names,
    required flags and nested kinds read without importing equal those of the imported factory."""
    import mertk
    from mertk.signatures import read_outline

    components = mertk.load_components(autoload=False)
    checked = 0
    for info in components.list():
        if callable(info.target):
            continue
        static = read_outline(info.target)
        if static is None:
            continue
        _ = info.factory  # import it: the outline now comes from the signature
        imported = info.outline
        assert {n: (p.required, p.ref, p.many) for n, p in static.parameters.items()} == \
            {n: (p.required, p.ref, p.many) for n, p in imported.parameters.items()}, info
        assert static.any_keyword == imported.any_keyword, info
        checked += 1
    assert checked >= 20
