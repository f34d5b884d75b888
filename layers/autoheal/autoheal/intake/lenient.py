"""Strict about ids, tolerant about everything else: the one mechanism intake's models use for that.

- Unknown fields are ignored everywhere (`Tolerant`'s `extra="ignore"`, which every intake model,
  nested ones included, inherits).
- `Droppable[T]` marks an optional field intake does not act on (a cluster ARN when a name may be
  usable, a group name, tags, prose, an optional timestamp, a page number): a value that does not
  validate is *dropped* - the field takes its default - instead of rejecting the whole event. The
  model records what it dropped and why (`Tolerant.dropped`); `dropped_fields` collects that from a
  parsed event, nested models included, so intake can log each drop and count it (`DroppedFields`).
- What intake acts on (the instance id, a NodeLogicalId that is the only name of the node, at least
  one usable cluster identity) is never `Droppable`, or is checked by its model after the drop: a bad
  one still rejects the event, loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from autoheal.validation import summarise

T = TypeVar("T")

#: How much of a drop's reason is kept (the validation message, which may quote a clipped value).
REASON_MAX = 200


@dataclass(frozen=True)
class DroppedField:
    """One optional field a model dropped: its name as AWS spells it, where it was, and why."""

    field: str  # `ClusterArn`: the metric dimension (bounded: the names our models declare)
    path: str  # `detail.EventDetails.ClusterArn`: for the log line
    reason: str  # the validation message, short


class _Dropped:
    """What a `Droppable` field holds between its own validation and its model's: why it failed."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _drop_on_error(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    try:
        return handler(value)
    except ValidationError as exc:
        return _Dropped(summarise(exc, shown=1, top_level="value", limit=REASON_MAX))


#: An optional field whose unusable value is dropped (default kept, drop recorded), never fatal.
Droppable = Annotated[T, WrapValidator(_drop_on_error)]


class Tolerant(BaseModel):
    """Base of every intake model: unknown fields ignored, `Droppable` fields settled and recorded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    _dropped: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _settle_dropped(self) -> Self:
        """Runs before any subclass's own model validators, so they only ever see settled values."""
        for name, info in type(self).model_fields.items():
            value = self.__dict__.get(name)
            if isinstance(value, _Dropped):
                self.__dict__[name] = info.get_default(call_default_factory=True)  # frozen: set once, here
                self._dropped[info.alias or name] = value.reason
        return self

    @property
    def dropped(self) -> dict[str, str]:
        """This model's own dropped fields (alias -> reason); nested models keep theirs."""
        return dict(self._dropped)


def dropped_fields(model: BaseModel, path: str = "") -> list[DroppedField]:
    """Every field dropped anywhere in a parsed model, depth first, with its dotted path."""
    found: list[DroppedField] = []
    if isinstance(model, Tolerant):
        found.extend(DroppedField(name, f"{path}{name}", why) for name, why in model.dropped.items())
    for name, info in type(model).model_fields.items():
        key = f"{path}{info.alias or name}."
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found.extend(dropped_fields(value, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found.extend(dropped_fields(item, f"{key}{index}."))
    return found


def _scalar_entries(value: object) -> object:
    """A string map from AWS (metric dimensions, contributor attributes): entries whose value is an
    object or an array are not ours to read, so they are left out; scalars are validated as usual."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not isinstance(v, dict | list)}
    return value


#: A map of strings that tolerates unknown structured entries beside the ones we read.
StringMap = Annotated[dict[str, str], BeforeValidator(_scalar_entries)]
