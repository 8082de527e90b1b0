"""The checker on crafted histories: each violation it must flag (lost write, lost update,
resurrected delete, duplicate, two overlapping primaries, divergent copy), and a clean one."""

from __future__ import annotations

from failover.drill.checker import (
    CopyDigest,
    CopyRow,
    CounterCopy,
    IncrementRow,
    PlacementSeen,
    check,
)
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
    op: str = "insert",
    counter: str | None = None,
    value: int | None = None,
    attempt: int = 1,
) -> Attempt:
    return Attempt(
        t=t,
        t_done=t + 0.01,
        tenant=tenant,
        id=write_id,
        n=0,
        attempt=attempt,
        site=site,
        status=status,
        served_by=site,
        epoch=epoch,
        final=True,
        op=op,
        counter=counter,
        value=value,
    )


def failed(tenant: str, write_id: str, site: str) -> Attempt:
    return Attempt(
        t=100.0, t_done=100.5, tenant=tenant, id=write_id, n=0, attempt=1, site=site, status=None
    )


def row(tenant: str, write_id: str, site: str = "a", epoch: int = 5) -> CopyRow:
    return CopyRow(tenant, write_id, site, epoch, "2026-11-22T06:00:00+00:00")


def inc(counter: str, write_id: str, value: int, site: str = "a", epoch: int = 5) -> IncrementRow:
    return IncrementRow(counter, write_id, value, site, epoch)


