"""The docs site builds strictly and documents every hook and component kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mertk.hookspecs
from mertk.registry import KINDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_hook_is_documented(site):
    html = (site / "plugins" / "hooks" / "index.html").read_text()
    hooks = [n for n in dir(mertk.hookspecs) if n.startswith(("register_", "mertk_"))]
    assert len(hooks) == len(KINDS) + 2
    for hook in hooks:
        assert f'id="mertk.hookspecs.{hook}"' in html, f"hook {hook} missing from the hook reference"
        assert getattr(mertk.hookspecs, hook).__doc__, f"hook {hook} has no docstring"


def test_every_kind_has_a_contract(site):
    text = (ROOT / "docs" / "plugins" / "contracts.md").read_text()
    for kind in KINDS:
        assert f"| `{kind}` |" in text, f"component kind {kind} has no row in the contracts table"
