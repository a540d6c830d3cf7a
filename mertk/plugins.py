"""Plugin discovery: built-in plugins, entry points of group ``mertk``, one-off local plugins.

Every call to :func:`plugin_manager` makes a new :class:`pluggy.PluginManager`; nothing is
kept at module level, so two runs (or two tests) never see each other's plugins.

Switches:
    ``MERTK_DISABLE_PLUGIN_AUTOLOAD=1``: do not load third-party entry points (the plug-ins
    shipped inside the ``mertk`` distribution still load).
    ``load_components(extra=[path])`` / ``mertk --plugin PATH``: load a plugin module file
    (``my_plugin.py``) or a folder (every ``*.py`` in it, or the package it is: its
    ``__init__`` and the modules that mention ``hookimpl``) for one run.
"""

from __future__ import annotations

import bisect
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from mertk import hookspecs
from mertk.errors import PluginError, did_you_mean
from mertk.hookspecs import HOOK_FOR_KIND
from mertk.registry import Components
from mertk.version import __version__

__all__ = ["PluginManager", "BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "DISABLE_AUTOLOAD_ENV", "HOOK_FOR_KIND",
           "plugin_manager", "load_components", "Registration", "Registrations", "PluginInfo", "plugin_infos",
           "check_hooks", "PluginRecipe", "plugin_recipe"]

ENTRY_POINT_GROUP = "mertk"
DISABLE_AUTOLOAD_ENV = "MERTK_DISABLE_PLUGIN_AUTOLOAD"

#: Modules of core that register generic components through the hooks, like any plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "mertk.data.plugin",
    "mertk.evaluation.plugin",
    "mertk.preprocess.plugin",
    "mertk.engine.plugin",
    "mertk.builtin.plugin",
    "mertk.bench.plugin",
    "mertk.inference.plugin",
    "mertk.spotting.plugin",
    "mertk.trackers.plugin",
    "mertk.execution.plugin",
)



def _has_hooks(module: ModuleType) -> bool:
    """Whether ``module`` defines functions marked with ``@mertk.hookimpl``."""
    marker = f"{hookspecs.PROJECT}_impl"
    return any(hasattr(getattr(module, name, None), marker) for name in dir(module))


def _import_local(path: Path) -> list[ModuleType]:
    """Import a plugin file, or a folder's ``*.py`` files (or the package it is); return those with hooks.

    A package's hooks may be in its ``__init__`` or, as an entry point would name them, in its
    modules (``pkg/plugin.py``): the modules whose source mentions ``hookimpl`` are imported,
    the others (say, ones that import torch) are left for the component factories to import.

    Raises:
        PluginError: the path does not exist, a module fails to import, or nothing in it
            implements a mertk hook.
    """
    path = path.resolve()
    if not path.exists():
        raise PluginError(f"plugin path {str(path)!r} does not exist; pass a .py file or a folder of them")
    if path.is_dir() and (path / "__init__.py").exists():
        hooked = [f.stem for f in sorted(path.glob("*.py"))
                  if f.stem != "__init__" and "hookimpl" in f.read_text(errors="replace")]
        sys.path.insert(0, str(path.parent))
        try:
            modules = [importlib.import_module(name) for name in [path.name] + [f"{path.name}.{s}" for s in hooked]]
        except Exception as exc:
            raise PluginError(f"plugin package {str(path)!r} failed to import: {exc!r}") from exc
        finally:
            sys.path.remove(str(path.parent))
    else:
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        modules = [_import_file(file) for file in files]
    found = [m for m in modules if _has_hooks(m)]
    if not found:
        raise PluginError(f"plugin path {str(path)!r} implements no mertk hook: nothing in it is marked "
                          "@mertk.hookimpl (for example `def register_losses(register)`); see the plugin tutorial")
    return found


def _import_file(file: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mertk_local_plugin_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin file {str(file)!r}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PluginError(f"plugin file {str(file)!r} failed to import: {exc!r}") from exc
    return module


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering which distribution each entry-point plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, importlib.metadata.Distribution] = {}
        #: How :func:`plugin_manager` made it (see :func:`plugin_recipe`).
        self.builtins = True
        self.autoload = True
        self.extra: tuple[str, ...] = ()


def plugin_manager(*, autoload: bool | None = None, extra: Sequence[str | Path] = (),
                   builtins: bool = True) -> PluginManager:
    """Make a fresh plugin manager with built-ins, entry points and one-off local plugins.

    Args:
        autoload: Load third-party entry points of group ``mertk``. Default: on, unless the
            environment variable ``MERTK_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value.
        extra: Plugin module files or folders to load for this run only.
        builtins: Register core's built-in plugins (off only in tests of the plugin system).

    Raises:
        PluginError: a plugin fails to import, or implements a hook that does not exist.
    """
    pm = PluginManager()
    pm.builtins = builtins
    if builtins:
        for name in BUILTIN_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").lower() not in ("1", "true", "yes", "on")
    pm.autoload = autoload
    pm.extra = tuple(str(Path(p).resolve()) for p in extra)
    _load_entry_points(pm, third_party=autoload)
    for path in extra:
        for module in _import_local(Path(path)):
            pm.register(module, name=f"local:{module.__file__}")
    check_hooks(pm)
    return pm


