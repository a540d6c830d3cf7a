"""Component registries: register, get, list with wildcards, validate and build from config.

A *component* is a named factory (a class or function) of one *kind*. Configs name components
by registry name plus keyword arguments, never by import path::

    attention: {name: cbam, reduction: 16}

A factory parameter annotated ``Annotated[T, Ref("attention")]`` takes a nested component
spec; it is validated with the parent and built before the parent. A parameter typed
``list[Annotated[T, Ref(kind)]]`` takes a list of specs, each validated with the parent and
passed to the factory as a normalised spec ``{name: ..., **arguments}`` (built by the factory
itself, e.g. only when needed). When the parent itself
supplies some of the nested component's arguments at run time (``channels`` known only once
the backbone exists), declare them, ``Ref("attention", provided=("channels",))``: the parent
then receives a factory (``functools.partial``) to call with those arguments.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.util
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from mertk.api import ChecksArguments
from mertk.config_values import NotExpected, as_expected
from mertk.errors import ArgumentError, ConfigError, MertkError, PluginError, did_you_mean
from mertk.hookspecs import KINDS, MOVED_KINDS
from mertk.refs import Ref
from mertk.signatures import Outline, read_outline
from mertk.signatures import Parameter as OutlineParameter

__all__ = ["Ref", "ConfigSection", "ComponentInfo", "Registry", "Components", "KINDS", "Spec", "ComponentSpec"]

#: A component spec as written in a config: a name, or a mapping with ``name`` and arguments.
Spec = str | Mapping[str, Any]


@dataclass(frozen=True)
class ComponentSpec:
    """A validated component spec as one type: the component's name and its arguments.

    A config may write a spec as a name or as a mapping with ``name``; code that reads a
    validated spec takes :meth:`of` it instead of handling both shapes itself.
    """

    name: str
    arguments: Mapping[str, Any]

    @classmethod
    def of(cls, spec: Spec, *, kind: str = "component", file: str = "<config>", key: str = "") -> ComponentSpec:
        """``"name"`` or ``{name: ..., **arguments}`` as a :class:`ComponentSpec`.

        Raises:
            ConfigError: another shape (a validated config never has one).
        """
        mapping = Components.normalise(kind, spec, file, key)
        return cls(mapping.pop("name"), mapping)

    def as_mapping(self) -> dict[str, Any]:
        """``{name: ..., **arguments}``, what :meth:`Components.build` takes."""
        return {"name": self.name, **self.arguments}



@dataclass(frozen=True)
class ConfigSection:
    """A section of the run config that a plugin registered (``train``, ``preprocess``, ...).

    ``model`` is a pydantic model class (a section of settings), or the type of a component spec
    (``mertk.settings.component("executor")``: the section is one component, ``default`` its spec).
    """

    key: str
    model: Any
    plugin: str
    description: str | None = None
    default: Spec | None = None

    @property
    def ref(self) -> Ref | None:
        """The component kind of a section that is one component spec, else ``None``."""
        return _ref_of(self.model)


class ComponentInfo:
    """A registered component: its name, kind, factory and the plugin that provided it.

    ``target`` is the factory itself or a lazy reference ``"package.module:attribute"``,
    imported on first use so that listing names and checking configs stays fast.
    ``requires`` maps each optional module the component needs to what installs it
    (``{"ray": "mertk[ray]"}``), so that a config naming it is refused before anything runs.
    """

    def __init__(self, name: str, kind: str, target: Callable[..., Any] | str, plugin: str,
                 description: str | None = None, requires: Mapping[str, str] | None = None) -> None:
        self.name, self.kind, self.target, self.plugin = name, kind, target, plugin
        self._description = description
        self.requires = dict(requires or {})

    def missing(self) -> str | None:
        """Why this component cannot be built here, with the fix, or ``None`` when the modules of
        ``requires`` can be imported. Looked up with :func:`importlib.util.find_spec`, which
        imports none of them (a Ray or MLflow import takes seconds)."""
        for module, install in self.requires.items():
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a parent package missing, or a module without a spec
                found = False
            if not found:
                return (f"{self.kind} {self.name!r} needs the Python package {module!r}, which is not installed. "
                        f'Fix: pip install "{install}", or choose another {self.kind}')
        return None

    def __repr__(self) -> str:
        return f"ComponentInfo({self.kind}:{self.name} from {self.plugin})"

    @functools.cached_property
    def factory(self) -> Callable[..., Any]:
        """The class or function that builds the component (imported on first access)."""
        if callable(self.target):
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"plugin {self.plugin!r}: {self.kind} {self.name!r} points to {self.target!r}, which "
                f"cannot be imported ({exc}). Reinstall the plugin or report it to its authors."
            ) from exc
        if not callable(obj):
            raise PluginError(f"plugin {self.plugin!r}: {self.kind} {self.name!r} -> {self.target!r} is not callable")
        return obj

    @property
    def description(self) -> str:
        """One line: the ``description`` given at registration, else the docstring's first line."""
        if self._description is None:
            self._description = _describe(self.factory)
        return self._description

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The factory's config-settable parameters: keyword parameters, except ``self``,
        ``*args``, ``**kwargs`` and names starting with ``_`` (internal to Python callers)."""
        return {
            p.name: p
            for p in _signature(self.factory).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not p.name.startswith("_")
        }

    @property
    def accepts_any_keyword(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in _signature(self.factory).parameters.values())

    @property
    def outline(self) -> Outline | None:
        """Parameter names, which are required and which take nested components, known without
        importing a lazily registered factory (read from its source; ``None`` if the source does
        not say). An imported factory answers from its signature."""
        if callable(self.target) or "factory" in self.__dict__:
            hints = _hints(self.factory)
            params = {name: OutlineParameter(name, p.default is p.empty, _ref_of(hints.get(name)) or
                                             _ref_of(next(iter(typing.get_args(hints.get(name))), None)),
                                             typing.get_origin(hints.get(name)) is list)
                      for name, p in self.parameters.items()}
            return Outline(params, self.accepts_any_keyword)
        return read_outline(self.target)


@functools.cache
def _signature(factory: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(factory)


@functools.cache
def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable annotations: skip type checks rather than fail
        return {}


@functools.cache
def _type_adapter(annotation: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(annotation, config=pydantic.ConfigDict(arbitrary_types_allowed=True))


def _ref_of(annotation: Any) -> Ref | None:
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, Ref):
                return extra
    return None


def _allows_none(annotation: Any) -> bool:
    inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    return inner is None or type(None) in typing.get_args(inner)


def _describe(factory: Callable[..., Any]) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """All components of one kind.

    >>> reg = Registry("loss")
    >>> reg.register("l1", torch.nn.L1Loss, plugin="example")   # doctest: +SKIP
    >>> reg.list("l*")                                            # doctest: +SKIP
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, ComponentInfo] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        plugin: str = "<unknown>",
        description: str | None = None,
        requires: Mapping[str, str] | None = None,
    ) -> ComponentInfo:
        """Add a component. Raises :class:`PluginError` naming both plugins on a duplicate.

        ``factory`` is a class/function, or ``"module:attribute"`` to import it lazily.
        ``requires``: optional modules it needs and what installs each (``{"ray": "mertk[ray]"}``);
        a config naming the component is refused while one is missing.
        """
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} with an empty or non-text name")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise PluginError(f"plugin {plugin!r} registered {self.kind} {name!r} with {factory!r}: "
                              "pass a class/function or a 'module:attribute' string")
        if name in self._items:
            other = self._items[name].plugin
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {other!r} and by plugin "
                f"{plugin!r}. Uninstall one of them, or rename the component in one plugin."
            )
        info = ComponentInfo(name, self.kind, factory, plugin, description, requires)
        self._items[name] = info
        return info

    def get(self, name: str) -> ComponentInfo:
        """Return the component called ``name``; raises with close matches when unknown."""
        try:
            return self._items[name]
        except KeyError:
            raise MertkError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        installed = ", ".join(sorted(self._items)) or "none"
        return f"unknown {self.kind} {name!r}{did_you_mean(name, self._items)}; installed: {installed}"

    def list(self, pattern: str = "*") -> list[ComponentInfo]:
        """Components whose names match the shell-style ``pattern`` (``"res*"``), sorted by name."""
        return [self._items[n] for n in sorted(self._items) if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[ComponentInfo]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._items)


