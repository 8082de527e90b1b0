"""The checker on crafted ack logs and copies: lost, duplicate, split brain, digest mismatch."""

from __future__ import annotations

from failover.drill.checker import CopyDigest, CopyRow, check
from failover.drill.loadgen import Attempt

T1, T2 = "041009", "271004"


def ack(
    tenant: str,
    write_id: str,
    site: str,
    *,
    epoch: int | None = 5,
    status: int = 201,
    t: float = 100.0,
) -> Attempt:
    return Attempt(
        t=t,
        t_done=t + 0.01,
        tenant=tenant,
        id=write_id,
        n=0,
        attempt=1,
        site=site,
        status=status,
        served_by=site,
        epoch=epoch,
        final=True,
    )


def failed(tenant: str, write_id: str, site: str) -> Attempt:
    return Attempt(
        t=100.0, t_done=100.5, tenant=tenant, id=write_id, n=0, attempt=1, site=site, status=None
    )


def row(tenant: str, write_id: str, site: str = "a", epoch: int = 5) -> CopyRow:
    return CopyRow(tenant, write_id, site, epoch, "2026-11-22T06:00:00+00:00")


def test_a_clean_drill_is_ok() -> None:
    attempts = [failed(T1, "w1", "b"), ack(T1, "w1", "a"), ack(T1, "w2", "a")]
    copies = {
        "a": {T1: [row(T1, "w1"), row(T1, "w2")]},
        "c": {T1: [row(T1, "w1"), row(T1, "w2")]},
    }
    result = check(
        attempts,
        copies,
        primaries={T1: "a"},
        digests=[CopyDigest(T1, "a", 9, "d1"), CopyDigest(T1, "c", 9, "d1")],
    )
    assert result.ok
    assert result.counts() == {
        "acknowledged_writes": 2,
        "lost_acknowledged_writes": 0,
        "duplicate_writes": 0,
        "split_brain_violations": 0,
        "quarantined_entries": 0,
        "digest_mismatches": 0,
    }
    assert result.to_json()["ok"] is True


def test_an_acknowledged_write_missing_at_the_new_primary_is_lost() -> None:
    # w2 was acknowledged by the old primary a, which is gone; the new primary c lacks it.
    attempts = [ack(T1, "w1", "a"), ack(T1, "w2", "a"), failed(T1, "w3", "a")]
    copies = {"c": {T1: [row(T1, "w1")]}}
    result = check(attempts, copies, primaries={T1: "c"})
    assert [(f.kind, f.id) for f in result.lost] == [("lost", "w2")]
    assert "missing at the primary c" in result.lost[0].detail
    assert result.counts()["lost_acknowledged_writes"] == 1 and not result.ok
    # an unacknowledged write (w3) is never "lost"


def test_without_the_primary_a_write_counts_as_held_if_any_copy_has_it() -> None:
    attempts = [ack(T1, "w1", "a"), ack(T1, "w2", "a")]
    copies = {"b": {T1: [row(T1, "w1")]}, "c": {T1: [row(T1, "w2")]}}
    result = check(attempts, copies, primaries={T1: "a"})  # a was not read: it is down
    assert result.lost == []
    assert {(g.id, g.sites) for g in result.replica_gaps} == {("w1", ("c",)), ("w2", ("b",))}


def test_a_replica_behind_the_primary_is_a_gap_not_a_loss() -> None:
    result = check(
        [ack(T1, "w1", "a"), ack(T1, "w2", "a")],
        {"a": {T1: [row(T1, "w1"), row(T1, "w2")]}, "b": {T1: [row(T1, "w1")]}},
        primaries={T1: "a"},
    )
    assert result.ok and [g.id for g in result.replica_gaps] == ["w2"]


def test_a_tenant_with_no_copy_read_is_unverified_not_ok() -> None:
    result = check([ack(T2, "w1", "a")], {"a": {T1: []}})
    assert result.unverified_tenants == [T2] and not result.ok
    assert result.lost == []


def test_duplicates_two_rows_in_one_copy_two_origins_or_two_creations() -> None:
    attempts = [
        ack(T1, "w1", "a"),
        ack(T1, "w2", "a", epoch=5),
        ack(T1, "w2", "b", epoch=7),  # created again after a failover: applied twice
        ack(T1, "w3", "a"),
    ]
    copies = {
        "a": {T1: [row(T1, "w1"), row(T1, "w1"), row(T1, "w2"), row(T1, "w3")]},
        "b": {T1: [row(T1, "w1"), row(T1, "w2", "b", 7), row(T1, "w3")]},
    }
    result = check(attempts, copies, primaries={T1: "b"})
    found = {f.id: f.detail for f in result.duplicates}
    assert set(found) == {"w1", "w2"}
    assert "2 rows with one id at a" in found["w1"]
    assert "applied more than once" in found["w2"]
    assert result.counts()["duplicate_writes"] == 2


def test_a_replay_answered_200_is_not_a_duplicate() -> None:
    attempts = [ack(T1, "w1", "a", status=201), ack(T1, "w1", "b", status=200, epoch=7)]
    result = check(attempts, {"b": {T1: [row(T1, "w1")]}}, primaries={T1: "b"})
    assert result.duplicates == [] and result.split_brain == []


def test_two_sites_acknowledging_in_one_epoch_is_split_brain() -> None:
    attempts = [
        ack(T1, "w1", "a", epoch=5),
        ack(T1, "w2", "b", epoch=5),  # b acknowledged in a's epoch
        ack(T1, "w3", "b", epoch=9),
        ack(T2, "x1", "a", epoch=None),
    ]
    copies = {
        "a": {T1: [row(T1, "w1")], T2: [row(T2, "x1", "a", 5)]},
        "b": {T1: [row(T1, "w1"), row(T1, "w2", "b", 5), row(T1, "w3", "b", 9)]},
    }
    result = check(attempts, copies, primaries={T1: "b", T2: "a"})
    assert len(result.split_brain) == 1
    finding = result.split_brain[0]
    assert finding.tenant == T1 and finding.epoch == 5 and finding.sites == ("a", "b")
    assert result.acks_without_epoch == 1


def test_split_brain_is_also_found_in_the_copies_without_epoch_headers() -> None:
    attempts = [ack(T1, "w1", "a", epoch=None), ack(T1, "w2", "b", epoch=None)]
    copies = {"b": {T1: [row(T1, "w1", "a", 3), row(T1, "w2", "b", 3)]}}
    result = check(attempts, copies, primaries={T1: "b"})
    assert [(f.epoch, f.sites) for f in result.split_brain] == [(3, ("a", "b"))]
    assert "rows of epoch 3" in result.split_brain[0].detail


def test_digests_differing_at_one_seq_mismatch_and_other_seqs_are_not_comparable() -> None:
    digests = [
        CopyDigest(T1, "a", 10, "aaaa"),
        CopyDigest(T1, "b", 10, "bbbb"),
        CopyDigest(T1, "c", 8, "cccc"),
        CopyDigest(T2, "a", 4, "same"),
        CopyDigest(T2, "b", 4, "same"),
    ]
    result = check([], {}, digests=digests)
    assert len(result.digest_mismatches) == 1
    mismatch = result.digest_mismatches[0]
    assert mismatch.tenant == T1 and mismatch.sites == ("a", "b") and "seq 10" in mismatch.detail
    assert result.digests_not_comparable == [T1]
    assert not result.ok


def test_quarantined_entries_are_summed() -> None:
    result = check([], {}, quarantined={T1: 2, T2: 1})
    assert result.quarantined_entries == 3 and result.ok