def _load_entry_points(pm: PluginManager, *, third_party: bool) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ""
        if not third_party and dist.lower() != "mertk":
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} (package {dist!r}) failed to import: {exc!r}. Reinstall or "
                f"uninstall it, or set {DISABLE_AUTOLOAD_ENV}=1 to skip third-party plugins."
            ) from exc
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            pm.distributions[ep.name] = ep.dist


def check_hooks(pm: pluggy.PluginManager) -> None:
    """Refuse hook implementations that match no hook (a typo), naming the plugin and a suggestion."""
    known = [n for n in dir(hookspecs) if n.startswith("register_")]
    for name in dir(pm.hook):
        if name.startswith("_"):
            continue
        caller = getattr(pm.hook, name)
        if getattr(caller, "spec", None) is None and caller.get_hookimpls():
            plugins = ", ".join(repr(i.plugin_name) for i in caller.get_hookimpls())
            raise PluginError(
                f"plugin {plugins} implements unknown hook {name!r}{did_you_mean(name, known)}; "
                f"hooks: {', '.join(known)}"
            )
    pm.check_pending()


@dataclass(frozen=True)
class PluginRecipe:
    """How to load the same plugins in another process, e.g. a worker of an executor.

    Attributes:
        autoload: Load third-party entry points.
        extra: Plugin files or folders given with ``--plugin`` (absolute paths).
        modules: Names of importable plugin modules registered from Python (``components_with``).
        builtins: Register core's built-in plugins.
    """

    autoload: bool
    extra: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    builtins: bool = True

    def load(self) -> Components:
        """Fresh registries filled by the same plugins."""
        pm = plugin_manager(autoload=self.autoload, extra=self.extra, builtins=self.builtins)
        for name in self.modules:
            module = importlib.import_module(name)
            if not pm.is_registered(module):
                pm.register(module, name=name)
        check_hooks(pm)
        return load_components(pm)


def plugin_recipe(components: Components) -> PluginRecipe:
    """The :class:`PluginRecipe` of the plugin manager that filled ``components``.

    Raises:
        PluginError: a plugin cannot be loaded again elsewhere (an object registered from
            Python that is not an importable module), or ``components`` came from no plugin manager.
    """
    pm = components.plugin_manager
    if not isinstance(pm, PluginManager):
        raise PluginError("these components were not made by mertk.plugins.plugin_manager, so worker processes "
                          "cannot load the same plugins; build them with mertk.load_components()")
    modules = []
    for name, plugin in pm.list_name_plugin():
        if name in BUILTIN_PLUGINS or name.startswith("local:") or name in pm.distributions or plugin is None:
            continue
        module = getattr(plugin, "__name__", None)
        if not (isinstance(plugin, ModuleType) and sys.modules.get(module) is plugin
                and getattr(plugin, "__spec__", None) is not None and not module.startswith("mertk_local_plugin_")):
            raise PluginError(f"plugin {name!r} was registered from Python and is not an importable module, so "
                              "worker processes cannot load it. Fix: package it (an entry point), load it with "
                              "--plugin PATH, or run with executor workers: 1")
        modules.append(module)
    return PluginRecipe(autoload=pm.autoload, extra=pm.extra, modules=tuple(modules), builtins=pm.builtins)


@dataclass
class PluginInfo:
    """A loaded plugin: its name, distribution, version and what it registered."""

    name: str
    package: str
    version: str
    components: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)


def load_components(pm: PluginManager | None = None, *, extra: Sequence[str | Path] = (),
                    autoload: bool | None = None) -> Components:
    """Build a fresh :class:`~mertk.registry.Components` filled by every plugin's hooks.

    Each ``register_*`` hook is called once through pluggy (``pm.hook.<name>``), so hook wrappers
    and pluggy's tracing see it, with a :class:`Registrations` as ``register``: it notes which
    plugin made each registration, and the registrations left once the call returns (wrappers may
    veto some) go into the registries in plugin registration order, so duplicate names raise
    naming both plugins.
    """
    pm = pm or plugin_manager(extra=extra, autoload=autoload)
    components = Components(plugin_manager=pm)
    for kind, hook_name in HOOK_FOR_KIND.items():
        registry = components[kind]
        for made in _call(pm, hook_name).made:
            factory, options = made.value("factory")
            registry.register(made.name, factory, plugin=made.plugin, **options)
    for made in _call(pm, "register_config_sections").made:
        model, options = made.value("model")
        components.register_section(made.name, model, plugin=made.plugin, **options)
    components.config_dirs.extend(str(made.name) for made in _call(pm, "register_config_dirs").made)
    for folders in pm.hook.mertk_config_dirs():  # deprecated; pluggy warns when it is implemented
        components.config_dirs.extend(str(f) for f in folders)
    return components


