from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from yui.db.types import UtcDateTime


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    prefecture: str
    created_at: UtcDateTime
