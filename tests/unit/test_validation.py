"""autoheal.validation: the one pydantic error summariser (intake, HMA records, the demo's scenarios)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from autoheal.validation import first_errors, summarise


class Point(BaseModel):
    x: int
    y: int
    z: int = 0
    w: int = 0

    @model_validator(mode="after")
    def _not_origin(self) -> Point:
        if (self.x, self.y) == (0, 0):
            raise ValueError("not the origin")
        return self


def error(value: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Point.model_validate(value)
    return info.value


def test_the_first_errors_then_how_many_more() -> None:
    exc = error({"x": "a", "y": "b", "z": "c", "w": "d"})
    assert summarise(exc).startswith("x: Input should be a valid integer")
    assert summarise(exc).endswith("; (+1 more)") and summarise(exc).count(";") == 3
    assert summarise(exc, 1, prefix="p.").count(";") == 1 and summarise(exc, 1, prefix="p.").startswith(
        "p.x: "
    )


def test_input_is_never_echoed_and_the_line_is_clipped() -> None:
    exc = error({"x": "SECRET" * 100, "y": 1})
    assert "SECRET" not in summarise(exc)
    assert len(summarise(error({}), limit=20)) == 20 and summarise(error({}), limit=20).endswith("…")


def test_an_error_about_the_whole_input_is_named() -> None:
    exc = error({"x": 0, "y": 0})
    assert summarise(exc) == "Point: Value error, not the origin"
    lines, hidden = first_errors(exc, top_level="(top level)")
    assert (lines[0].location, hidden) == ("(top level)", 0)
