"""Run configs: YAML (safe-loaded) -> validated :class:`RunConfig`.

Everything is checked before any heavy work: unknown keys and component names (with
suggestions), unexpected or missing component arguments, wrong value types. Each message names
the file and the dotted key::

    dual-atme.yaml: model.attention.reductoin: unexpected argument (did you mean 'reduction'?)

Files are read as the user wrote them (:mod:`mertk.yamlfile`): a key given twice is an error,
``off``/``on``/``yes``/``no`` are the text for a string field and the boolean for a bool field, and
a file that is not UTF-8 text is named with its encoding (:mod:`mertk.textfiles`).

A config may start from another with ``extends: other.yaml`` (mappings merge key by key, other
values and component specs naming another component are replaced), and ``--set key.path=value``
overrides any value from the command line.
"""

from __future__ import annotations

import copy
import typing
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import pydantic

from mertk.envvars import expand_env
from mertk.errors import ConfigError, did_you_mean
from mertk.registry import Components, Ref
from mertk.settings import Strict, component
from mertk.textfiles import NotUtf8, read_utf8
from mertk.yamlfile import DuplicateKey, load_yaml

__all__ = ["RunConfig", "LOSS_TERM", "LoadedConfig", "load_config", "read_config", "validate_config",
           "is_spotting_config", "run_config_model",
           "find_config", "bundled_configs", "parse_override", "apply_overrides"]

#: A loss term: a ``loss`` component spec that may also carry ``weight`` (default 1), which the
#: engine reads and the loss factory never sees (``LOSS_TERM.split(term)``).
LOSS_TERM = Ref("loss", options=(("weight", 1.0, Annotated[float, pydantic.Field(ge=0)]),))


class RunConfig(Strict):
    """The keys every run has: data, protocol, model and losses.

    The other sections (``preprocess``, ``train``, ``output``, ...) are registered by the
    packages that read them, through the ``register_config_sections`` hook; a loaded config is
    an instance of :func:`run_config_model`, this class with those sections added.
    """

    name: str = "run"
    """Run name; the run folder is ``{output.dir}/{name}-{timestamp}``."""
    seed: Annotated[int, pydantic.Field(ge=0)] = 1
    """Base seed; fold ``i`` trains with ``seed + i``, the exported model with ``seed + 10000``."""
    dataset: component("dataset")
    """The dataset adapter and its arguments (root folders, class protocol, ...)."""
    on_error: typing.Literal["stop", "skip"] = "stop"
    """A bad sample (missing frames, no face, ...) stops the run, or is skipped and listed."""
    protocol: component("protocol") = "loso"
    """How samples are split into train/test folds (``loso``, ``lodo``, ``kfold``, ...)."""
    model: component("model", provided=("num_classes", "in_channels"))
    """The network and its arguments; mertk supplies ``num_classes`` and ``in_channels``."""
    loss: list[typing.Annotated[Any, LOSS_TERM]] = [{"name": "cross-entropy"}]
    """Loss terms, summed; each may carry ``weight: float`` (default 1)."""
    task: component("task") = None
    """What the run learns and how it is scored: ``emotion`` (classes; also when not set) or
    ``{name: aus, aus: [...]}`` (action units)."""

    @pydantic.field_serializer("task")
    def _show_task(self, task: Any) -> Any:
        """An unset task is written as the task that runs (``{name: emotion}``), so a resolved
        config (``mertk config show --resolved``, ``config.yaml``, ``model.json``) says what ran."""
        return {"name": "emotion"} if task is None else task


#: The run config model built for each set of components (dropped with them).
_RUN_CONFIG_MODELS: weakref.WeakKeyDictionary[Components, type[RunConfig]] = weakref.WeakKeyDictionary()


def run_config_model(components: Components) -> type[RunConfig]:
    """:class:`RunConfig` with every registered config section added (cached per ``components``).

    Raises:
        PluginError: a plugin registered a section under one of :class:`RunConfig`'s own keys.
    """
    cached = _RUN_CONFIG_MODELS.get(components)
    if cached is not None:
        return cached
    from mertk.errors import PluginError

    fields: dict[str, Any] = {}
    for key, section in components.config_sections.items():
        if key in RunConfig.model_fields:
            raise PluginError(f"plugin {section.plugin!r} registers the config section {key!r}, which is "
                              "one of the run config's own keys; choose another name")
        if section.ref is not None:  # one component spec, e.g. `executor: {name: local, workers: 2}`
            fields[key] = (section.model, pydantic.Field(default=section.default, description=section.description))
        else:
            fields[key] = (section.model, pydantic.Field(default_factory=section.model,
                                                         description=section.description))
    model = pydantic.create_model("RunConfig", __base__=RunConfig, __module__=__name__, **fields)
    _RUN_CONFIG_MODELS[components] = model
    return model


