"""The session class every unit of work uses: tenancy installed, commits run their hooks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yui.db import context
from yui.tenancy import scope


class YuiSession(Session):
    """A SQLAlchemy session scoped to one tenant, whose commits run the hooks of its
    transaction context (`context.CommitHooks`) in their order: each before-commit hook
    inside the transaction, then the commit, then each after-commit hook."""

    def commit(self) -> None:
        transaction_context = context.context_of(self)
        hooks = transaction_context.hooks
        for before in hooks.before_commit:
            before(self, transaction_context)
        committed = transaction_context.transaction  # replaced when the transaction ends
        super().commit()
        for after in hooks.after_commit:
            after(transaction_context, committed)


scope.install(YuiSession)
context.install(YuiSession)
