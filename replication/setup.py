"""Building a site's replication node from its settings (the site node calls this)."""

from __future__ import annotations

from replication.backup.plan import backup_plan
from replication.node import ReplicationNode
from replication.ports import Peers, Placements, StaticPeers
from replication.primary.config import ReplicationConfig
from replication.protocol.signing import SiteKey, TrustStore, load_or_create_site_key
from yui.db.database import Database
from yui.settings import Settings


def topology_peers(settings: Settings) -> StaticPeers:
    topology = settings.topology
    return StaticPeers({site.name: site.url for site in topology.sites} if topology else {})


def site_key(settings: Settings) -> SiteKey:
    return load_or_create_site_key(settings.site, settings.replication_key_path)


def trust_store(settings: Settings) -> TrustStore:
    if settings.replication_trust_file is None:
        return TrustStore()  # trusts no one: every replication request is refused
    return TrustStore.load(settings.replication_trust_file)


def config_of(settings: Settings) -> ReplicationConfig:
    return ReplicationConfig(
        ack_timeout=settings.replication_ack_timeout_seconds,
        batch_entries=settings.replication_batch_entries,
        window=settings.replication_window,
    )


def node_from_settings(
    settings: Settings, db: Database, placements: Placements, peers: Peers | None = None
) -> ReplicationNode | None:
    """The replication node of this site; None when replication is off (no trust file)."""
    if settings.replication_trust_file is None:
        return None
    return ReplicationNode(
        site=settings.site,
        db=db,
        key=site_key(settings),
        trust=trust_store(settings),
        placements=placements,
        peers=peers or topology_peers(settings),
        config=config_of(settings),
        backups=backup_plan(settings),
    )