class LoadedConfig(typing.NamedTuple):
    """A validated config with where it came from and the plain mapping it was built from."""

    config: RunConfig
    file: str
    data: dict[str, Any]


# ------------------------------------------------------------------ finding configs


def bundled_configs(components: Components | None = None) -> dict[str, Path]:
    """Bundled configs by file name, from the folders plugins register (``register_config_dirs``)."""
    found: dict[str, Path] = {}
    for d in components.config_dirs if components is not None else ():
        for path in sorted(Path(d).glob("*.yaml")):
            found.setdefault(path.name, path)
    return found


def find_config(name: str | Path, components: Components | None = None) -> Path:
    """A config path: the file itself when it exists, else the bundled config of that name."""
    path = Path(name)
    if path.exists():
        return path
    bundled = bundled_configs(components)
    for candidate in (path.name, f"{path.name}.yaml"):
        if candidate in bundled:
            return bundled[candidate]
    raise ConfigError(str(name), "", "no such file, and no bundled config of that name"
                      + did_you_mean(path.name, bundled)
                      + f"; bundled configs: {', '.join(bundled) or 'none'}")


# ------------------------------------------------------------------ reading and merging


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = read_utf8(path)
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read the file ({exc.strerror})") from None
    except NotUtf8 as exc:
        raise ConfigError(str(path), "", f"{exc}; a config is YAML text in UTF-8: {exc.fix}") from None
    data = load_yaml(text, file=path.name)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path.name, "", "the top level must be a mapping of keys to values")
    return data


def _same_component(base: Mapping[str, Any], update: Mapping[str, Any]) -> bool:
    """Two mappings that are not component specs of different names (``{name: ...}``)."""
    return "name" not in update or base.get("name") == update["name"]


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into a copy of ``base``: mappings key by key, anything else replaced.

    A component spec that names another component (``model: {name: ststnet}`` over
    ``model: {name: dual-atme, ...}``) replaces the whole spec: the old component's arguments
    mean nothing to the new one.
    """
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and _same_component(out[key], value):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_extends(path: Path, components: Components | None, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(path.name, "extends", f"expected a config file name, got {parent!r}")
    local = path.parent / parent
    try:
        parent_path = local if local.exists() else find_config(parent, components)
    except ConfigError as exc:
        raise ConfigError(path.name, "extends",
                          f"{parent!r}: not found next to it ({local}); {exc.message}") from None
    if parent_path.resolve() in seen:
        raise ConfigError(path.name, "extends", f"{parent!r} extends itself (a cycle)")
    base = _resolve_extends(parent_path, components, seen + (path.resolve(),))
    return deep_merge(base, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``"train.epochs=5"`` into ``(["train", "epochs"], 5)``; the value is YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", text, "expected KEY.PATH=VALUE, e.g. --set train.epochs=5")
    try:
        value = load_yaml(raw, file=f"--set {text}", key=key.strip()) if raw.strip() else ""
    except DuplicateKey:
        raise
    except ConfigError:  # not YAML: the text as it is
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key.path=value`` set (lists indexed by number)."""
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = data
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ConfigError("--set", ".".join(keys[: i + 1]),
                                      f"list index out of range (the list has {len(node)} items)")
                if last:
                    node[int(key)] = value
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                if last:
                    node[key] = value
                    continue
                child = node.get(key)
                if child is None:
                    node[key] = child = {}
                elif isinstance(child, str):  # a component given by name: `model: dual-atme`
                    node[key] = child = {"name": child}
                node = child
            if not isinstance(node, (dict, list)):
                raise ConfigError("--set", ".".join(keys[: i + 1]), f"is {node!r}, not a mapping")
    return data


# ------------------------------------------------------------------ validation


