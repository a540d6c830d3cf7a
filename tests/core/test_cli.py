"""The mertk command line: core commands, error display, --debug, --set."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from mertk.testing import invoke

from .conftest import write_plugin

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
import mertk

class Thing:
    """Test component."""
    def __init__(self, size: int = 1, **provided):
        self.size = size

@mertk.hookimpl
def register_datasets(register):
    register("t-data", Thing)

class Model:
    """Test model."""
    def __init__(self, num_classes: int, in_channels: int, size: int = 1):
        self.size = size

@mertk.hookimpl
def register_models(register):
    register("t-model", Model)

@mertk.hookimpl
def register_roi_selectors(register):
    register("t-roi", Thing)

@mertk.hookimpl
def register_protocols(register):
    register("t-proto", Thing)

@mertk.hookimpl
def register_face_detectors(register):
    register("t-face", Thing)

@mertk.hookimpl
def register_landmark_detectors(register):
    register("t-landmarks", Thing)

@mertk.hookimpl
def register_apex_spotters(register):
    register("t-spot", Thing)

@mertk.hookimpl
def register_flow_extractors(register):
    register("t-flow", Thing)
'''

CONFIG = """
name: cli-test
dataset: t-data
model: {name: t-model, size: 2}
loss: []
protocol: t-proto
preprocess:
  face_detector: t-face
  landmark_detector: t-landmarks
  apex_spotter: t-spot
  flow: t-flow
  views: {face: t-roi}
train: {epochs: 2}
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    (tmp_path / "tplugin.py").write_text(PLUGIN)
    (tmp_path / "good.yaml").write_text(CONFIG)
    (tmp_path / "bad.yaml").write_text(CONFIG.replace("size: 2", "szie: 2"))
    monkeypatch.chdir(tmp_path)
    return ["--plugin", str(tmp_path / "tplugin.py")]


