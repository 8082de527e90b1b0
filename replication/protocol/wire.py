"""The replication protocol's messages (JSON over HTTP), shared by sender and receiver.

A batch is a run of consecutive change-log entries of one tenant, sent by the primary
of ``epoch``. ``prev_seq``/``prev_epoch`` name the entry just before the first one in
the sender's log, so a replica appends only to a log that matches (a replica whose
log differs has diverged: docs/replication.md, "Divergence").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["insert", "update", "delete"]
AckStatus = Literal["ok", "gap", "fenced", "diverged", "apply-failed"]
#: the version of the snapshot stream (NDJSON; replication.primary.snapshot writes it)
SNAPSHOT_FORMAT = 1
#: a batch holds at most this many entries (the receiver refuses more)
MAX_BATCH_ENTRIES = 10_000


class Entry(BaseModel):
    """One change-log entry, as the kernel's change_log row holds it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    epoch: int = Field(ge=0)
    tx_seq: int = Field(ge=1)
    table: str = Field(min_length=1, max_length=63)
    op: Op
    pk: dict[str, Any]
    row: dict[str, Any] | None
    at: datetime


class Batch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the sending primary's epoch (the fencing token)
    epoch: int = Field(ge=0)
    prev_seq: int = Field(ge=0)
    #: the epoch of the sender's entry at prev_seq (None when prev_seq is 0)
    prev_epoch: int | None = Field(default=None, ge=0)
    entries: list[Entry] = Field(default_factory=list, max_length=MAX_BATCH_ENTRIES)
    #: the last entry ends its transaction (else the rest follows in the next batch)
    complete: bool = True
    #: the sender's head when it built the batch (for the replica's lag)
    primary_seq: int = Field(default=0, ge=0)
    #: every copy holds the entries below this seq: the replica may truncate them
    truncate_below: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consecutive(self) -> Self:
        expected, epoch = self.prev_seq + 1, self.prev_epoch or 0
        for entry in self.entries:
            if entry.seq != expected:
                raise ValueError(f"entries must follow prev_seq without gaps (seq {entry.seq})")
            if entry.epoch < epoch or entry.epoch > self.epoch:
                raise ValueError(f"entry {entry.seq}: epoch {entry.epoch} out of order")
            if entry.tx_seq > entry.seq:
                raise ValueError(f"entry {entry.seq}: tx_seq after seq")
            expected, epoch = expected + 1, entry.epoch
        return self

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else self.prev_seq


class Ack(BaseModel):
    """A replica's answer. ``durable_seq`` is its log's head (held durably) and
    ``durable_epoch`` the epoch of that entry; ``applied_seq`` how far its rows are."""

    status: AckStatus
    durable_seq: int
    durable_epoch: int
    applied_seq: int
    sealed_epoch: int
    detail: str | None = None


class SealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=1)


class SealOut(BaseModel):
    tenant: str
    sealed_epoch: int
    durable_seq: int
    durable_epoch: int
    applied_seq: int


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=1)


class PauseIn(BaseModel):
    """Stop new writes of a tenant at its primary (a planned move); they get a retryable 503."""

    model_config = ConfigDict(extra="forbid")

    #: the pause ends by itself after this long (a mover that died leaves no stuck tenant)
    ttl_seconds: float = Field(default=10.0, gt=0, le=120)
    #: how long to wait for the in-sync set to hold the head before giving up (503)
    wait_seconds: float = Field(default=5.0, gt=0, le=60)


class PauseOut(BaseModel):
    """The primary's log head once every in-sync replica holds it (writes paused)."""

    tenant: str
    site: str
    head_seq: int
    epoch: int
    in_sync: list[str]
    acked: dict[str, int]
    waited_seconds: float


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: apply no further than this seq (None: stay where applying is now)
    seq: int | None = Field(default=None, ge=0)
    ttl_seconds: float = Field(default=30.0, gt=0, le=600)


class ReplicaStatus(BaseModel):
    """One copy's state of one tenant, as that copy says it."""

    tenant: str
    site: str
    role: str
    durable_seq: int
    durable_epoch: int
    applied_seq: int
    sealed_epoch: int
    log_start: int
    snapshot_seq: int | None
    epochs: list[list[int]]
    source_site: str | None
    primary_seq: int
    applied_at: datetime | None
    stalled: str | None
    hold: int | None = None


class TableDigest(BaseModel):
    rows: int
    digest: str


class DigestOut(BaseModel):
    tenant: str
    site: str
    seq: int
    digest: str
    tables: dict[str, TableDigest]


class StreamStatus(BaseModel):
    """The primary's view of one replica of one tenant."""

    replica: str
    in_sync: bool
    acked_seq: int | None
    lag_entries: int | None
    lag_seconds: float | None
    state: str
    detail: str | None = None


class TenantStatus(BaseModel):
    tenant: str
    role: str
    head_seq: int
    epoch: int
    mode: str | None
    min_insync: int | None
    in_sync: list[str]
    replicas: list[StreamStatus]
    fenced: str | None = None


class NodeStatus(BaseModel):
    site: str
    tenants: list[TenantStatus]
    copies: list[ReplicaStatus]


class QuarantineOut(BaseModel):
    id: int
    tenant: str
    site: str
    seq: int
    epoch: int
    tx_seq: int
    table: str
    op: str
    pk: dict[str, Any]
    row: dict[str, Any] | None
    committed_at: datetime
    reason_code: str
    reason: str
    source_site: str
    quarantined_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=100)
    note: str = Field(min_length=1, max_length=2000)
