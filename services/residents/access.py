"""Who may do what in the resident registry (least privilege).

- staff (職員): reads and changes residents, imports and exports;
- auditor (監査): reads everything a staff member reads, changes nothing;
- shelter (避難所): the directory only — minimal facts of registered residents who
  are not under a DV-support block, and the shareable needs-assistance list;
- admin and depot: nothing here (an admin who needs it is also given staff).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from yui.auth.models import Role
from yui.auth.service import Principal
from yui.http.deps import require

StaffReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR))]
StaffWriter = Annotated[Principal, Depends(require(Role.STAFF))]
DirectoryReader = Annotated[Principal, Depends(require(Role.STAFF, Role.AUDITOR, Role.SHELTER))]


def is_staff(principal: Principal) -> bool:
    """Staff and auditors see everything; every other role gets the non-staff output."""
    return principal.has_any(Role.STAFF, Role.AUDITOR)
