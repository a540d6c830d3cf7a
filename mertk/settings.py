"""Typed helpers shared by the config sections of each package."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic

from mertk.registry import Ref

#: A component spec in a config: a registry name, or ``{name: ..., **kwargs}`` (checked by
#: :meth:`mertk.registry.Components.validate`, which gives better messages than pydantic).
AnySpec = Any


def component(kind: str, *, provided: tuple[str, ...] = ()) -> Any:
    """Type of a config field holding a component spec of ``kind``.

    >>> class Section(Strict):
    ...     flow: component("flow_extractor") = "tvl1"
    """
    return Annotated[AnySpec, Ref(kind, provided=provided)]


class Strict(pydantic.BaseModel):
    """Base of every config section: unknown keys are errors, values are type-checked."""

    model_config = pydantic.ConfigDict(extra="forbid", validate_default=True, frozen=False)