def test_version():
    from mertk import __version__

    result = invoke(["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"mertk, version {__version__}"


def test_components_kind_and_pattern(env):
    result = invoke([*env, "components", "dataset", "t-*"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "dataset:"
    assert "t-data" in result.output and "Test component." in result.output
    assert "model:" not in result.output
    result = invoke([*env, "components", "t-m*"])
    assert "model:" in result.output and "t-model" in result.output and "t-data" not in result.output
    result = invoke([*env, "components", "bogus"])
    assert result.exit_code == 1 and "unknown component kind 'bogus'" in result.output


def test_components_pattern_that_matches_nothing_says_so(env):
    result = invoke([*env, "components", "res*"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no component of any kind matches 'res*'" in result.output
    assert "Kinds: dataset, protocol," in result.output and "`mertk components`" in result.output
    result = invoke([*env, "components", "model", "t-d*"])
    assert result.exit_code == 1 and "no model component matches 't-d*'" in result.output


def test_components_examples_in_the_readme_and_help_list_something():
    from mertk.commands import components

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"mertk components((?: +(?:\"[^\"]*\"|'[^']*'|[\w-]+))*)", readme + components.help)
    assert len(examples) >= 4 and any("*" in e for e in examples), examples
    for example in examples:
        result = invoke(["components", *shlex.split(example)])
        assert result.exit_code == 0 and result.output.strip(), (example, result.output)


def test_config_check_good_and_bad(env):
    result = invoke([*env, "config", "check", "good.yaml"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("good.yaml: OK")
    result = invoke([*env, "config", "check", "bad.yaml"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: bad.yaml: model.szie: unexpected argument (did you mean 'size'?)"
    assert "Traceback" not in result.output


def test_set_override_is_validated(env):
    result = invoke([*env, "config", "check", "good.yaml", "--set", "train.epochs=many"])
    assert result.exit_code == 1
    assert "--set train.epochs=many: train.epochs: input should be a valid integer" in result.output


def test_config_show_prints_file_and_resolved(env, tmp_path):
    result = invoke([*env, "config", "show", "good.yaml"])
    assert result.exit_code == 0 and result.output == CONFIG
    result = invoke(["config", "show", "no-such-config.yaml"])
    assert result.exit_code == 1 and "no bundled config of that name" in result.output


def test_config_show_resolved_prints_the_task_that_runs(env, tmp_path):
    import yaml

    for extra in ([], ["--set", "task=null"]):  # no task key, or an explicit null: the default task
        result = invoke([*env, "config", "show", "good.yaml", "--resolved", *extra])
        assert result.exit_code == 0, result.output
        resolved = yaml.safe_load(result.output)
        assert resolved["task"] == {"name": "emotion"}, extra
    (tmp_path / "resolved.yaml").write_text(result.output)  # what is printed runs as the original does
    again = invoke([*env, "config", "show", "resolved.yaml", "--resolved"])
    assert again.exit_code == 0 and again.output == result.output


def test_debug_shows_traceback(env):
    result = invoke(["--debug", *env, "config", "check", "bad.yaml"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ConfigError"


def test_run_needs_config_or_resume(env, tmp_path):
    result = invoke([*env, "run"])
    assert result.exit_code == 2 and "give a CONFIG" in result.output
    result = invoke([*env, "run", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "not a mertk run folder" in result.output


def test_console_script_exit_code_and_no_traceback(tmp_path):
    """The installed entry point prints one line and exits 1 for a broken plugin path."""
    proc = subprocess.run([sys.executable, "-c", "from mertk.cli import main; main()", "--plugin",
                           str(tmp_path / "missing.py"), "plugins"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("Error: plugin path") and "Traceback" not in proc.stderr


def test_misspelled_name_check_imports_no_torch(env, tmp_path):
    """Checking a config with a misspelled component name never imports the heavy libraries."""
    (tmp_path / "typo.yaml").write_text(CONFIG.replace("t-model", "t-modle"))
    code = textwrap.dedent(f"""
        import sys
        from mertk.cli import main
        try:
            main({[*env, 'config', 'check', 'typo.yaml']!r})
        except SystemExit as exc:
            print("exit", exc.code, "torch" in sys.modules, file=sys.stderr)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert "typo.yaml: model.name: unknown model 't-modle' (did you mean 't-model'?)" in proc.stderr
    assert proc.stderr.strip().endswith("exit 1 False"), proc.stderr


REST_MARKUP = re.compile(r"``|:(?:class|func|meth|mod|data|attr|obj|exc|ref|doc):`|::\s*$", re.MULTILINE)


def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            paths += _command_paths(sub, (*path, name))
    return paths


def test_no_help_shows_rest_markup(tmp_path) -> None:
    """Every command's --help (core, mertk's plugins and a plugin's own, whose docstring and option
    help use reST) is plain text: docstrings are written for the API reference, not a terminal."""
    from mertk.cli import build_cli

    plugin = write_plugin(tmp_path, "rest_plugin", "rest", extra='''
        @mertk.hookimpl
        def register_commands(cli):
            @cli.command("rest-doc")
            @click.option("--mode", help="With ``on_error: stop``, see :func:`mertk.config.load_config`.")
            def doc(mode):
                """Run it::

                    mertk rest-doc

                Fails with a :class:`~mertk.errors.MertkError` when ``mode`` is ``'x'``.
                """
    ''')
    args = ["--plugin", str(plugin)]
    paths = _command_paths(build_cli(args))
    assert ("preprocess",) in paths and ("rest-doc",) in paths and ("datasets", "inspect") in paths
    for path in paths:
        result = invoke([*args, *path, "--help"])
        assert result.exit_code == 0, result.output
        assert not REST_MARKUP.search(result.output), f"mertk {' '.join(path)} --help:\n{result.output}"
    shown = invoke([*args, "rest-doc", "--help"]).output
    assert "a MertkError when 'mode' is \"'x'\"" in " ".join(shown.split())
    assert "With 'on_error: stop', see mertk.config.load_config." in " ".join(shown.split())


RAY_CONFIG = CONFIG + "executor: {name: ray, num_cpus: 1}\n"


def _cli_without_ray(env: list[str], args: list[str], cwd, *, hide_ray: bool) -> subprocess.CompletedProcess:
    """``mertk ARGS`` in a fresh interpreter; ``hide_ray``: ``import ray`` fails there, as where the
    extra is not installed. Prints, last on stderr, the exit code and whether ray was imported."""
    code = textwrap.dedent(f"""
        import sys
        if {hide_ray!r}:
            sys.modules["ray"] = None  # import ray -> ImportError; find_spec -> None
        from mertk.cli import main
        try:
            main({[*env, *args]!r})
        except SystemExit as exc:
            print("exit", exc.code, sys.modules.get("ray") is not None, file=sys.stderr)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def test_the_ray_executor_without_ray_is_refused_by_config_check_and_before_a_run_folder(env, tmp_path):
    (tmp_path / "ray.yaml").write_text(RAY_CONFIG)
    message = ('Error: ray.yaml: executor.name: executor \'ray\' needs the Python package \'ray\', which is not '
               'installed. Fix: pip install "mertk[ray]", or choose another executor')
    check = _cli_without_ray(env, ["config", "check", "ray.yaml"], tmp_path, hide_ray=True)
    assert message in check.stderr and "Traceback" not in check.stderr, check.stderr
    assert check.stderr.strip().endswith("exit 1 False")
    run = _cli_without_ray(env, ["run", "ray.yaml"], tmp_path, hide_ray=True)
    assert message in run.stderr and run.stderr.strip().endswith("exit 1 False"), run.stderr
    assert not (tmp_path / "runs").exists()  # no run folder
    override = _cli_without_ray(env, ["config", "check", "good.yaml", "--set", "executor.name=ray"], tmp_path,
                                hide_ray=True)
    assert "--set executor.name=ray: executor.name: executor 'ray' needs the Python package 'ray'" in override.stderr

    import importlib.util

    if importlib.util.find_spec("ray") is not None:  # where it is installed, the check passes without importing it
        found = _cli_without_ray(env, ["config", "check", "ray.yaml"], tmp_path, hide_ray=False)
        assert "ray.yaml: OK" in found.stdout and found.stderr.strip().endswith("exit 0 False"), found.stderr


def test_a_config_naming_the_apex_spotter_by_its_old_key_still_checks(env, tmp_path):
    # preprocess.spotter (before mertk 0.3) is read as preprocess.apex_spotter, with a warning
    (tmp_path / "old.yaml").write_text(CONFIG.replace("apex_spotter: t-spot", "spotter: t-spot"))
    with pytest.warns(FutureWarning, match="preprocess.spotter is now called preprocess.apex_spotter"):
        result = invoke([*env, "config", "check", "old.yaml"])
    assert result.exit_code == 0, result.output
    (tmp_path / "both.yaml").write_text(CONFIG.replace("apex_spotter: t-spot", "apex_spotter: t-spot\n  spotter: x"))
    result = invoke([*env, "config", "check", "both.yaml"])
    assert result.exit_code == 1 and result.output.startswith("Error: both.yaml: preprocess:")
    assert "preprocess.spotter is the old name of preprocess.apex_spotter" in result.output
    assert "delete preprocess.spotter" in result.output
    assert "Traceback" not in result.output


def test_an_apex_spotter_registered_through_the_old_hook_is_refused_naming_the_new_one(env, tmp_path):
    # a plugin written before mertk 0.3 registers its apex spotter through register_spotters, which
    # now registers long-video spotters: the config is refused with the migration, not run with another one
    plugin = (tmp_path / "tplugin.py").read_text().replace("def register_apex_spotters", "def register_spotters")
    (tmp_path / "oldplugin.py").write_text(plugin)
    result = invoke(["--plugin", str(tmp_path / "oldplugin.py"), "config", "check", "good.yaml"])
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "preprocess.apex_spotter.name: unknown apex_spotter 't-spot'" in message
    assert "oldplugin.py' through register_spotters(), which since mertk 0.3 registers spotter components" in message
    assert "rename the hook register_spotters to register_apex_spotters" in message
    assert "Traceback" not in result.output
