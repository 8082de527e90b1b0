"""A service workload's checks on crafted histories (a lost report, a report held with other
content, a movement applied twice, a balance below zero or unequal to its ledger) and a
clean one; the load generator carrying a service's own writes; a workload nobody knows."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Response
from typer.testing import CliRunner

from assembly.cli.main import app as cli
from assembly.drill_runner.environment import CannotRun
from assembly.drill_runner.runner import DrillOptions
from assembly.drill_runner.workloads.checks import (
    Balance,
    Record,
    ServiceCopy,
    check_service,
    expected_movement,
    expected_report,
)
from failover.drill.loadgen import Attempt, LoadConfig, SiteEndpoint, Write, read_attempts, run_load
from tests.support.servers import serving

T1 = "041009"


def ack(
    write_id: str, body: dict[str, Any], *, op: str, site: str = "a", status: int = 201
) -> Attempt:
    return Attempt(
        t=100.0,
        t_done=100.1,
        tenant=T1,
        id=write_id,
        n=0,
        attempt=1,
        site=site,
        status=status,
        served_by=site,
        epoch=9 if site == "c" else 5,  # c was promoted in epoch 9
        final=True,
        op=op,
        body=body,
    )


def report_body(write_id: str, status: str = "safe") -> dict[str, Any]:
    return {
        "id": write_id,
        "resident_id": "5f0c0c0c-0000-4000-8000-000000000001",
        "status": status,
        "reported_at": "2026-12-07T14:30:00+09:00",
        "reporter_kind": "staff_call",
        "location": "",
        "shelter": "",
        "note": "訓練 / drill #1",
    }


def held_report(write_id: str, status: str = "safe", at: str = "2026-12-07T05:30:00") -> Record:
    # what the copy reader gives: the report time as stored (UTC), the same instant
    content = expected_report(ack(write_id, report_body(write_id, status), op="report"))
    assert content is not None
    return Record(write_id, {**content, "reported_at": "2026-12-07T05:30:00.000000+00:00"}, at)


def copies_of(**sites: ServiceCopy) -> dict[str, dict[str, ServiceCopy]]:
    return {site: {T1: copy} for site, copy in sites.items()}


def reports_check(attempts: list[Attempt], copies: dict[str, dict[str, ServiceCopy]]) -> Any:
    return check_service(
        attempts, copies, expected=expected_report, primaries={T1: "c"}, members={T1: ["a", "c"]}
    )


def test_reports_held_as_sent_by_the_new_primary_pass() -> None:
    attempts = [
        ack("r1", report_body("r1"), op="report"),
        ack("r2", report_body("r2"), op="report", site="c"),
    ]
    both = ServiceCopy([held_report("r1"), held_report("r2")])
    result = reports_check(attempts, copies_of(a=both, c=both))
    assert result.ok, result.to_json()
    assert result.counts()["acknowledged_writes"] == 2


def test_an_acknowledged_report_missing_at_the_new_primary_is_lost() -> None:
    attempts = [
        ack("r1", report_body("r1"), op="report"),
        ack("r2", report_body("r2"), op="report"),
    ]
    result = reports_check(
        attempts,
        copies_of(
            a=ServiceCopy([held_report("r1"), held_report("r2")]),
            c=ServiceCopy([held_report("r1")]),
        ),
    )
    assert result.counts()["lost_acknowledged_writes"] == 1 and not result.ok
    assert result.lost[0].id == "r2"


def test_a_report_held_with_other_content_than_acknowledged_is_a_duplicate() -> None:
    attempts = [ack("r1", report_body("r1", "safe"), op="report")]
    other = ServiceCopy([held_report("r1", "needs_help")])
    result = reports_check(attempts, copies_of(a=other, c=other))
    assert result.counts()["duplicate_writes"] == 1 and not result.ok
    assert "status sent 'safe', held 'needs_help'" in result.duplicates[0].detail


def transfer(write_id: str) -> Attempt:
    body = {
        "id": write_id,
        "from_place": "DD1",
        "to_place": "DS1",
        "lines": [{"item": "water-2l", "quantity": 4}],
    }
    return ack(write_id, body, op="transfer")


def moved(write_id: str, times: int = 1, at: str = "2026-12-07T05:30:00") -> Record:
    lines = [("DD1", "water-2l", f"-{4 * times}"), ("DS1", "water-2l", str(4 * times))]
    return Record(write_id, {"kind": "transfer", "lines": sorted(lines)}, at)


def stock(*balances: Balance) -> list[Balance]:
    return list(balances)


def movements_check(attempts: list[Attempt], copies: dict[str, dict[str, ServiceCopy]]) -> Any:
    return check_service(
        attempts, copies, expected=expected_movement, primaries={T1: "c"}, members={T1: ["a", "c"]}
    )


def test_a_transfer_moves_what_it_takes_from_one_place_into_the_other() -> None:
    expected = expected_movement(transfer("m1"))
    assert expected == {
        "kind": "transfer",
        "lines": [("DD1", "water-2l", "-4"), ("DS1", "water-2l", "4")],
    }
    balances = stock(Balance("DD1", "lot", Decimal("6.000"), Decimal("6.000")))
    copy = ServiceCopy([moved("m1")], balances)
    assert movements_check([transfer("m1")], copies_of(a=copy, c=copy)).ok


def test_a_movement_applied_twice_is_a_duplicate() -> None:
    # its lines doubled at the primary; and, at the replica, two rows with its id
    primary = ServiceCopy([moved("m1", times=2)], [])
    replica = ServiceCopy([moved("m1"), moved("m1", at="2026-12-07T05:31:00")], [])
    result = movements_check([transfer("m1")], copies_of(a=replica, c=primary))
    assert result.counts()["duplicate_writes"] == 2 and not result.ok
    assert {f.sites for f in result.duplicates} == {("a",), ("c",)}


def test_a_balance_below_zero_or_unequal_to_its_ledger_breaks_the_stock_invariants() -> None:
    balances = stock(
        Balance("DS1", "lot-1", Decimal(-2), Decimal(-2)),
        Balance("DD1", "lot-1", Decimal(10), Decimal(6)),
        Balance("DD1", "lot-2", Decimal(3), Decimal(3)),
    )
    copy = ServiceCopy([moved("m1")], balances)
    result = movements_check([transfer("m1")], copies_of(a=copy, c=copy))
    assert result.counts()["invariant_violations"] == 2 and not result.ok
    details = " | ".join(f.detail for f in result.invariant_violations)
    assert "stock below zero: lot lot-1 at place DS1" in details
    assert "lot lot-1 at place DD1 (c) keeps 10, its movements sum to 6" in details


def test_the_load_generator_sends_a_service_write_with_its_body_and_retries_it_elsewhere(
    tmp_path: Path,
) -> None:
    """A service's write keeps its id and body over its retries, and is logged with both."""
    stored: dict[str, dict[str, Any]] = {}
    down, up = FastAPI(), FastAPI()

    @down.post("/api/v1/{tenant}/things")
    def unavailable(tenant: str) -> Response:
        return Response(status_code=503)

    @up.post("/api/v1/{tenant}/things", status_code=201)
    def record(tenant: str, body: dict[str, Any], response: Response) -> dict[str, Any]:
        if body["id"] in stored:
            response.status_code = 200 if stored[body["id"]] == body else 409
        stored.setdefault(body["id"], body)
        return body

    def write(tenant: str, write_id: Any, n: int) -> Write:
        return Write(f"/api/v1/{tenant}/things", {"id": str(write_id), "n": n}, kind="thing")

    with serving(down) as url_down, serving(up) as url_up:
        config = LoadConfig(
            sites=(SiteEndpoint("down", url_down), SiteEndpoint("up", url_up)),
            tenants=(T1,),
            rate=10,
            duration=0.6,
            drain_seconds=2,
            writes=write,
        )
        summary = asyncio.run(run_load(config, tmp_path / "attempts.jsonl"))
    attempts = read_attempts(tmp_path / "attempts.jsonl")
    assert summary.acknowledged == summary.writes == len(stored) >= 5
    assert {a.op for a in attempts} == {"thing"}
    assert {a.site for a in attempts if not a.acknowledged} == {"down"}
    for attempt in attempts:  # every attempt of a write carries the body the site stored
        assert attempt.body == stored[attempt.id]


def test_an_unknown_workload_is_refused_before_anything_runs() -> None:
    with pytest.raises(CannotRun, match="unknown workload 'orders'"):
        DrillOptions(scenario="site-kill", target="aws-tokyo", workload="orders")
    result = CliRunner().invoke(
        cli, ["drill", "run", "--scenario", "site-kill", "--target", "x", "--workload", "orders"]
    )
    assert result.exit_code == 2
    assert "unknown workload" in result.output
