"""mertk: the micro-expression recognition toolkit.

Public API::

    import mertk
    components = mertk.load_components()          # fresh registries filled by all plugins
    components.list("attention", "cb*")           # shell-style wildcards
    cbam = components.create("attention", "cbam", channels=48)

Plugins implement hooks from :mod:`mertk.hookspecs` with the :data:`hookimpl` marker.
"""

from __future__ import annotations

from mertk.errors import ConfigError, MertkError, PluginError
from mertk.hookspecs import hookimpl
from mertk.plugins import load_components, plugin_manager
from mertk.registry import KINDS, ComponentInfo, Components, Ref, Registry
from mertk.version import __version__

__all__ = [
    "__version__", "hookimpl", "load_components", "plugin_manager", "Components", "ComponentInfo",
    "Registry", "Ref", "KINDS", "MertkError", "ConfigError", "PluginError",
]
