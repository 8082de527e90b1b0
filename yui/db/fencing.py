"""The write fence: a commit that writes a tenant's rows asks the site's write gate first.

The gate (wired by the site node from the placements) raises `NotPrimary` when this
site is not the tenant's primary, so a replica never takes a write of its own — whatever
path the request took. Applying shipped entries (replication) is not a write of ours.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from yui.changelog.capture import APPLYING, PENDING, TX_SEQ
from yui.errors import YuiError
from yui.tenancy.scope import TENANT

WRITE_GATE = "yui_write_gate"

#: called with the tenant before a commit that changes its rows; raises to refuse
WriteGate = Callable[[str], None]


class NotPrimary(YuiError):
    """This site does not take the tenant's writes now; the gateway retries at the primary."""

    status = 421
    slug = "not-primary"
    title = "このサイトは主系ではありません / This site is not the primary"


def _writes_anything(session: Session) -> bool:
    # TX_SEQ: the transaction already took seqs of the log (a logged bulk insert)
    return bool(
        session.info.get(PENDING)
        or session.info.get(TX_SEQ)
        or session.new
        or session.dirty
        or session.deleted
    )


def install(session_class: type[Session]) -> None:
    @event.listens_for(session_class, "before_commit")
    def _fence(session: Session) -> None:
        gate: WriteGate | None = session.info.get(WRITE_GATE)
        tenant: str | None = session.info.get(TENANT)
        if gate is None or tenant is None or session.info.get(APPLYING):
            return
        if _writes_anything(session):
            gate(tenant)
