from __future__ import annotations

import pytest

from mertk.envvars import expand_env
from mertk.errors import ConfigError


def test_expands_braced_variables_in_nested_strings() -> None:
    env = {"DATA": "/data", "SUB": "casme"}
    node = {"name": "x", "root": "${DATA}/${SUB}2", "list": ["${DATA}", 3], "plain": "$DATA", "n": 1}
    assert expand_env(node, environ=env) == {"name": "x", "root": "/data/casme2", "list": ["/data", 3],
                                             "plain": "$DATA", "n": 1}


def test_unset_variable_names_key_and_fix() -> None:
    with pytest.raises(ConfigError, match=r"cfg.yaml: dataset.casme2_root: environment variable CASME2_ROOT is not set.*"
                                          r"--set dataset.casme2_root=PATH"):
        expand_env({"casme2_root": "${CASME2_ROOT}"}, file="cfg.yaml", key="dataset", environ={})


def test_load_config_expands_after_overrides(tmp_path, monkeypatch):
    import mertk
    from mertk.config import load_config

    components = mertk.load_components(autoload=False)
    monkeypatch.delenv("CASME2_ROOT", raising=False)
    with pytest.raises(ConfigError, match="dual-atme-megc2019.yaml: dataset.casme2_root: environment variable "
                                          "CASME2_ROOT is not set"):
        load_config("dual-atme-megc2019.yaml", components)
    monkeypatch.setenv("CASME2_ROOT", "/data/casme2")
    loaded = load_config("dual-atme-megc2019.yaml", components,
                         ["dataset.samm_root=/data/samm", "dataset.smic_root=/data/smic"])
    assert loaded.config.dataset["casme2_root"] == "/data/casme2"
    assert loaded.data["dataset"]["samm_root"] == "/data/samm"
