"""The site's one schema history: the folders of every part's Alembic revisions.

Each part keeps its revisions beside its code (yui.db.schema); the order of the history
is in the revisions themselves (each names the one before it), not in this list.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import failover
import replication
import residents
import safety_check
import supplies
from yui.db.schema import KERNEL_REVISIONS, SchemaHistory


def _revisions_of(part: ModuleType) -> Path:
    """A part's revisions: the `migrations` folder of its package."""
    return Path(part.__path__[0]) / "migrations"


SCHEMA_HISTORY = SchemaHistory(
    (
        KERNEL_REVISIONS,
        _revisions_of(replication),
        _revisions_of(failover),
        _revisions_of(residents),
        _revisions_of(safety_check),
        _revisions_of(supplies),
    )
)
