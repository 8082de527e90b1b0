from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from yui.db.types import UtcDateTime


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    n: int
    at: UtcDateTime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    problem: str | None = None
    first_bad_n: int | None = None
