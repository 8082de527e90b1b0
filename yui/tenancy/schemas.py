from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    prefecture: str
    created_at: datetime