class Components:
    """One registry per kind, plus config-driven validation and building.

    Obtain a populated instance from :func:`mertk.plugins.load_components`; each call makes a
    fresh one, so nothing is shared between runs or tests.
    """

    def __init__(self, kinds: Mapping[str, str] = KINDS, *, plugin_manager: Any = None) -> None:
        #: The :class:`mertk.plugins.PluginManager` that filled these registries, if any.
        self.plugin_manager = plugin_manager
        self.registries: dict[str, Registry] = {kind: Registry(kind) for kind in kinds}
        #: Run-config sections by key, registered through ``register_config_sections``.
        self.config_sections: dict[str, ConfigSection] = {}
        #: Folders of bundled run configs, registered through ``register_config_dirs``.
        self.config_dirs: list[str] = []

    def __getitem__(self, kind: str) -> Registry:
        try:
            return self.registries[kind]
        except KeyError:
            raise MertkError(
                f"unknown component kind {kind!r}{did_you_mean(kind, self.registries)}; "
                f"kinds: {', '.join(self.registries)}"
            ) from None

    def register_section(self, key: str, model: Any, *, plugin: str, description: str | None = None,
                         default: Spec | None = None) -> None:
        """Add a run-config section ``key`` validated by the pydantic ``model``, or holding one
        component spec when ``model`` is ``mertk.settings.component(kind)`` (``default``: its spec
        when the config leaves the section out, e.g. ``"local"``).

        Raises:
            PluginError: ``model`` is neither a pydantic model nor a component type, a component
                section has no ``default``, or another plugin registered ``key``.
        """
        ref = _ref_of(model)
        if ref is not None:
            if default is None:
                raise PluginError(f"plugin {plugin!r}: config section {key!r} holds a {ref.kind} spec and "
                                  "needs a default spec: register(key, component(kind), default=\"name\")")
        elif not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
            raise PluginError(f"plugin {plugin!r}: config section {key!r} must be a pydantic model "
                              f"class (e.g. a mertk.settings.Strict subclass) or mertk.settings.component(kind), "
                              f"got {model!r}")
        if key in self.config_sections:
            other = self.config_sections[key].plugin
            raise PluginError(f"config section {key!r} is registered by both {other!r} and {plugin!r}; "
                              "uninstall one of the plugins")
        self.config_sections[key] = ConfigSection(key, model, plugin, description, default)

    def list(self, kind: str | None = None, pattern: str = "*") -> list[ComponentInfo]:
        """Components of one kind (or all kinds) whose names match ``pattern``."""
        kinds = [kind] if kind else list(self.registries)
        return [info for k in kinds for info in self[k].list(pattern)]

    # ------------------------------------------------------------------ validation

    def unknown_message(self, kind: str, name: str) -> str:
        """Why ``name`` is no ``kind`` component: the registry's close matches, and, when a plugin
        registered it through a hook whose kind was renamed (:data:`mertk.hookspecs.MOVED_KINDS`),
        the hook to register it with now."""
        message = self[kind].unknown_message(name)
        for old_hook, (old_kind, new_kind, new_hook) in MOVED_KINDS.items():
            if kind == new_kind and name in self.registries.get(old_kind, ()):
                plugin = self.registries[old_kind].get(name).plugin
                what = KINDS[old_kind].split(": ", 1)[-1].rstrip(".")
                message += (f". {name!r} is registered by plugin {plugin!r} through {old_hook}(), which since mertk "
                            f"0.3 registers {old_kind} components ({what}), not {new_kind} components. Fix: in that "
                            f"plugin, rename the hook {old_hook} to {new_hook} (docs/spotting.md#migration)")
        return message

    def validate(self, kind: str, spec: Any, *, file: str = "<config>", key: str = "",
                 provided: tuple[str, ...] = ()) -> dict[str, Any]:
        """Check a spec against the component's signature without building anything.

        Args:
            kind: Component kind.
            spec: ``"name"`` or ``{name: ..., **kwargs}``.
            file: Config file name for error messages.
            key: Dotted key of ``spec`` in the config, for error messages.
            provided: Arguments the caller passes at build time (not required in ``spec``).

        Returns:
            The normalised spec, ``{"name": str, **kwargs}`` with values type-checked.

        Raises:
            ConfigError: naming ``file`` and the dotted key of the first problem found.
        """
        spec = self.normalise(kind, spec, file, key)
        registry = self[kind]
        name = spec["name"]
        if name not in registry:
            raise ConfigError(file, _join(key, "name"), self.unknown_message(kind, name))
        info = registry.get(name)
        _check_installed(info, file, key)
        params = info.parameters
        hints = _hints(info.factory)
        out: dict[str, Any] = {"name": name}
        required = [arg for arg, p in params.items() if p.default is p.empty]
        _check_argument_names(kind, name, spec, params, required, info.accepts_any_keyword, provided, file, key)
        for arg, value in spec.items():
            if arg != "name":
                out[arg] = self.check_value(hints.get(arg), value, file=file, key=_join(key, arg))
        self._check_arguments(info, out, file, key)
        return out

    def check_names(self, kind: str, spec: Any, *, file: str = "<config>", key: str = "",
                    provided: tuple[str, ...] = ()) -> None:
        """Check component names and argument names of ``spec``, nested specs included, without
        importing lazily registered factories (see :mod:`mertk.signatures`), so that a typo is
        reported before torch loads. Raises the same :class:`ConfigError` as :meth:`validate`;
        arguments whose factory's source does not say are left to :meth:`validate`."""
        spec = self.normalise(kind, spec, file, key)
        registry = self[kind]
        name = spec["name"]
        if name not in registry:
            raise ConfigError(file, _join(key, "name"), self.unknown_message(kind, name))
        _check_installed(registry.get(name), file, key)
        outline = registry.get(name).outline
        if outline is None:
            return
        params = outline.parameters
        required = [arg for arg, p in params.items() if p.required]
        _check_argument_names(kind, name, spec, params, required, outline.any_keyword, provided, file, key)
        for arg, value in spec.items():
            param = params.get(arg)
            if param is None or param.ref is None or value is None:
                continue
            where = _join(key, arg)
            if param.many and isinstance(value, list):
                for i, item in enumerate(value):
                    self.check_names(param.ref.kind, item, file=file, key=_join(where, str(i)),
                                     provided=param.ref.provided)
            elif not param.many:
                self.check_names(param.ref.kind, value, file=file, key=where, provided=param.ref.provided)

    @staticmethod
    def _check_arguments(info: ComponentInfo, spec: Mapping[str, Any], file: str, key: str) -> None:
        """Run the factory's optional ``check_arguments(**arguments)`` (checks a signature cannot
        express, such as arguments passed on to another library); its :class:`ArgumentError`
        becomes a :class:`ConfigError` at the argument's key."""
        if not isinstance(info.factory, ChecksArguments):
            return
        check = info.factory.check_arguments
        try:
            check(**{k: v for k, v in spec.items() if k != "name"})
        except ArgumentError as exc:
            raise ConfigError(file, _join(key, exc.argument), exc.message) from None

    def check_value(self, annotation: Any, value: Any, *, file: str = "<config>", key: str = "") -> Any:
        """``value`` checked against a factory argument's ``annotation`` (nested component specs
        validated, ranges and types checked, see :func:`mertk.config_values.as_expected`).

        Raises:
            ConfigError: naming ``file``, the dotted ``key``, the value and what is allowed.
        """
        where = key
        ref = _ref_of(annotation)
        if ref is not None and value is None and _allows_none(annotation):
            return None  # an optional nested component left out: ``attention: null``
        if ref is not None:
            return self.validate(ref.kind, value, file=file, key=where, provided=ref.provided)
        is_list = typing.get_origin(annotation) is list
        item_ref = _ref_of(next(iter(typing.get_args(annotation)), None)) if is_list else None
        if item_ref is not None:  # a list of nested component specs, e.g. a detector fallback chain
            if not isinstance(value, list):
                raise ConfigError(file, where, f"expected a list of {item_ref.kind} specs, got {value!r}")
            return [self.validate(item_ref.kind, v, file=file, key=_join(where, str(i)), provided=item_ref.provided)
                    for i, v in enumerate(value)]
        try:
            value = as_expected(annotation, value)
        except NotExpected as exc:
            raise ConfigError(file, where, f"{exc}, got {value!r}") from None
        if annotation is None:
            return value
        try:
            return _type_adapter(annotation).validate_python(value)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            sub = ".".join(str(p) for p in err["loc"])
            raise ConfigError(file, _join(where, sub), f"{err['msg'].lower()}, got {err['input']!r}") from None
        except pydantic.PydanticSchemaGenerationError:
            return value

    @staticmethod
    def normalise(kind: str, spec: Any, file: str, key: str) -> dict[str, Any]:
        """``"name"`` or ``{name: ..., **kw}`` -> a new dict with ``name``; raises for other shapes."""
        if isinstance(spec, str):
            return {"name": spec}
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            return dict(spec)
        if isinstance(spec, Mapping):
            raise ConfigError(file, _join(key, "name"), f"missing: say which {kind} to use, e.g. {{name: ...}}")
        raise ConfigError(file, key, f"expected a {kind} name or a mapping with 'name', got {spec!r}")

    def parts(self, kind: str, spec: Any, key: str = "") -> Iterator[tuple[str, ComponentInfo, dict[str, Any]]]:
        """The component ``spec`` builds, then every nested component it builds: each one's dotted
        key, registry entry and spec ``{name: ..., **arguments}``.

        Nested parameters the spec leaves out count with their defaults (``dual-atme`` without
        a ``backbone`` builds the default ``inception``). Arguments are not checked: pass a
        spec :meth:`validate` accepted.
        """
        spec = self.normalise(kind, spec, "<config>", key)
        info = self[kind].get(spec["name"])
        yield key, info, spec
        hints = _hints(info.factory)
        for arg, p in info.parameters.items():
            annotation = hints.get(arg)
            ref = _ref_of(annotation)
            item_ref = (_ref_of(next(iter(typing.get_args(annotation)), None))
                        if typing.get_origin(annotation) is list else None)
            value = spec.get(arg, None if p.default is p.empty else p.default)
            if ref is not None and value is not None:
                yield from self.parts(ref.kind, value, _join(key, arg))
            elif item_ref is not None and isinstance(value, list):
                for i, item in enumerate(value):
                    yield from self.parts(item_ref.kind, item, _join(key, f"{arg}.{i}"))

    # ------------------------------------------------------------------ building

    def build(self, kind: str, spec: Any, *, file: str = "<config>", key: str = "", **provided: Any) -> Any:
        """Validate ``spec`` and build the component, nested components first.

        ``provided`` are run-time arguments supplied by the caller (e.g. ``num_classes``).
        """
        spec = self.validate(kind, spec, file=file, key=key, provided=tuple(provided))
        return self._build_valid(kind, spec, provided)

    def _build_valid(self, kind: str, spec: Mapping[str, Any], provided: Mapping[str, Any]) -> Any:
        info = self[kind].get(spec["name"])
        hints = _hints(info.factory)
        kwargs: dict[str, Any] = {}
        for arg, value in spec.items():
            if arg == "name":
                continue
            ref = _ref_of(hints.get(arg))
            if ref is None or value is None:
                kwargs[arg] = value
            elif ref.provided:
                kwargs[arg] = functools.partial(self._build_partial, ref.kind, value)
            else:
                kwargs[arg] = self._build_valid(ref.kind, value, {})
        # defaults of nested-component parameters that the config left out are specs too
        for arg, p in info.parameters.items():
            ref = _ref_of(hints.get(arg))
            if ref is not None and arg not in kwargs and p.default not in (p.empty, None):
                default = self.validate(ref.kind, p.default, key=arg, provided=ref.provided)
                kwargs[arg] = (functools.partial(self._build_partial, ref.kind, default) if ref.provided
                               else self._build_valid(ref.kind, default, {}))
        return info.factory(**kwargs, **provided)

    def _build_partial(self, kind: str, spec: Mapping[str, Any], **provided: Any) -> Any:
        return self._build_valid(kind, spec, provided)

    def create(self, kind: str, name: str, **kwargs: Any) -> Any:
        """Build a component from Python: ``components.create("attention", "cbam", channels=48)``."""
        return self.build(kind, {"name": name, **kwargs})


