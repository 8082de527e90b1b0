"""How a site's primaries replicate: timeouts, batch sizes, intervals (settings build it:
replication.setup.config_of)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicationConfig:
    #: how long a sync write waits for the ISR before the laggards are removed
    ack_timeout: float = 2.0
    batch_entries: int = 1000
    #: batches in flight per replica
    window: int = 4
    #: an idle stream sends an empty batch this often (seal check, truncation floor)
    heartbeat_seconds: float = 5.0
    #: ... and, while its replica is in sync and caught up, doubles the interval up to
    #: this: a thousand idle tenants' heartbeats kept a small site's event loop so busy
    #: that its etcd lease lapsed during an evacuation
    idle_heartbeat_seconds: float = 30.0
    request_timeout: float = 30.0
    backoff_min: float = 0.05
    backoff_max: float = 5.0
    cas_attempts: int = 3
    #: how often lag is checked for the ISR (async mode) and the log truncated
    upkeep_seconds: float = 1.0
    #: a replica missing more entries than this is reseeded from a snapshot instead
    snapshot_over: int = 250_000