def test_a_clean_drill_is_ok() -> None:
    """Inserts, increments and a delete, through a failover from a (epoch 5) to c (epoch 9),
    each write acknowledged by the primary of its time: nothing is flagged."""
    attempts = [
        failed(T1, "w1", "b"),
        ack(T1, "w1", "a"),
        ack(T1, "w2", "a"),
        ack(T1, "i1", "a", op="increment", counter="k", value=1),
        ack(T1, "i2", "a", op="increment", counter="k", value=2, t=101.0),
        ack(T1, "w2", "a", op="delete", status=204, value=1, t=102.0),
        # after the failover (seen at 110.0), c writes in its own epoch
        ack(T1, "w3", "c", epoch=9, t=111.0),
        ack(T1, "i3", "c", epoch=9, op="increment", counter="k", value=3, t=111.5),
        ack(T1, "i2", "c", epoch=9, status=200, op="increment", counter="k", value=2, t=112.0),
    ]
    rows = [row(T1, "w1"), row(T1, "w3", "c", 9)]
    counter = CounterCopy(
        values={"k": 3},
        increments=(inc("k", "i1", 1), inc("k", "i2", 2), inc("k", "i3", 3, "c", 9)),
    )
    placements = [PlacementSeen(T1, 5, "a", 90.0), PlacementSeen(T1, 9, "c", 110.0)]
    result = check(
        attempts,
        {"a": {T1: rows}, "c": {T1: rows}},
        primaries={T1: "c"},
        digests=[CopyDigest(T1, "a", 9, "d1"), CopyDigest(T1, "c", 9, "d1")],
        counters={"a": {T1: counter}, "c": {T1: counter}},
        placements=placements,
        members={T1: ["a", "c"]},
    )
    assert result.ok, result.to_json()
    assert result.counts() == {
        "acknowledged_writes": 3,
        "acknowledged_increments": 3,
        "acknowledged_deletes": 1,
        "lost_acknowledged_writes": 0,
        "lost_updates": 0,
        "resurrected_deletes": 0,
        "duplicate_writes": 0,
        "split_brain_violations": 0,
        "quarantined_entries": 0,
        "digest_mismatches": 0,
        "unconverged_copies": 0,
        "invariant_violations": 0,
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


def test_a_final_primary_that_was_not_read_fails_the_run() -> None:
    """b and c together hold every write, but the primary a was not read: a write held only
    by a copy that will be quarantined would pass as "not lost", so nothing passes."""
    attempts = [ack(T1, "w1", "a"), ack(T1, "w2", "a")]
    copies = {"b": {T1: [row(T1, "w1")]}, "c": {T1: [row(T1, "w2")]}}
    result = check(attempts, copies, primaries={T1: "a"})  # a was not read: it is down
    assert result.unreadable_primaries == [T1] and not result.ok
    assert check(attempts, copies, primaries={}).unreadable_primaries == [T1]


def test_a_replica_still_behind_after_the_wait_fails_as_unconverged() -> None:
    result = check(
        [ack(T1, "w1", "a"), ack(T1, "w2", "a")],
        {"a": {T1: [row(T1, "w1"), row(T1, "w2")]}, "b": {T1: [row(T1, "w1")]}},
        primaries={T1: "a"},
        digests=[CopyDigest(T1, "a", 12, "x"), CopyDigest(T1, "b", 11, "y")],
    )
    assert [g.id for g in result.replica_gaps] == ["w2"]
    assert result.digests_not_comparable == [T1]
    assert [(f.kind, f.sites) for f in result.unconverged] == [("unconverged", ("b",))]
    assert result.counts()["unconverged_copies"] == 1 and not result.ok


def test_a_copy_lacking_writes_says_where_it_and_the_primary_stand() -> None:
    """A gap alone said "lacks acknowledged writes" and nothing of the seqs: read as "at the
    primary's seq", it looked like divergence. At one seq it is, and the digests differ too."""
    acks = [ack(T1, "w1", "a"), ack(T1, "w2", "a")]
    copies = {"a": {T1: [row(T1, "w1"), row(T1, "w2")]}, "b": {T1: [row(T1, "w1")]}}
    same_seq = check(
        acks,
        copies,
        primaries={T1: "a"},
        digests=[CopyDigest(T1, "a", 12, "x"), CopyDigest(T1, "b", 12, "y")],
    )
    [finding] = same_seq.unconverged
    assert finding.detail.endswith(
        "lacks acknowledged writes the primary holds (at seq 12, the primary at 12)"
    )
    assert [f.sites for f in same_seq.digest_mismatches] == [("a", "b")]
    no_digest = check(acks, copies, primaries={T1: "a"}, digests=[CopyDigest(T1, "a", 12, "x")])
    [finding] = no_digest.unconverged
    assert finding.detail.endswith("(its seq or the primary's not read)")


def test_a_stale_copy_outside_the_final_placement_is_not_compared() -> None:
    """d was dropped from the placement (its copy awaits removal): not a member, not judged."""
    result = check(
        [ack(T1, "w1", "a")],
        {"a": {T1: [row(T1, "w1")]}, "d": {T1: []}},
        primaries={T1: "a"},
        digests=[CopyDigest(T1, "a", 12, "x"), CopyDigest(T1, "d", 3, "y")],
        members={T1: ["a", "b"]},
    )
    assert result.ok and result.unconverged == [] and result.digests_not_comparable == []


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
    assert [f.sites for f in result.unconverged] == [("c",)]  # c at seq 8 was never compared
    assert not result.ok


def test_quarantined_entries_are_summed() -> None:
    result = check([], {}, quarantined={T1: 2, T2: 1})
    assert result.quarantined_entries == 3 and result.ok


def test_two_overlapping_primaries_in_different_epochs_are_split_brain() -> None:
    """a (epoch 5) kept acknowledging after the placement of epoch 9 naming c was seen; c
    acknowledged in epoch 9. No epoch has two writers, so the old rule passed this."""
    placements = [PlacementSeen(T1, 5, "a", 90.0), PlacementSeen(T1, 9, "c", 110.0)]
    attempts = [
        ack(T1, "w1", "a", epoch=5, t=100.0),  # before the new placement: fine
        ack(T1, "w2", "a", epoch=5, t=109.99),  # sent before it was seen: not provable
        ack(T1, "w3", "c", epoch=9, t=111.0),
        ack(T1, "w4", "a", epoch=5, t=112.0),  # the deposed a, after: violation
        ack(T1, "w5", "a", epoch=5, t=113.0),
        ack(T1, "w1", "a", epoch=5, status=200, t=114.0),  # a replay writes nothing
    ]
    rows = [row(T1, w, "a", 5) for w in ("w1", "w2", "w4", "w5")] + [row(T1, "w3", "c", 9)]
    result = check(attempts, {"c": {T1: rows}}, primaries={T1: "c"}, placements=placements)
    assert [(f.sites, f.epoch) for f in result.split_brain] == [(("a", "c"), 5)]
    assert "acknowledged 2 write(s) in epoch 5" in result.split_brain[0].detail
    assert result.split_brain[0].id == "w4" and not result.ok
    # the same history without the watch's placements: the old rules see nothing
    assert check(attempts, {"c": {T1: rows}}, primaries={T1: "c"}).split_brain == []


def test_a_newer_placement_naming_the_same_primary_is_no_deposition() -> None:
    """An in-sync set change rewrites the placement (a new revision) with the same primary,
    which keeps writing in the epoch it was promoted in."""
    placements = [PlacementSeen(T1, 5, "a", 90.0), PlacementSeen(T1, 7, "a", 95.0)]
    result = check(
        [ack(T1, "w1", "a", epoch=5, t=100.0)],
        {"a": {T1: [row(T1, "w1")]}},
        primaries={T1: "a"},
        placements=placements,
    )
    assert result.split_brain == [] and result.ok


def test_a_probe_already_absent_when_its_first_delete_came_was_lost() -> None:
    attempts = [
        ack(T1, "w1", "a"),
        ack(T1, "w1", "c", epoch=9, op="delete", status=200, value=0, t=120.0),
        ack(T1, "w2", "a"),
        # w2's delete: its first attempt got no answer (it may have applied), the retry
        # finds it absent: no evidence
        ack(T1, "w2", "c", epoch=9, op="delete", status=200, value=0, t=121.0, attempt=2),
    ]
    result = check(attempts, {"c": {T1: []}}, primaries={T1: "c"})
    assert [(f.kind, f.id) for f in result.lost] == [("lost", "w1")]
    assert "already absent" in result.lost[0].detail


def test_an_acknowledged_delete_that_comes_back_is_resurrected() -> None:
    attempts = [
        ack(T1, "w1", "a"),
        ack(T1, "w1", "a", op="delete", status=204, value=1, t=101.0),
    ]
    result = check(attempts, {"c": {T1: [row(T1, "w1")]}}, primaries={T1: "c"})
    assert [(f.kind, f.id) for f in result.resurrected] == [("resurrected", "w1")]
    assert result.counts()["resurrected_deletes"] == 1 and not result.ok
    assert result.lost == []  # a deleted probe is never "lost"


def test_lost_updates_are_flagged() -> None:
    """The new primary c lacks the acknowledged increment i2 (its value 2 was answered, then
    c handed 2 out again to i3): the counter lost an increment."""
    attempts = [
        ack(T1, "i1", "a", op="increment", counter="k", value=1),
        ack(T1, "i2", "a", op="increment", counter="k", value=2),
        ack(T1, "i3", "c", epoch=9, op="increment", counter="k", value=2, t=111.0),
    ]
    at_c = CounterCopy(values={"k": 2}, increments=(inc("k", "i1", 1), inc("k", "i3", 2, "c", 9)))
    result = check(attempts, {"c": {T1: []}}, primaries={T1: "c"}, counters={"c": {T1: at_c}})
    details = [f.detail for f in result.lost_updates]
    assert any("not recorded at the primary c" in d for d in details)
    assert any("2 increments answered with one value 2" in d for d in details)
    assert result.counts()["lost_updates"] == 2 and not result.ok


def test_a_counter_whose_value_is_not_its_increments_lost_one() -> None:
    attempts = [ack(T1, "i1", "a", op="increment", counter="k", value=1)]
    broken = CounterCopy(values={"k": 1}, increments=(inc("k", "i1", 1), inc("k", "i9", 1)))
    result = check(attempts, {"a": {T1: []}}, primaries={T1: "a"}, counters={"a": {T1: broken}})
    assert len(result.lost_updates) == 1
    assert "value 1 at a with 2 increments recorded (values 1..1, 1 repeated)" in (
        result.lost_updates[0].detail
    )


def test_an_unconverged_copy_is_judged_as_that_not_as_a_duplicate() -> None:
    """b, the old primary, still holds the increment it committed but never replicated
    (its tail awaits quarantine); c applied the retry. b never converged: one finding."""
    attempts = [ack(T1, "i1", "c", epoch=9, op="increment", counter="k", value=1)]
    at_c = CounterCopy(values={"k": 1}, increments=(inc("k", "i1", 1, "c", 9),))
    at_b = CounterCopy(values={"k": 1}, increments=(inc("k", "i1", 1, "b", 5),))
    result = check(
        attempts,
        {"b": {T1: []}, "c": {T1: []}},
        primaries={T1: "c"},
        counters={"b": {T1: at_b}, "c": {T1: at_c}},
        digests=[CopyDigest(T1, "b", 7, "x"), CopyDigest(T1, "c", 8, "y")],
    )
    assert result.duplicates == [] and [f.sites for f in result.unconverged] == [("b",)]
    assert not result.ok


def test_leftovers_of_a_write_the_primary_does_not_hold_are_no_duplicate() -> None:
    """A write never acknowledged: applied at the killed primary a (its last entry, never
    replicated) and again, on a retry, at b while b was primary; c, the primary after the
    drill, holds neither. a and b still hold their versions while they rejoin (read in
    the middle of their catch-up): leftovers to quarantine, not an id applied twice in the
    history that survives (a site-kill drill of stock movements flagged one so)."""
    attempts = [failed(T1, "w9", "a"), failed(T1, "w9", "b"), ack(T1, "w1", "c", epoch=9)]
    copies = {
        "a": {T1: [row(T1, "w1", "c", 9), row(T1, "w9", "a", 5)]},
        "b": {T1: [row(T1, "w1", "c", 9), row(T1, "w9", "b", 7)]},
        "c": {T1: [row(T1, "w1", "c", 9)]},
    }
    result = check(attempts, copies, primaries={T1: "c"}, members={T1: ["a", "b", "c"]})
    assert result.duplicates == [], result.to_json()
    # the same two versions with one of them at the primary: applied twice
    copies["c"] = {T1: [row(T1, "w1", "c", 9), row(T1, "w9", "b", 7)]}
    result = check(attempts, copies, primaries={T1: "c"}, members={T1: ["a", "b", "c"]})
    assert [f.id for f in result.duplicates] == ["w9"]
    # an increment recorded at the primary and, with another value, at a replica: twice
    counters = {
        "b": {T1: CounterCopy({"k": 1}, [inc("k", "i1", 1, "b", 7)])},
        "c": {T1: CounterCopy({"k": 1}, [inc("k", "i1", 1, "c", 9)])},
    }
    result = check(
        [*attempts, ack(T1, "i1", "c", epoch=9, op="increment", counter="k", value=1)],
        copies,
        counters=counters,
        primaries={T1: "c"},
    )
    assert "i1" in {f.id for f in result.duplicates}
