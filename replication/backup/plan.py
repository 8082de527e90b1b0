"""A site's backup plan, from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from replication.backup.crypto import MasterKey
from replication.backup.store import Bucket, parse_targets
from yui.settings import Settings


@dataclass(frozen=True)
class BackupPlan:
    master: MasterKey
    buckets: list[Bucket]
    #: how often each tenant this site is primary of is backed up (0: only on demand)
    interval_seconds: float
    #: a new snapshot once the log since the last one is longer than this
    snapshot_over: int = 250_000


def backup_plan(settings: Settings) -> BackupPlan | None:
    """None when no backup target is configured."""
    targets = parse_targets(settings.backup_targets)
    if not targets:
        return None
    return BackupPlan(
        master=MasterKey.load_or_create(settings.backup_key_path),
        buckets=[Bucket(target) for target in targets],
        interval_seconds=settings.backup_interval_seconds,
    )
