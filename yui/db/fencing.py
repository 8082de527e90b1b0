"""The write fence: a commit that writes a tenant's rows asks the site's write gate first.

The gate (wired by the site node from the placements) raises `NotPrimary` when this
site is not the tenant's primary, so a replica never takes a write of its own — whatever
path the request took. Applying shipped entries (replication) is not a write of ours:
such a session runs no commit hooks.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yui.db.context import TransactionContext
from yui.errors import YuiError


class NotPrimary(YuiError):
    """This site does not take the tenant's writes now; the gateway retries at the primary."""

    status = 421
    slug = "not-primary"
    title = "このサイトは主系ではありません / This site is not the primary"


def _writes_anything(session: Session, context: TransactionContext) -> bool:
    transaction = context.transaction
    # tx_seq: the transaction already took seqs of the log (a logged bulk insert)
    return bool(
        transaction.pending or transaction.tx_seq or session.new or session.dirty or session.deleted
    )


def check_write_gate(session: Session, context: TransactionContext) -> None:
    """A commit hook, the first: refuse the commit before anything of it is logged."""
    if context.write_gate is None or context.tenant is None or context.applying:
        return
    if _writes_anything(session, context):
        context.write_gate(context.tenant)
