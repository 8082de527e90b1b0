"""A site's schema history: one Alembic history, whose revisions live beside their parts.

The kernel keeps its own revisions (`KERNEL_REVISIONS`), replication, failover and each
service keep theirs in a `migrations` folder of their own, and every revision still
names the one before it, so the history is a single chain and a database upgrades as it
always did. Only the composition root knows every part, so it lists the folders
(`assembly.schema.SCHEMA_HISTORY`): the kernel imports nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

T = TypeVar("T")

#: the Alembic environment (env.py) and the template of new revisions
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: the kernel's own revisions (its tables: tenants, staff, audit, change log, jobs)
KERNEL_REVISIONS = MIGRATIONS / "versions"


@dataclass(frozen=True)
class SchemaHistory:
    """Every folder that holds revisions of the one history (Alembic's version_locations)."""

    revision_folders: tuple[Path, ...]


class CommandContext(Protocol):
    """A command's context (Click's, as Typer passes it), where the command's objects are."""

    def find_object(self, object_type: type[T]) -> T | None: ...


def history_of(command: CommandContext) -> SchemaHistory:
    """The history the `yui` command hands its parts' commands: its composition root makes
    it the context's object, as the parts may not import the root."""
    history = command.find_object(SchemaHistory)
    if history is None:  # a part's command run outside the `yui` command: a wiring bug
        raise RuntimeError("the command was started without the site's schema history")
    return history
