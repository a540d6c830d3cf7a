"""Fixtures for core tests: throwaway plugins on disk and as installed distributions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

PLUGIN_SOURCE = '''
import click
import mertk

class Thing:
    """A throwaway component."""
    def __init__(self, size: int = 1):
        self.size = size

@mertk.hookimpl
def register_losses(register):
    register("{prefix}-loss", Thing)

@mertk.hookimpl
def register_attentions(register):
    register("{prefix}-attention", Thing)

@mertk.hookimpl
def register_commands(cli):
    @cli.command("{prefix}-hello")
    def hello():
        """Say hello."""
        click.echo("hello from {prefix}")
'''


def write_plugin(folder: Path, module: str, prefix: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    path.write_text(PLUGIN_SOURCE.replace("{prefix}", prefix) + textwrap.dedent(extra))
    return path


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A third-party plugin 'fakedist 1.2' installed (dist-info + entry point) on sys.path."""
    site = tmp_path / "site"
    write_plugin(site, "fake_mertk_plugin", "fake")
    info = site / "fakedist-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakedist\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[mertk]\nfake = fake_mertk_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("MERTK_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return site
