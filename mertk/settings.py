"""Typed helpers shared by the config sections of each package."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import pydantic_core

from mertk.config_values import NotExpected, as_expected
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
    """Base of every config section: unknown keys are errors, values are type-checked.

    Every field's value is first made what the field expects
    (:func:`mertk.config_values.as_expected`): ``off``/``yes``/... are the text for a string
    field and the boolean for a bool field, and ``true``/``false`` for a number is an error.
    Declare ranges on the fields, ``epochs: Annotated[int, Field(ge=1)] = 60``.
    """

    model_config = pydantic.ConfigDict(extra="forbid", validate_default=True, frozen=False)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _as_expected(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name]
        try:
            return as_expected(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation,
                               value)
        except NotExpected as exc:
            raise pydantic_core.PydanticCustomError("not_expected", str(exc)) from None