def _loc_to_key(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _model_at(root: type[pydantic.BaseModel], loc: Sequence[Any]) -> type[pydantic.BaseModel] | None:
    """The section model found by walking ``loc`` from ``root`` (for suggestions)."""
    model: Any = root
    for part in loc:
        is_model = isinstance(model, type) and issubclass(model, pydantic.BaseModel)
        field = model.model_fields.get(str(part)) if is_model else None
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, pydantic.BaseModel) else None


def _pydantic_to_config_error(exc: pydantic.ValidationError, file: str, root: type[pydantic.BaseModel]) -> ConfigError:
    errors = exc.errors()
    # an unknown key usually explains a "missing" one next to it (a typo): report it first
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "str", "dict[")))]
    key = _loc_to_key(loc)
    if err["type"] == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        choices = list(parent.model_fields) if parent is not None else []
        return ConfigError(file, key, "unknown key" + (did_you_mean(str(loc[-1]), choices)
                                                        or (f"; keys here: {', '.join(choices)}" if choices else "")))
    if err["type"] == "missing":
        return ConfigError(file, key, "missing required key")
    value = err.get("input")
    return ConfigError(file, key, f"{err['msg'].lower()}, got {value!r}")


def _iter_component_fields(model: pydantic.BaseModel, prefix: str = ""):
    """Yield ``(dotted_key, kind, provided, value, setter)`` for every component-spec field."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}{name}"
        ref = next((m for m in field.metadata if isinstance(m, Ref)), None)
        if ref is not None and value is None and field.default is None:
            continue  # an optional component left unset (``task``: the default task)
        if ref is not None:
            default = field.default.get("name") if isinstance(field.default, Mapping) else field.default
            if isinstance(value, Mapping) and "name" not in value and isinstance(default, str):
                value = {"name": default, **value}  # `--set executor.workers=2` adjusts the default component
                setattr(model, name, value)
            yield key, ref, value, (lambda v, m=model, n=name: setattr(m, n, v))
            continue
        args = typing.get_args(field.annotation)
        item_ref = next((m for a in args for m in getattr(a, "__metadata__", ()) if isinstance(m, Ref)), None)
        if item_ref is not None and isinstance(value, dict):
            for k, v in value.items():
                yield f"{key}.{k}", item_ref, v, (lambda nv, d=value, kk=k: d.__setitem__(kk, nv))
        elif item_ref is not None and isinstance(value, list):
            for i, v in enumerate(value):
                yield f"{key}.{i}", item_ref, v, (lambda nv, lst=value, ii=i: lst.__setitem__(ii, nv))
        elif isinstance(value, pydantic.BaseModel):
            yield from _iter_component_fields(value, f"{key}.")


_Schema = typing.TypeVar("_Schema", bound=pydantic.BaseModel)


@typing.overload
def validate_config(data: Mapping[str, Any], components: Components, *, file: str = ...,
                    schema: None = None) -> RunConfig: ...


@typing.overload
def validate_config(data: Mapping[str, Any], components: Components, *, file: str = ...,
                    schema: type[_Schema]) -> _Schema: ...


def validate_config(data: Mapping[str, Any], components: Components, *, file: str = "<config>",
                    schema: type[pydantic.BaseModel] | None = None) -> Any:
    """Validate a plain mapping into a :func:`run_config_model` instance, component specs included.

    Args:
        schema: Validate against this model instead (another command's config, such as ``mertk spot``'s):
            its fields and component specs are checked the same way; the run config's cross-key rules
            (loss targets, sections' ``check_run``) are not, the model's own ``check(components, file)``
            is called when it has one.
    """
    if schema is not None:
        return _validate_fields(schema, data, components, file)
    if is_spotting_config(data):
        raise ConfigError(file, "spotter", "this is a spotting config (it names a spotter and no model), which "
                          "`mertk run` does not run. Fix: `mertk spot " + file + "`")
    config = _validate_fields(run_config_model(components), data, components, file)
    _check_loss_targets(config, components, file)
    for key in components.config_sections:  # rules of a section that involve other keys
        check = getattr(getattr(config, key, None), "check_run", None)
        if check is not None:
            check(config, components, file)
    return config


def is_spotting_config(data: Mapping[str, Any]) -> bool:
    """Whether a plain config mapping is ``mertk spot``'s (a ``spotter`` and no ``model``) rather than a run's."""
    return "spotter" in data and "model" not in data


def _validate_fields(model: type[pydantic.BaseModel], data: Mapping[str, Any], components: Components,
                     file: str) -> Any:
    """``data`` validated into ``model``, every component spec checked and filled in."""
    try:
        config = model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise _pydantic_to_config_error(exc, file, model) from None
    fields = list(_iter_component_fields(config))
    # names first: they are read from the factories' source, so a typo fails before torch loads
    for key, ref, value, _ in fields:
        spec = ref.split(value)[0] if isinstance(value, Mapping) else value
        components.check_names(ref.kind, spec, file=file, key=key, provided=ref.provided)
    for key, ref, value, setter in fields:
        given = {k: components.check_value(annotation, value[k], file=file, key=f"{key}.{k}")
                 for k, annotation in ref.option_types().items() if isinstance(value, Mapping) and k in value}
        if isinstance(value, Mapping):
            value = ref.split(value)[0]
        spec = components.validate(ref.kind, value, file=file, key=key, provided=ref.provided)
        setter({**spec, **given})
    check = getattr(config, "check", None)
    if callable(check):
        check(components, file)
    return config


def _check_loss_targets(config: RunConfig, components: Components, file: str) -> None:
    """Refuse a loss term whose targets (:class:`mertk.api.LossTargets`, default ``classes``) are not
    those the config's task makes (``target_kind``), and a model fitted to class labels
    (:class:`mertk.api.Fitted`) for another task."""
    if config.task is None:  # the default task, emotion: class targets
        task_name, kind = "emotion", "classes"
    else:
        task_name = config.task["name"] if isinstance(config.task, Mapping) else config.task
        kind = getattr(components["task"].get(task_name).factory, "target_kind", "classes")
    model = config.model["name"] if isinstance(config.model, Mapping) else config.model
    if kind != "classes" and hasattr(components["model"].get(model).factory, "fit"):
        raise ConfigError(file, "model", f"model {model!r} is fitted to class labels and cannot learn task "
                          f"{task_name!r} ({kind} targets). Fix: choose a model trained by gradient descent "
                          "(e.g. timm-classifier, dual-atme)")
    for i, term in enumerate(config.loss):
        name = term["name"] if isinstance(term, Mapping) else term
        takes = getattr(components["loss"].get(name).factory, "targets", "classes")
        if takes not in ("any", kind):
            fitting = sorted(info.name for info in components["loss"]
                             if getattr(info.factory, "targets", "classes") in ("any", kind))
            raise ConfigError(file, f"loss.{i}", f"loss {name!r} takes {takes} targets, but task {task_name!r} makes "
                              f"{kind} targets. Fix: use a loss for {kind} targets: {', '.join(fitting)}")


def load_config(name: str | Path, components: Components, overrides: Iterable[str] = (), *,
                schema: type[pydantic.BaseModel] | None = None) -> LoadedConfig:
    """Find, read, merge (``extends``), override and validate a run config.

    Args:
        name: A file path, or the name of a bundled config (``"dual-atme.yaml"``).
        components: Registries used to check component names and arguments.
        overrides: ``"key.path=value"`` strings applied after ``extends``, before ``${ENV}``
            expansion.
        schema: Validate against this model instead of the run config (see :func:`validate_config`).

    Raises:
        ConfigError: the first problem found, naming the file and the dotted key.
    """
    path, data = read_config(name, components, overrides)
    try:
        config = validate_config(data, components, file=path.name, schema=schema)
    except ConfigError as exc:
        raise _blame_override(exc, overrides) from None
    return LoadedConfig(config, str(path), data)


def read_config(name: str | Path, components: Components, overrides: Iterable[str] = ()) -> tuple[Path, dict[str, Any]]:
    """Find, read, merge (``extends``) and override a config, not yet validated: its path and plain mapping."""
    path = find_config(name, components)
    data = apply_overrides(_resolve_extends(path, components), overrides)
    return path, expand_env(data, file=path.name)


def _blame_override(error: ConfigError, overrides: Iterable[str]) -> ConfigError:
    """The error as the ``--set`` option's when that option set the offending key (or a mapping
    above it); otherwise unchanged."""
    for text in reversed(list(overrides)):
        key = ".".join(parse_override(text)[0])
        if error.key == key or error.key.startswith(key + "."):
            return ConfigError(f"--set {text}", error.key, error.message)
    return error
