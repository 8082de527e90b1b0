"""The timing rule and the stored JSON forms (no etcd needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from failover.coordination import REAL_CLOUD, SANDBOX, CoordinationTiming, SiteRecord
from failover.coordination.codec import (
    CodecError,
    decode_placement,
    decode_site,
    encode_placement,
    encode_site,
)
from failover.placement.policy import Placement


def test_defaults_are_the_sandbox_profile() -> None:
    timing = CoordinationTiming()
    assert timing == SANDBOX
    assert (timing.lease_ttl_seconds, timing.keepalive_interval_seconds) == (3, 1.0)
    assert timing.retry_timeout_seconds == 1.0


def test_real_cloud_profile_obeys_the_rule() -> None:
    assert REAL_CLOUD.keepalive_interval_seconds + 2 * REAL_CLOUD.retry_timeout_seconds <= (
        REAL_CLOUD.lease_ttl_seconds
    )


def test_renewal_must_fit_in_the_ttl() -> None:
    with pytest.raises(ValidationError) as caught:
        CoordinationTiming(
            lease_ttl_seconds=3, keepalive_interval_seconds=1.5, retry_timeout_seconds=1.0
        )
    message = str(caught.value)
    for name in ("keepalive_interval_seconds", "retry_timeout_seconds", "lease_ttl_seconds"):
        assert name in message
    # Exactly on the limit is allowed (Patroni: loop_wait + 2*retry_timeout <= ttl).
    CoordinationTiming(lease_ttl_seconds=4, keepalive_interval_seconds=2, retry_timeout_seconds=1)


def test_placement_round_trip_takes_epoch_from_revision() -> None:
    placement = Placement(
        tenant="041009",
        primary="aws-tokyo",
        replicas=("sakura-ishikari", "oci-osaka"),
        in_sync=("sakura-ishikari",),
        mode="async",
        min_insync=1,
        epoch=99,
    )
    raw = encode_placement(placement)
    assert b"epoch" not in raw
    decoded = decode_placement(raw, revision=1234)
    assert decoded.epoch == 1234
    assert decoded == Placement(**{**placement.__dict__, "epoch": 1234})


def test_site_round_trip_and_bad_input() -> None:
    record = SiteRecord(
        name="aws-tokyo",
        provider="aws",
        region="ap-northeast-1",
        hazard_zones=("kanto",),
        urls=("http://127.0.0.1:8401",),
        capacity=2,
    )
    assert decode_site(encode_site(record)) == record
    assert record.to_site_info().hazard_zones == frozenset({"kanto"})
    for bad in (b"not json", b"[]", b'{"name": "x"}'):
        with pytest.raises(CodecError):
            decode_site(bad)
    with pytest.raises(CodecError):
        decode_placement(
            b'{"tenant": "041009", "primary": "a", "replicas": [], '
            b'"in_sync": [], "mode": "eventually"}',
            revision=1,
        )


def test_a_placement_stored_before_the_zone_rule_reads_with_its_default() -> None:
    # Placements written by an older Yui have no min_insync_zones: the design's default
    # (a copy outside the primary's zones) applies; a stored value round-trips.
    old = (
        b'{"in_sync":["gcp-osaka"],"min_insync":1,"mode":"sync","primary":"aws-tokyo",'
        b'"replicas":["gcp-osaka","sakura-ishikari"],"tenant":"041009"}'
    )
    assert decode_placement(old, revision=7).min_insync_zones == 2
    opted_out = Placement("041009", "aws-tokyo", ("gcp-osaka",), ("gcp-osaka",), min_insync_zones=1)
    assert decode_placement(encode_placement(opted_out), revision=8).min_insync_zones == 1
    with pytest.raises(CodecError):
        decode_placement(old.replace(b'"min_insync":1', b'"min_insync_zones":"two"'), revision=9)
