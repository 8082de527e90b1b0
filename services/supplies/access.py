"""Who may do what in relief supplies (least privilege).

- staff (職員): everything — places, the catalogue, every place's stock, every shelter's
  evacuees (and their care notes), the needs standards, assignments;
- auditor (監査): reads everything staff read; writes nothing;
- shelter (避難所): its own assigned shelters only: their check-ins and check-outs, their
  occupancy and make-up (counts, never a care note), their stock and needs, issuing
  from their stock;
- depot (物資拠点): its own assigned depots' stock: receipts, issues, adjustments, and
  transfers out of them; reads the catalogue and the list of places (where to ship);
- admin: nothing here (accounts only).

A shelter or depot account works the places staff assigned to it
(`supplies_place_assignments`); an account with none works nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from supplies.places.models import PlaceAssignment
from yui.auth.models import Role
from yui.auth.service import Principal
from yui.errors import NotFound, Unavailable
from yui.http.deps import require
from yui.service_ports import Audience, ResidentDirectory

StaffWriter = Annotated[Principal, Depends(require(Role.STAFF))]
StaffReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR))]
#: reads the catalogue and the list of places
AnyReader = Annotated[
    Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.SHELTER, Role.DEPOT))
]
#: works a shelter: check-ins, occupancy
ShelterWorker = Annotated[Principal, Depends(require(Role.STAFF, Role.SHELTER))]
ShelterReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.SHELTER))]
#: moves stock (staff anywhere; depot and shelter at their own places)
StockWorker = Annotated[Principal, Depends(require(Role.STAFF, Role.DEPOT, Role.SHELTER))]
StockReader = Annotated[
    Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.DEPOT, Role.SHELTER))
]


@dataclass(frozen=True)
class Reach:
    """The places a principal works: every place (`everywhere`) or the assigned ones."""

    everywhere: bool
    places: frozenset[str]

    def covers(self, place_id: str) -> bool:
        return self.everywhere or place_id in self.places

    def check(self, place_id: str) -> None:
        """Refuse a place the principal does not work. The answer is the same 404 as for
        an unknown place: an account learns nothing of places that are not its own."""
        if not self.covers(place_id):
            raise NotFound(f"場所 {place_id} はありません / no place {place_id}")


def reach_of(session: Session, principal: Principal) -> Reach:
    """Staff and auditors reach every place; a shelter or depot account its assignments."""
    if principal.has_any(Role.STAFF, Role.AUDITOR):
        return Reach(everywhere=True, places=frozenset())
    assigned = session.execute(
        select(PlaceAssignment.place_id).where(PlaceAssignment.username == principal.username)
    ).scalars()
    return Reach(everywhere=False, places=frozenset(assigned))


def may_read_care_notes(principal: Principal) -> bool:
    """A stay's care note (what carers must know) is for the municipality's staff only."""
    return principal.has_any(Role.STAFF)


def audience_of(principal: Principal) -> Audience:
    """The registry's rule: staff and auditors see every registered resident; a shelter
    account is non-staff and never sees a resident under a DV-support block."""
    return Audience.STAFF if principal.has_any(Role.STAFF, Role.AUDITOR) else Audience.NON_STAFF


def resident_directory(request: Request) -> ResidentDirectory:
    """The registry, through the kernel's port: the composition root puts it in the app's
    state (this service never imports the registry)."""
    directory: ResidentDirectory | None = getattr(request.app.state, "resident_directory", None)
    if directory is None:
        raise Unavailable(
            "住民記録に接続されていません / the resident registry is not connected here"
        )
    return directory


Directory = Annotated[ResidentDirectory, Depends(resident_directory)]
