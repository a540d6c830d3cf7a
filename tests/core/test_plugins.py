"""Plugin discovery and every hook: entry points, switches, local plugins, typos."""

from __future__ import annotations

import sys
import types

import pytest

import mertk
import mertk.settings
from mertk import PluginError
from mertk.hookspecs import hookimpl
from mertk.plugins import HOOK_FOR_KIND, load_components, plugin_infos, plugin_manager
from mertk.registry import KINDS
from mertk.testing import components_with, invoke

from .conftest import write_plugin


def _plugin_for_every_kind() -> types.SimpleNamespace:
    """A plugin object implementing every register_* hook with one component each."""
    ns = types.SimpleNamespace()
    for kind, hook in HOOK_FOR_KIND.items():
        def impl(register, _kind=kind):
            register(f"every-{_kind}", dict, description=f"test {_kind}")
        setattr(ns, hook, hookimpl(impl))
    return ns


def test_every_register_hook_reaches_its_registry():
    components = components_with(_plugin_for_every_kind())
    for kind in KINDS:
        info = components[kind].get(f"every-{kind}")
        assert info.kind == kind and info.description == f"test {kind}"
        assert info.plugin not in ("<unknown>", "")


def test_register_commands_and_config_dirs_hooks(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: from-plugin\n")

    class Plugin:
        @hookimpl
        def register_commands(self, cli):
            import click

            @cli.command("ping")
            def ping():
                click.echo("pong")

        @hookimpl
        def register_config_dirs(self, register):
            register(tmp_path)

    pm = plugin_manager(autoload=False)
    pm.register(Plugin())
    from mertk.config import bundled_configs

    assert bundled_configs(load_components(pm))["mine.yaml"] == tmp_path / "mine.yaml"
    import click

    cli = click.Group()
    pm.hook.register_commands(cli=cli)
    assert "ping" in cli.commands


def test_deprecated_config_dirs_hook_still_works_and_warns(tmp_path):
    (tmp_path / "old.yaml").write_text("name: old-style\n")

    class OldPlugin:
        @hookimpl
        def mertk_config_dirs(self):
            return [str(tmp_path)]

    pm = plugin_manager(autoload=False)
    with pytest.warns(DeprecationWarning, match="register_config_dirs"):
        pm.register(OldPlugin())
    from mertk.config import bundled_configs

    assert bundled_configs(load_components(pm))["old.yaml"] == tmp_path / "old.yaml"


class _Extra(mertk.settings.Strict):
    workers: int = 1
    """How many."""


def test_plugin_config_section_is_validated_and_filled_in(tmp_path):
    class Plugin:
        @hookimpl
        def register_config_sections(self, register):
            register("extra", _Extra)

    components = components_with(Plugin())
    from mertk.config import validate_config

    data = {"dataset": "demo", "model": "ststnet"}
    assert validate_config(data, components).extra.workers == 1
    assert validate_config({**data, "extra": {"workers": 3}}, components).extra.workers == 3
    with pytest.raises(mertk.ConfigError, match=r"extra.wrokers: unknown key \(did you mean 'workers'\?\)"):
        validate_config({**data, "extra": {"wrokers": 3}}, components)
    without = mertk.load_components(autoload=False)
    with pytest.raises(mertk.ConfigError, match="extra: unknown key"):
        validate_config({**data, "extra": {"workers": 3}}, without)


def test_a_section_may_hold_one_component_spec():
    """`executor` is registered by mertk.execution as one component spec with a default; a plugin's
    own such section is validated against its kind's registry, and one without a default is refused."""
    from mertk.config import validate_config

    assert mertk.load_components(autoload=False).config_sections["executor"].plugin == "mertk.execution.plugin"

    class Plugin:
        @hookimpl
        def register_config_sections(self, register):
            register("tracker", mertk.settings.component("loss"), default="cross-entropy")

    data = {"dataset": "demo", "model": "ststnet"}
    components = components_with(Plugin())
    assert validate_config(data, components).tracker == {"name": "cross-entropy"}
    assert validate_config({**data, "tracker": {"name": "focal", "gamma": 1.0}}, components).tracker["gamma"] == 1.0
    with pytest.raises(mertk.ConfigError, match=r"tracker.gama: unexpected argument \(did you mean 'gamma'\?\)"):
        validate_config({**data, "tracker": {"name": "focal", "gama": 1.0}}, components)

    class NoDefault:
        @hookimpl
        def register_config_sections(self, register):
            register("tracker", mertk.settings.component("loss"))

    with pytest.raises(PluginError, match="config section 'tracker' holds a loss spec and needs a default spec"):
        components_with(NoDefault())


@pytest.mark.parametrize("key, message", [("train", "registered by both 'mertk.engine.plugin' and"),
                                          ("model", "one of the run config's own keys")])
def test_config_section_clashes_name_the_plugins(key, message):
    class Plugin:
        @hookimpl
        def register_config_sections(self, register):
            register(key, _Extra)

    with pytest.raises(PluginError, match=message):
        from mertk.config import run_config_model

        run_config_model(components_with(Plugin()))


def test_fresh_manager_each_time():
    a = components_with(_plugin_for_every_kind())
    b = mertk.load_components(autoload=False)
    assert "every-loss" in a["loss"] and "every-loss" not in b["loss"]


def test_entry_point_plugin_discovered_with_version(installed_plugin):
    components = load_components()
    assert components["loss"].get("fake-loss").plugin == "fake"
    info = {i.name: i for i in plugin_infos(components)}["fake"]
    assert (info.package, info.version) == ("fakedist", "1.2")
    assert ("attention", "fake-attention") in info.components


def test_autoload_switch(installed_plugin, monkeypatch):
    monkeypatch.setenv("MERTK_DISABLE_PLUGIN_AUTOLOAD", "1")
    components = load_components()
    assert "fake-loss" not in components["loss"]
    assert plugin_infos(components)  # mertk's own plug-ins still load
    monkeypatch.setenv("MERTK_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert "fake-loss" in load_components()["loss"]
    assert "fake-loss" not in load_components(autoload=False)["loss"]


def test_local_plugin_file_and_folder(tmp_path):
    file = write_plugin(tmp_path / "one", "solo_plugin", "solo")
    assert "solo-loss" in load_components(extra=[file], autoload=False)["loss"]
    write_plugin(tmp_path / "many", "first_plugin", "first")
    write_plugin(tmp_path / "many", "second_plugin", "second")
    components = load_components(extra=[tmp_path / "many"], autoload=False)
    assert {"first-loss", "second-loss"} <= {i.name for i in components["loss"]}
    infos = {i.name: i for i in plugin_infos(components)}
    assert any(i.package == "(local)" and ("loss", "first-loss") in i.components for i in infos.values())


def test_local_plugin_package_folder(tmp_path):
    pkg = tmp_path / "pkgplugin"
    write_plugin(pkg, "__init__", "pkg")
    assert "pkg-loss" in load_components(extra=[pkg], autoload=False)["loss"]
    sys.modules.pop("pkgplugin", None)


def test_local_package_with_hooks_in_a_module(tmp_path):
    """A package laid out for an entry point (hooks in pkg/plugin.py) loads from its folder;
    modules without hooks (here one that cannot even import) are left to the factories."""
    pkg = tmp_path / "layoutplugin"
    write_plugin(pkg, "plugin", "layout")
    (pkg / "__init__.py").write_text('"""A plugin package."""\n')
    (pkg / "modules.py").write_text("import not_a_real_module_xyz\n")
    try:
        components = load_components(extra=[pkg], autoload=False)
        assert "layout-loss" in components["loss"]
        assert "layoutplugin.modules" not in sys.modules
    finally:
        for name in [n for n in sys.modules if n.startswith("layoutplugin")]:
            sys.modules.pop(name)


def test_local_plugin_without_hooks_is_an_error(tmp_path):
    empty = tmp_path / "helpers.py"
    empty.write_text("def register_losses(register):\n    pass\n")  # not marked @mertk.hookimpl
    with pytest.raises(PluginError, match="helpers.py' implements no mertk hook"):
        plugin_manager(extra=[empty], autoload=False)


def test_missing_and_broken_local_plugins(tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        plugin_manager(extra=[tmp_path / "nope.py"], autoload=False)
    bad = tmp_path / "bad.py"
    bad.write_text("import not_a_real_module_xyz\n")
    with pytest.raises(PluginError, match="bad.py' failed to import: ModuleNotFoundError"):
        plugin_manager(extra=[bad], autoload=False)


def test_misspelled_hook_fails_loudly(tmp_path):
    typo = write_plugin(tmp_path, "typo_plugin", "typo", extra='''
        @mertk.hookimpl
        def register_attentoins(register):
            pass
    ''')
    with pytest.raises(PluginError, match="unknown hook 'register_attentoins' \\(did you mean 'register_attentions'"):
        plugin_manager(extra=[typo], autoload=False)


def test_wrong_hook_argument_fails_loudly():
    class Bad:
        @hookimpl
        def register_losses(self, registr):
            pass

    with pytest.raises(Exception, match="registr"):
        components_with(Bad())


def test_duplicate_component_across_plugins(tmp_path):
    a = write_plugin(tmp_path / "a", "dup_a", "dup")
    b = write_plugin(tmp_path / "b", "dup_b", "dup")
    with pytest.raises(PluginError, match=r"'dup-\w+' is registered twice: by plugin 'local:.*dup_a.py' and by plugin 'local:.*dup_b.py'"):
        load_components(extra=[a, b], autoload=False)


def test_cli_plugin_option_adds_command(tmp_path):
    file = write_plugin(tmp_path, "cli_plugin", "clip")
    result = invoke(["--plugin", str(file), "clip-hello"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hello from clip"
    result = invoke(["--plugin", str(file), "components", "loss", "clip-*"])
    assert "clip-loss" in result.output and "A throwaway component." in result.output


def test_cli_plugins_lists_installed(installed_plugin):
    result = invoke(["plugins"])
    assert result.exit_code == 0
    assert "fake  (fakedist 1.2)" in result.output
    assert "fake-attention" in result.output
    result = invoke(["--no-autoload", "plugins"])
    assert "fakedist" not in result.output


def test_registrations_go_through_pluggy_so_a_hook_wrapper_sees_and_vetoes_them():
    """register_* hooks are called through pm.hook: a wrapper=True implementation runs around the
    others, sees every registration of the call with the plugin that made it, and may veto one;
    the vetoed component is not registered, the others are, and pluggy's tracing sees the call."""
    seen = []

    class Losses:
        @hookimpl
        def register_losses(self, register):
            register("kept-loss", dict, description="kept")
            register("vetoed-loss", dict)

    class Gatekeeper:
        @hookimpl(wrapper=True)
        def register_losses(self, register):
            result = yield
            seen.extend((made.plugin, made.name) for made in register.made)
            for made in list(register.made):
                if made.name == "vetoed-loss":
                    register.veto(made)
            return result

    pm = plugin_manager(autoload=False)
    pm.register(Losses(), name="losses-plugin")
    pm.register(Gatekeeper(), name="gatekeeper")
    traced = []
    pm.trace.root.setwriter(traced.append)
    pm.enable_tracing()
    components = load_components(pm)
    assert ("losses-plugin", "kept-loss") in seen and ("losses-plugin", "vetoed-loss") in seen
    assert ("mertk.builtin.plugin", "cross-entropy") in seen or any(name == "cross-entropy" for _, name in seen)
    assert components["loss"].get("kept-loss").plugin == "losses-plugin"
    with pytest.raises(Exception, match="vetoed-loss"):
        components["loss"].get("vetoed-loss")
    assert any("register_losses" in line for line in traced)


def test_a_hook_wrapper_that_raises_refuses_the_registrations_naming_itself():
    class Refuser:
        @hookimpl(wrapper=True)
        def register_models(self, register):
            yield
            if any(made.name == "forbidden-model" for made in register.made):
                raise PluginError("refuser: model 'forbidden-model' is not allowed here")

    class Models:
        @hookimpl
        def register_models(self, register):
            register("forbidden-model", dict)

    with pytest.raises(PluginError, match="forbidden-model' is not allowed"):
        components_with(Models(), Refuser())
