"""Row values to JSON and back, by column type, so a replica rebuilds exactly the row."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Table


def to_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if hasattr(value, "value"):  # enum members
        return to_json(value.value)
    raise TypeError(f"cannot log a value of type {type(value).__name__}")


def from_json(table: Table, column_name: str, value: Any) -> Any:
    """The inverse of to_json for one column of `table`."""
    if value is None:
        return None
    try:
        python_type = table.c[column_name].type.python_type
    except NotImplementedError:
        return value
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if python_type is dt.date:
        return dt.date.fromisoformat(value)
    if python_type is dt.time:
        return dt.time.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is Decimal:
        return Decimal(value)
    if python_type is bytes:
        return base64.b64decode(value)
    return value


def row_from_json(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    return {name: from_json(table, name, value) for name, value in values.items()}
