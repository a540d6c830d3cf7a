"""MkDocs hook: generated tables (``<!-- config-keys -->``, ``<!-- bundled-configs -->``),
component arguments (``<!-- args KIND NAME -->``) and bundled config files
(``<!-- config-text NAME.yaml -->``).

The tables are generated from :func:`mertk.config.run_config_model` (core's keys and the
sections plugins register) at build
time (name, type, default and the field's docstring), so the page lists exactly the keys the
validator accepts.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import textwrap
import types
import typing
from collections.abc import Iterator

import pydantic

MARKER = "<!-- config-keys -->"

#: Meanings of the fields that have no docstring in the code yet (the code's docstring wins
#: as soon as it has one).
FALLBACK = {
    "epochs": "Epochs per fold; the model of the last epoch is evaluated.",
    "batch_size": "Training samples per step.",
    "device": "Where training runs: `auto` (CUDA when available), `cpu`, `cuda`, or a torch device string (`cuda:1`).",
    "deterministic": "Deterministic kernels (`torch.use_deterministic_algorithms`), for repeatable runs.",
    "normalize_mean": "See `normalize_std`.",
    "name": "",
    "lr": "Learning rate.",
    "weight_decay": "Weight decay (L2 for `adam`/`sgd`, decoupled for `adamw`).",
    "step_size": "`step` scheduler: epochs between learning-rate drops.",
    "gamma": "`step` scheduler: learning-rate factor at each drop.",
}
SECTION_FALLBACK = {
    "OptimizerSettings": "The optimizer of each fold's training.",
    "SchedulerSettings": "Learning-rate schedule (`none`: constant, as the Dual-ATME authors' code in effect; "
                         "`step`: StepLR; `cosine`: cosine annealing over the epochs).",
    "OutputSettings": "Where and what a run writes.",
}


def field_docs(model: type) -> dict[str, str]:
    """Docstrings written under fields (``x: int = 1`` then ``\"\"\"...\"\"\"``), by field name."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)) or cls is pydantic.BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def _ref(annotation: object):
    from mertk.registry import Ref

    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, Ref):
            return meta
    for arg in typing.get_args(annotation):
        ref = _ref(arg)
        if ref is not None:
            return ref
    return None


def _section(annotation: object) -> type[pydantic.BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None


def _range(metadata: typing.Iterable[object]) -> str:
    """`` ≥ 1``, `` in [0, 1)``, ...: the bounds that ``Field(ge=..., lt=...)`` (or annotated-types) declare."""
    bounds: dict[str, object] = {}
    flat = [m for meta in metadata for m in (meta.metadata if isinstance(meta, pydantic.fields.FieldInfo) else [meta])]
    for meta in flat:
        bounds.update({k: getattr(meta, k) for k in ("ge", "gt", "le", "lt") if getattr(meta, k, None) is not None})
    low = ("[", bounds["ge"]) if "ge" in bounds else ("(", bounds["gt"]) if "gt" in bounds else None
    high = ("]", bounds["le"]) if "le" in bounds else (")", bounds["lt"]) if "lt" in bounds else None
    if low and high:
        return f" in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low:
        return f" {'≥' if low[0] == '[' else '>'} {low[1]}"
    if high:
        return f" {'≤' if high[0] == ']' else '<'} {high[1]}"
    return ""


def _type_text(annotation: object, field_info: pydantic.fields.FieldInfo) -> str:
    if typing.get_origin(annotation) is typing.Annotated and _ref(annotation) is None:
        base, *metadata = typing.get_args(annotation)
        return _type_text(base, pydantic.fields.FieldInfo()) + _range(metadata)
    if _ref(annotation) is None and _range(field_info.metadata):
        return _type_text(annotation, pydantic.fields.FieldInfo()) + _range(field_info.metadata)
    ref = next((m for m in field_info.metadata if type(m).__name__ == "Ref"), None) or _ref(annotation)
    if ref is not None:
        link = f"[`{ref.kind}`](plugins/directory.md#kind-{ref.kind.replace('_', '-')})"
        origin = typing.get_origin(annotation)
        if origin is list:
            return f"list of {link} specs"
        if origin is dict:
            return f"name → {link} spec"
        return f"{link} spec"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type_text(a, pydantic.fields.FieldInfo()) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "")
    if "Literal[" in text:  # Literal inside a union
        text = text.replace("Literal[", "one of [")
    return f"`{text}`".replace("|", "\\|")


