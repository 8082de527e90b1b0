"""The session class every unit of work uses, with tenancy and change capture installed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yui.changelog import capture
from yui.db import fencing
from yui.tenancy import scope


class YuiSession(Session):
    """A SQLAlchemy session scoped to one tenant, whose commits are change-logged."""


scope.install(YuiSession)
fencing.install(YuiSession)  # before capture: a refused commit logs nothing
capture.install(YuiSession)