@dataclass
class Registration:
    """One ``register(name, *args, **options)`` call a plugin's hook made.

    Attributes:
        plugin: The name of the plugin whose hook implementation made it.
        hook: The hook it was made in (``register_losses``).
        name: The first argument: the component's name (the section's key, the config folder).
        args: The other positional arguments (the factory, the section's model).
        options: The keyword arguments (``description``, ``default``).
        position: The plugin's place in registration order (registrations are applied in it).
    """

    plugin: str
    hook: str
    name: Any
    args: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    position: int = 0

    def value(self, keyword: str) -> tuple[Any, dict[str, Any]]:
        """The second argument, given by position or as ``keyword``, and the other options.

        Raises:
            PluginError: it was not given.
        """
        options = dict(self.options)
        if self.args:
            return self.args[0], options
        if keyword in options:
            return options.pop(keyword), options
        raise PluginError(f"plugin {self.plugin!r}: {self.hook}: register({self.name!r}) needs the {keyword} as "
                          f"its second argument: register(name, {keyword})")


class Registrations:
    """The ``register`` callable of one ``register_*`` hook call; what it collected is :attr:`made`.

    A registration is noted with the plugin whose hook implementation made it (found on the call
    stack, so a helper function the implementation calls may register too). Nothing reaches the
    registries until the whole call (wrappers included) has returned: a ``wrapper=True`` hook
    implementation sees every registration after its ``yield`` and may :meth:`veto` some.
    """

    def __init__(self, hook: str, impls: Sequence[Any]) -> None:
        self.hook = hook
        #: Registrations in plugin registration order (the order components are listed), vetoed ones left out.
        self.made: list[Registration] = []
        # id(code) -> (position, plugin name, plugin); by identity: equal code of two files compares equal
        self._impls: dict[int, list[tuple[int, str, object]]] = {}
        for position, impl in enumerate(impls):
            code = getattr(getattr(impl.function, "__func__", impl.function), "__code__", None)
            if code is not None:
                self._impls.setdefault(id(code), []).append((position, impl.plugin_name, impl.plugin))

    def __call__(self, name: Any, *args: Any, **options: Any) -> None:
        position, plugin = self._caller()
        made = Registration(plugin, self.hook, name, args, options, position)
        bisect.insort(self.made, made, key=lambda r: r.position)  # after equal positions: a plugin's order kept

    def veto(self, registration: Registration) -> None:
        """Leave ``registration`` out of the registries (a hook wrapper's decision)."""
        self.made.remove(registration)

    def _caller(self) -> tuple[int, str]:
        """The position and name of the hook implementation on the call stack."""
        frame = inspect.currentframe()
        while frame is not None:
            found = self._impls.get(id(frame.f_code), [])
            if len(found) > 1:  # one method of a class whose instances are several plugins: its `self` says which
                found = [f for f in found if frame.f_locals.get("self") is f[2]]
            if len(found) == 1:
                return found[0][:2]
            if found:
                break
            frame = frame.f_back
        else:
            raise PluginError(f"{self.hook}: register() was called from outside a hook implementation (a thread, "
                              "or a function stored and called later); call it while the hook runs")
        raise PluginError(f"{self.hook}: plugins {', '.join(repr(f[1]) for f in found)} share one hook function, so "
                          "their registrations cannot be told apart; give each plugin its own function")


def _call(pm: pluggy.PluginManager, hook_name: str) -> Registrations:
    """Call ``pm.hook.<hook_name>(register=...)`` once; the registrations it made."""
    caller = getattr(pm.hook, hook_name)
    register = Registrations(hook_name, caller.get_hookimpls())
    caller(register=register)
    return register


def plugin_infos(components: Components) -> list[PluginInfo]:
    """Describe every loaded plugin with its package, version and components."""
    pm = components.plugin_manager
    if pm is None:
        return []
    infos: dict[str, PluginInfo] = {}
    for name, plugin in pm.list_name_plugin():
        dist = pm.distributions.get(name)
        if dist is not None:
            infos[name] = PluginInfo(name, dist.metadata["Name"], dist.version)
        elif name in BUILTIN_PLUGINS:
            infos[name] = PluginInfo(name, "mertk", __version__)
        else:
            infos[name] = PluginInfo(name, "(local)", getattr(plugin, "__version__", ""))
    for info in components.list():
        if info.plugin in infos:
            infos[info.plugin].components.append((info.kind, info.name))
    return sorted(infos.values(), key=lambda i: (i.package != "mertk", i.name))

