"""Evacuees at shelters: each check-in is a stay, closed by its check-out.

A stay is one registered resident (read through the kernel's ResidentDirectory port;
only the id is kept here) or a party of unregistered people (visitors, stranded
commuters) counted together. Occupancy now is the people of the open stays; its history
is the stays' times. The make-up that needs are computed from is kept only as counts
per category (infants 1, allergy 2 …); anything more personal is `care_note`, which
only the staff role reads or writes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yui.db.base import Base, TenantScoped
from yui.db.types import UTCDateTime


class EvacueeKind(StrEnum):
    RESIDENT = "resident"  # 住民（住民記録にある人）
    VISITOR = "visitor"  # 来訪者・旅行者
    COMMUTER = "commuter"  # 帰宅困難者
    OTHER = "other"  # その他（住民記録で確認できない住民など）


class NeedCategory(StrEnum):
    """What the make-up records, as counts: enough to compute needs, nothing more."""

    INFANT = "infant"  # 乳児（0-1歳）
    CHILD = "child"  # 幼児・小児
    ELDERLY = "elderly"  # 高齢者（65歳以上）
    PREGNANT = "pregnant"  # 妊産婦
    DISABILITY = "disability"  # 障害のある人
    NEEDS_CARE = "needs_care"  # 要介護（おむつ等）
    MENSTRUATING = "menstruating"  # 生理用品が必要な人
    ALLERGY = "allergy"  # 食物アレルギー
    MEDICAL = "medical"  # 医療的ケア・常用薬
    DIETARY = "dietary"  # 食事制限（宗教・嚥下等）


class CheckOutReason(StrEnum):
    LEFT = "left"  # 退所（帰宅等）
    MOVED = "moved"  # 他の避難所へ移動
    HOSPITAL = "hospital"  # 入院・搬送
    SHELTER_CLOSED = "shelter_closed"  # 避難所の閉鎖


class Stay(TenantScoped, Base):
    __tablename__ = "supplies_stays"
    __table_args__ = (
        Index("ix_supplies_stays_shelter_open", "tenant_id", "shelter_id", "checked_out_at"),
        Index("ix_supplies_stays_resident", "tenant_id", "resident_id"),
        CheckConstraint("people >= 1", name="people"),
    )

    tenant_id: Mapped[str] = mapped_column(String(6), nullable=False)
    #: the client's id (UUID): a check-in sent twice is recorded once
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    shelter_id: Mapped[str] = mapped_column(ForeignKey("supplies_places.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the registry's id for a resident ("" otherwise)
    resident_id: Mapped[str] = mapped_column(String(36), nullable=False, default="")
    #: how an unregistered party is called out at the shelter (a name or a tag: "○○駅 帰宅困難者")
    label: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    #: people in the stay: 1 for a resident, a party's size otherwise
    people: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: NeedCategory → how many of the stay's people are in it (each at most `people`)
    makeup: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=dict)
    #: staff only: what carers must know (medication, the allergen, equipment)
    care_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    checked_in_by: Mapped[str] = mapped_column(String(100), nullable=False)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checked_out_by: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    check_out_reason: Mapped[str] = mapped_column(String(16), nullable=False, default="")
