"""Who may do what in safety confirmation (least privilege).

- staff (職員): opens, closes and purges campaigns, records every report (believed_dead
  too), reads the views;
- auditor (監査): reads campaigns, reports and the views; writes nothing;
- shelter (避難所): sees the campaigns and records reports of the people it meets
  (never believed_dead), for residents the registry shows to non-staff only;
- admin (管理者): sets which alerts open a campaign (the alert rules), nothing else here;
- depot: nothing here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from yui.auth.models import Role
from yui.auth.service import Principal
from yui.errors import Unavailable
from yui.http.deps import require
from yui.service_ports import Audience, ResidentDirectory

StaffReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR))]
StaffWriter = Annotated[Principal, Depends(require(Role.STAFF))]
CampaignReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.SHELTER))]
Reporter = Annotated[Principal, Depends(require(Role.STAFF, Role.SHELTER))]
#: the alert rules: staff and auditors read them, the municipality's admin sets them
RulesReader = Annotated[Principal, Depends(require(Role.ADMIN, Role.STAFF, Role.AUDITOR))]
RulesWriter = Annotated[Principal, Depends(require(Role.ADMIN))]


def audience_of(principal: Principal) -> Audience:
    """The registry's rule: staff and auditors see every registered resident (a DV-support
    block flagged); every other role is non-staff and never sees a blocked resident."""
    return Audience.STAFF if principal.has_any(Role.STAFF, Role.AUDITOR) else Audience.NON_STAFF


def may_record_death(principal: Principal) -> bool:
    """believed_dead is recorded by the municipality's staff only."""
    return principal.has_any(Role.STAFF)


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
