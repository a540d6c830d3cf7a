"""Configs read the way the user meant them (issue 22, items 2, 5 and 11).

Out-of-range numbers and ``true``/``false`` for a number are refused by ``mertk config check``,
naming the key, the value and the allowed range, for the run's own sections, the built-in
components and a third-party factory alike. A key given twice is an error naming both lines. The
YAML 1.1 words ``off``/``on``/``yes``/``no`` are the text where a string is expected and the
boolean where a boolean is, in files and in ``--set``. A config that is not UTF-8 names its
encoding.
"""

from __future__ import annotations

import codecs
import textwrap
from typing import Any, Literal

import pytest
import yaml

from mertk.config import load_config
from mertk.registry import Components
from mertk.testing import components_with, invoke
from mertk.yamlfile import BoolWord

# a small config on the bundled Dual-ATME recipe: the real sections and components
BASE = "extends: dual-atme.yaml\nname: t\n"


def _check(tmp_path, text: str, *options: str):
    (tmp_path / "c.yaml").write_text(BASE + textwrap.dedent(text), encoding="utf-8")
    return invoke(["config", "check", str(tmp_path / "c.yaml"), *options])


def _refused(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert message in result.output, result.output


# ------------------------------------------------------------------ item 2: ranges and bools


@pytest.mark.parametrize("text, message", [
    ("train: {epochs: -3}", "c.yaml: train.epochs: input should be greater than or equal to 1, got -3"),
    ("train: {batch_size: 1}", "c.yaml: train.batch_size: input should be greater than or equal to 2, got 1"),
    ("train: {batch_size: true}", "c.yaml: train.batch_size: expected a number, not true/false, got True"),
    ("train: {optimizer: {lr: 0}}", "c.yaml: train.optimizer.lr: input should be greater than 0, got 0"),
    ("train: {optimizer: {weight_decay: -0.1}}",
     "c.yaml: train.optimizer.weight_decay: input should be greater than or equal to 0, got -0.1"),
    ("train: {optimizer: {lr: false}}", "c.yaml: train.optimizer.lr: expected a number, not true/false, got False"),
    ("seed: -1", "c.yaml: seed: input should be greater than or equal to 0, got -1"),
    ("preprocess: {align: {size: 0}}", "c.yaml: preprocess.align.size: input should be greater than or equal to 8"),
    ("preprocess: {workers: -2}", "c.yaml: preprocess.workers: input should be greater than or equal to 0, got -2"),
    ("preprocess: {views: {face: {name: full-face, size: 0}}}",
     "c.yaml: preprocess.views.face.size: input should be greater than or equal to 2, got 0"),
    ("protocol: {name: kfold, k: 1}", "c.yaml: protocol.k: input should be greater than or equal to 2, got 1"),
    ("executor: {name: local, workers: 0}",
     "c.yaml: executor.workers: input should be greater than or equal to 1, got 0"),
    ("loss: [{name: cross-entropy, weight: -1}]",
     "c.yaml: loss.0.weight: input should be greater than or equal to 0, got -1"),
    ("loss: [{name: cross-entropy, label_smoothing: 1.5}]",
     "c.yaml: loss.0.label_smoothing: input should be less than or equal to 1, got 1.5"),
    ("model: {dropout: 1.0}", "c.yaml: model.dropout: input should be less than 1, got 1.0"),
    ("model: {hidden: 0}", "c.yaml: model.hidden: input should be greater than 0, got 0"),
    ("model: {attention: {name: cbam, reduction: 0}}",
     "c.yaml: model.attention.reduction: input should be greater than 0, got 0"),
    ("model: {attention: {name: cbam, reduction: true}}",
     "c.yaml: model.attention.reduction: expected a number, not true/false, got True"),
], ids=lambda v: v.split(": ")[1] if v.startswith("c.yaml") else None)
def test_config_check_refuses_out_of_range_values_and_bools_for_numbers(tmp_path, text, message):
    _refused(_check(tmp_path, text), f"Error: {message}")


def test_set_values_are_range_checked_too(tmp_path):
    _refused(_check(tmp_path, "", "--set", "train.epochs=0"),
             "Error: --set train.epochs=0: train.epochs: input should be greater than or equal to 1, got 0")
    _refused(_check(tmp_path, "", "--set", "train.batch_size=yes"),
             "Error: --set train.batch_size=yes: train.batch_size: expected a number, not true/false, got 'yes'")


PLUGIN = '''
from __future__ import annotations

from typing import Annotated

from pydantic import Field

import mertk


class Gate:
    """A third-party attention with declared ranges."""

    def __init__(self, channels: int, reduction: Annotated[int, Field(ge=1)] = 4,
                 keep: Annotated[float, Field(ge=0, le=1)] = 0.5) -> None:
        self.channels = channels


@mertk.hookimpl
def register_attentions(register):
    register("t-gate", Gate)
'''


@pytest.mark.parametrize("arguments, message", [
    ("reduction: 0", "model.attention.reduction: input should be greater than or equal to 1, got 0"),
    ("keep: 1.5", "model.attention.keep: input should be less than or equal to 1, got 1.5"),
    ("reduction: true", "model.attention.reduction: expected a number, not true/false, got True"),
    ("keep: false", "model.attention.keep: expected a number, not true/false, got False"),
])
def test_a_third_party_factory_declares_ranges_like_a_builtin(tmp_path, arguments, message):
    (tmp_path / "tplugin.py").write_text(PLUGIN)
    (tmp_path / "c.yaml").write_text(BASE + f"model: {{attention: {{name: t-gate, {arguments}}}}}\n")
    result = invoke(["--plugin", str(tmp_path / "tplugin.py"), "config", "check", str(tmp_path / "c.yaml")])
    _refused(result, f"Error: c.yaml: {message}")
    (tmp_path / "c.yaml").write_text(BASE + "model: {attention: {name: t-gate, reduction: 2, keep: 1}}\n")
    result = invoke(["--plugin", str(tmp_path / "tplugin.py"), "config", "check", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ item 11: duplicate keys and YAML 1.1 words


def test_a_key_given_twice_is_an_error_naming_the_key_the_file_and_both_lines(tmp_path):
    _refused(_check(tmp_path, "seed: 1\nseed: 2\n"),
             "Error: c.yaml: seed: the key is given twice, on line 3 and on line 4")
    _refused(_check(tmp_path, "train:\n  epochs: 2\n  batch_size: 8\n  epochs: 3\n"),
             "Error: c.yaml: train.epochs: the key is given twice, on line 4 and on line 6")
    _refused(_check(tmp_path, "", "--set", "model={name: dual-atme, hidden: 8, hidden: 16}"),
             "Error: --set model={name: dual-atme, hidden: 8, hidden: 16}: model.hidden: the key is given twice, "
             "on line 1, column 19 and on line 1, column 30")


@pytest.fixture(scope="module")
def components() -> Components:
    return components_with()  # the built-ins and the bundled Dual-ATME plugin


@pytest.mark.parametrize("where", ["file", "--set"])
def test_yaml_words_mean_the_string_for_a_string_field_and_the_bool_for_a_bool_field(tmp_path, components, where):
    settings = {"train.stack_folds": "off", "output.checkpoints": "yes", "output.export_model": "no",
                "preprocess.align.rotate": "Off"}
    if where == "file":
        text = BASE + ("train: {stack_folds: off}\noutput: {checkpoints: yes, export_model: no}\n"
                       "preprocess: {align: {rotate: Off}}\n")
        (tmp_path / "c.yaml").write_text(text)
        loaded = load_config(tmp_path / "c.yaml", components)
    else:
        (tmp_path / "c.yaml").write_text(BASE)
        loaded = load_config(tmp_path / "c.yaml", components, [f"{k}={v}" for k, v in settings.items()])
    config = loaded.config
    assert config.train.stack_folds == "off" and type(config.train.stack_folds) is str
    assert config.output.checkpoints is True and config.output.export_model is False
    assert config.preprocess.align.rotate is False
    # the saved config (run folder's config.yaml) keeps the words and reads back the same
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(dict(loaded.data), sort_keys=False))
    assert "stack_folds: off" in again.read_text()
    assert load_config(again, components).config.model_dump() == config.model_dump()


class _Factory:
    def __init__(self, flag: bool = True, mode: Literal["auto", "off"] = "auto", label: str = "x",
                 ratio: float = 0.5, **extra: Any) -> None:
        self.arguments = dict(flag=flag, mode=mode, label=label, ratio=ratio, **extra)


def test_yaml_words_in_component_arguments_follow_the_factory_signature():
    components = Components()
    components["attention"].register("f", _Factory, plugin="t")
    spec = {"name": "f", "flag": BoolWord("no"), "mode": BoolWord("off"), "label": BoolWord("yes"),
            "other": BoolWord("on")}
    out = components.validate("attention", spec)
    assert out == {"name": "f", "flag": False, "mode": "off", "label": "yes", "other": True}
    assert [type(out[k]) for k in ("flag", "mode", "label", "other")] == [bool, str, str, bool]
    with pytest.raises(Exception, match="ratio: expected a number, not true/false, got 'off'"):
        components.validate("attention", {"name": "f", "ratio": BoolWord("off")})


# ------------------------------------------------------------------ item 5: encodings


@pytest.mark.parametrize("encoding, message", [
    ("utf-16", "is UTF-16 (little-endian) text, not UTF-8; a config is YAML text in UTF-8: save it as UTF-8"),
    ("utf-16-be-bom", "is UTF-16 (big-endian) text, not UTF-8"),
    ("utf-32", "is UTF-32 (little-endian) text, not UTF-8"),
    ("latin-1", "is not UTF-8 text (byte 0xe9 on line 2 is not UTF-8"),
    ("binary", "is binary, not text"),
])
def test_a_config_that_is_not_utf8_names_the_file_and_its_encoding(tmp_path, encoding, message):
    text = BASE + "# café\n"
    data = {"utf-16": lambda: text.encode("utf-16"),
            "utf-16-be-bom": lambda: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
            "utf-32": lambda: text.encode("utf-32"),
            "latin-1": lambda: b"name: t\n# caf\xe9\n",
            "binary": lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}[encoding]()
    (tmp_path / "c.yaml").write_bytes(data)
    result = invoke(["config", "check", str(tmp_path / "c.yaml")])
    _refused(result, f"Error: {tmp_path / 'c.yaml'}: the file {message}")
    # the same through `extends`
    (tmp_path / "child.yaml").write_text("extends: c.yaml\n")
    _refused(invoke(["config", "check", str(tmp_path / "child.yaml")]), f"Error: {tmp_path / 'c.yaml'}: the file")


def test_a_utf8_config_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "c.yaml").write_bytes(codecs.BOM_UTF8 + (BASE + "seed: 3\n").encode())
    result = invoke(["config", "check", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ item 3: the model's views exist


@pytest.mark.parametrize("text, options, message", [
    ("model: {views: [face, harz]}", (),
     "c.yaml: model.views: no view 'harz' (did you mean 'hars'?); the views preprocess.views makes: face, hars. "
     "Fix: name one of them, or add 'harz' to preprocess.views"),
    # the model's default views, ("face", "hars"), against views the config changed
    ("", ("--set", "preprocess.views={face: full-face}"),
     "c.yaml: model.views: no view 'hars'; the views preprocess.views makes: face."),
    # a one-view model of the baselines plugin names it with `view`
    ("model: {name: ststnet, view: flow}", ("--set", "preprocess.views={face: full-face}"),
     "c.yaml: model.view: no view 'flow'; the views preprocess.views makes: face."),
])
def test_config_check_refuses_a_model_view_that_preprocessing_does_not_make(tmp_path, text, options, message):
    _refused(_check(tmp_path, text, *options), f"Error: {message}")


def test_a_model_reading_views_that_preprocessing_makes_passes(tmp_path):
    result = _check(tmp_path, "preprocess: {views: {upper: full-face, lower: {name: hars}}}\n"
                              "model: {views: [upper, lower]}\n")
    assert result.exit_code == 0, result.output
