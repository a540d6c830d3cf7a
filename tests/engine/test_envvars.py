from __future__ import annotations

import pytest

from mertk.engine.envvars import expand_env
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
