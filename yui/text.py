"""One rule for every piece of text a client sends, and strict calendar dates.

Text may not hold NUL, the other C0 controls, DEL or the C1 controls (U+0080–U+009F):
they corrupt exports, terminals and logs, and PostgreSQL refuses NUL outright. Free
text (a note, what helpers need to know) may hold tab and newline; every other field
is one line. A request schema gets the rule for all its fields by deriving from
`InputModel`; a query parameter by its type (`LineText`); a value that is not from
pydantic through `control_character_problem`. Either way the answer is a 422 that
names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_FREE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class MultiLine:
    """Marks a text field as free text: tab and newline are allowed in it."""


def control_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """The bilingual reason `value` is refused, or None when it has no control character."""
    found = (_FREE_TEXT if multiline else _ONE_LINE).search(value)
    if found is None:
        return None
    code = f"U+{ord(found.group()):04X}"
    return f"制御文字 {code} は使えません / the control character {code} is not allowed"


def _refuse(value: object, multiline: bool) -> None:
    if isinstance(value, str):
        reason = control_character_problem(value, multiline=multiline)
        if reason is not None:
            raise PydanticCustomError("control_character", reason)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str):
                _refuse(item, multiline)


def check_line(value: str) -> str:
    _refuse(value, False)
    return value


def check_free_text(value: str) -> str:
    _refuse(value, True)
    return value


#: one line of text: for query parameters and fields outside an `InputModel`
LineText = Annotated[str, AfterValidator(check_line)]
#: free text (tab and newline allowed); inside an `InputModel` the marker is enough
FreeText = Annotated[str, MultiLine(), AfterValidator(check_free_text)]


class InputModel(BaseModel):
    """Base of every request schema: no field of it (nor of a list of text in it) holds a
    control character. Nested schemas derive from it too and check their own fields."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # Before the field's own validators: they strip(), which would hide a trailing
        # control character instead of refusing it.
        field = cls.model_fields.get(info.field_name or "")
        multiline = field is not None and any(isinstance(m, MultiLine) for m in field.metadata)
        _refuse(value, multiline)
        return value


def _calendar_date(value: Any) -> Any:
    """Only a date or its ISO form YYYY-MM-DD: pydantic alone reads a number as seconds
    since 1970 (`?on=0` was 1970-01-01) and accepts datetimes with a time part."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return value
    raise PydanticCustomError(
        "date_format",
        "日付は YYYY-MM-DD で書いてください / a date is written YYYY-MM-DD",
    )


#: a calendar date as a client writes it: YYYY-MM-DD, nothing else
CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