def _default(field_info: pydantic.fields.FieldInfo) -> str:
    if field_info.is_required():
        return "**required**"
    value = field_info.default
    if isinstance(value, pydantic.BaseModel):
        return "(section)"
    return f"`{json.dumps(value)}`".replace("|", "\\|")


def tables(model: type[pydantic.BaseModel], prefix: str = "") -> Iterator[str]:
    """Markdown: one table per (nested) section, depth first."""
    docs = field_docs(model)
    title = f"`{prefix[:-1]}`" if prefix else "Top level"
    yield f"### {title}\n"
    doc = inspect.cleandoc(model.__doc__ or "") if "__doc__" in vars(model) else ""
    doc = doc or SECTION_FALLBACK.get(model.__name__, "")
    if doc and prefix:
        yield doc.split("\n\n")[0].replace("\n", " ") + "\n"
    yield "| key | type | default | meaning |\n|---|---|---|---|"
    nested = []
    for name, info in model.model_fields.items():
        section = _section(info.annotation)
        if section is not None:
            nested.append((name, section))
            kind = f"section, see [`{prefix}{name}`](#{(prefix + name).replace('.', '')})"
            yield f"| `{prefix}{name}` | {kind} | | {(docs.get(name) or '').replace(chr(10), ' ')} |"
            continue
        doc = (docs.get(name) or info.description or FALLBACK.get(name, "")).replace("\n", " ").replace("|", "\\|")
        yield f"| `{prefix}{name}` | {_type_text(info.annotation, info)} | {_default(info)} | {doc} |"
    yield ""
    for name, section in nested:
        yield from tables(section, f"{prefix}{name}.")


BUNDLED = "<!-- bundled-configs -->"


def bundled_table() -> str:
    """Markdown table of the bundled configs (``mertk config list``) with each file's first comment."""
    import mertk
    from mertk.config import bundled_configs

    rows = ["| config | plugin folder | what it runs |", "|---|---|---|"]
    for name, path in bundled_configs(mertk.load_components(autoload=False)).items():
        comment = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            comment.append(line.lstrip("# ").strip())
        text = " ".join(comment).split(". ")[0].rstrip(".").replace("|", "\\|")
        rows.append(f"| `{name}` | `{path.parent.parent.name}` | {text}. |")
    return "\n".join(rows)


CONFIG_TEXT = re.compile(r"^( *)<!-- config-text ([\w.-]+\.yaml) -->", re.MULTILINE)


def config_text(name: str) -> str:
    """A bundled config's file, as ``mertk config show NAME`` prints it, in a YAML block."""
    from mertk.config import bundled_configs

    path = bundled_configs(_components())[name]
    return f"```yaml title=\"{name}\"\n{path.read_text(encoding='utf-8').rstrip()}\n```"


ARGS = re.compile(r"<!-- args ([\w_]+) ([\w.-]+) -->")


@functools.cache
def _components():
    import mertk

    return mertk.load_components(autoload=False)


def arguments(kind: str, name: str) -> str:
    """``key=default`` of every keyword argument of a registered component, for a table cell."""
    info = _components()[kind].get(name)
    parts = []
    for p in info.parameters.values():
        if p.default is inspect.Parameter.empty:
            parts.append(f"`{p.name}`")
        else:
            default = p.default if isinstance(p.default, (int, float, bool, str, type(None), tuple, list)) else "…"
            parts.append(f"`{p.name}={default!r}`".replace("|", "\\|"))
    return ", ".join(parts) or "—"



def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        import mertk
        from mertk.config import run_config_model

        markdown = markdown.replace(MARKER, "\n".join(tables(run_config_model(mertk.load_components()))))
    if BUNDLED in markdown:
        markdown = markdown.replace(BUNDLED, bundled_table())
    markdown = CONFIG_TEXT.sub(lambda m: textwrap.indent(config_text(m.group(2)), m.group(1)), markdown)
    return ARGS.sub(lambda m: arguments(m.group(1), m.group(2)), markdown)