def _check_argument_names(kind: str, name: str, spec: Mapping[str, Any], params: Mapping[str, Any],
                          required: list[str], any_keyword: bool, provided: tuple[str, ...], file: str,
                          key: str) -> None:
    """Unexpected arguments (with suggestions), arguments mertk supplies, missing required ones."""
    for arg in spec:
        if arg == "name":
            continue
        where = _join(key, arg)
        if arg not in params and not any_keyword:
            raise ConfigError(file, where, "unexpected argument" + (
                did_you_mean(arg, params) or f" ({kind} {name!r} takes: {', '.join(params) or 'no arguments'}); "
                f"to swap in another {kind} without the old one's arguments, replace the whole mapping, "
                f"e.g. --set '{key}={{name: {name}}}'"))
        if arg in provided:
            raise ConfigError(file, where, "is set by mertk at run time; remove it from the config")
    for arg in required:
        if arg not in spec and arg not in provided:
            raise ConfigError(file, _join(key, arg), f"missing required argument of {kind} {name!r}")


def _check_installed(info: ComponentInfo, file: str, key: str) -> None:
    """Refuse a component whose optional packages are missing (:meth:`ComponentInfo.missing`)."""
    why = info.missing()
    if why is not None:
        raise ConfigError(file, _join(key, "name"), why)


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key and sub else key or sub
