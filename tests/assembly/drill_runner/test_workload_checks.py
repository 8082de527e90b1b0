"""A service workload's checks on crafted histories (a lost report, a report held with other
content, a movement applied twice, a balance below zero or unequal to its ledger) and a
clean one; the load generator carrying a service's own writes; a workload nobody knows."""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
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
    expected_submission,
    resend_difference,
    resend_sample,
)
from assembly.drill_runner.workloads.safety_reports import scan_mail
from assembly.sandbox.plan import make_plan
from failover.drill.loadgen import Attempt, LoadConfig, SiteEndpoint, Write, read_attempts, run_load
from safety_check.channels.base import Message, RateLimit
from safety_check.channels.settings import OutreachSettings
from safety_check.channels.sink import SmtpSink
from safety_check.channels.smtp import SmtpSender
from safety_check.links.service import LinkMaker
from safety_check.links.signing import read as read_link
from safety_check.outreach.texts import compose
from tests.support.servers import serving
from yui.auth.tokens import SigningKeys

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


RESIDENT = "5f0c0c0c-0000-4000-8000-000000000001"
NEIGHBOUR = "5f0c0c0c-0000-4000-8000-000000000002"


def one_tap_body(write_id: str) -> dict[str, Any]:
    # what a phone sends through its link: nothing says whom it is about but the link
    return {
        "id": write_id,
        "status": "needs_help",
        "reported_at": "2026-12-07T14:30:00+09:00",
        "location": "",
        "shelter": "",
        "note": "訓練 / drill #2",
    }


def form_body(write_id: str) -> dict[str, Any]:
    return {
        "id": write_id,
        "family_name": "佐藤",
        "given_name": "花子",
        "family_kana": "さとう",
        "given_kana": "はなこ",
        "birth_date": "1941-04-01",
        "town_name": "一番町一丁目",
        "status": "safe",
        "reported_at": "2026-12-07T14:30:00+09:00",
        "reporter_kind": "family",
        "reporter_name": "訓練の家族 / drill family",
        "reporter_contact": "",
        "location": "",
        "shelter": "",
        "note": "訓練 / drill #3",
    }


#: the write ids of the citizens' reports → the resident of the link each went through
LINKS = {"t1": RESIDENT}


def citizens_history() -> list[Attempt]:
    """A staff call (201), a one-tap report (201) and an open-form report (202)."""
    return [
        ack("r1", report_body("r1"), op="report"),
        ack("t1", one_tap_body("t1"), op="one_tap", site="c"),
        ack("f1", form_body("f1"), op="open_form", status=202),
    ]


def held(attempt: Attempt, **changes: Any) -> Record:
    content = expected_report(attempt, LINKS)
    assert content is not None
    # the copy reader gives the report time as stored (UTC), the same instant
    return Record(
        attempt.id, {**content, "reported_at": "2026-12-07T05:30:00.000000+00:00", **changes}
    )


def citizens_check(attempts: list[Attempt], copies: dict[str, dict[str, ServiceCopy]]) -> Any:
    return check_service(
        attempts,
        copies,
        expected=lambda attempt: expected_report(attempt, LINKS),
        primaries={T1: "c"},
        members={T1: ["a", "c"]},
    )


def test_citizens_reports_held_where_the_design_puts_them_pass() -> None:
    attempts = citizens_history()
    one_tap = expected_report(attempts[1], LINKS)
    assert one_tap is not None  # for the link's resident, by the resident, verified
    assert (one_tap["resident_id"], one_tap["reporter_kind"], one_tap["source"]) == (
        RESIDENT,
        "resident",
        "one_tap",
    )
    form = expected_report(attempts[2], LINKS)
    assert form == expected_submission(form_body("f1"))  # pending review, matched exactly
    assert (form["review"], form["match"], form["candidate"]["birth_date"]) == (
        "pending",
        "exact",
        "1941-04-01",
    )
    copy = ServiceCopy([held(a) for a in attempts])
    result = citizens_check(attempts, copies_of(a=copy, c=copy))
    assert result.ok, result.to_json()
    assert result.counts()["acknowledged_writes"] == 3


@pytest.mark.parametrize("missing", ["t1", "f1"])
def test_a_citizens_report_acknowledged_and_missing_at_the_new_primary_is_lost(
    missing: str,
) -> None:
    attempts = citizens_history()
    everything = ServiceCopy([held(a) for a in attempts])
    primary = ServiceCopy([held(a) for a in attempts if a.id != missing])
    result = citizens_check(attempts, copies_of(a=everything, c=primary))
    assert result.counts()["lost_acknowledged_writes"] == 1 and not result.ok
    assert result.lost[0].id == missing


def test_a_citizens_report_held_elsewhere_than_the_design_puts_it_is_flagged() -> None:
    """A one-tap report recorded for another resident or as staff's; an open-form report
    that became a report without staff, or matched nobody: each is held with other content
    than acknowledged."""
    attempts = citizens_history()
    wrong = ServiceCopy(
        [
            held(attempts[0]),
            held(attempts[1], resident_id=NEIGHBOUR, source="staff"),
            held(attempts[2], review="confirmed", match="none"),
        ]
    )
    result = citizens_check(attempts, copies_of(a=wrong, c=wrong))
    assert result.counts()["duplicate_writes"] == 2 and not result.ok
    details = " | ".join(f.detail for f in result.duplicates)
    assert f"resident_id sent '{RESIDENT}', held '{NEIGHBOUR}'" in details
    assert "source sent 'one_tap', held 'staff'" in details
    assert "match sent 'exact', held 'none'" in details
    assert "review sent 'pending', held 'confirmed'" in details


def test_an_open_form_report_created_twice_is_a_duplicate() -> None:
    attempts = [*citizens_history(), ack("f1", form_body("f1"), op="open_form", status=202)]
    copy = ServiceCopy([held(a) for a in attempts[:3]])
    result = citizens_check(attempts, copies_of(a=copy, c=copy))
    assert result.counts()["duplicate_writes"] == 1 and not result.ok
    assert "created 2 times (HTTP 202)" in result.duplicates[0].detail


def test_a_resend_must_answer_the_first_result() -> None:
    first = ack("t1", one_tap_body("t1"), op="one_tap")
    answered = {"id": "t1", "status": "needs_help", "received_at": "2026-12-07T05:30:01Z"}
    first = Attempt(**{**first.__dict__, "answer": answered})
    assert resend_difference(first, 200, dict(answered)) is None
    assert resend_difference(first, 201, dict(answered)) == "HTTP 201, not 200 (already recorded)"
    again = {**answered, "received_at": "2026-12-07T05:31:00Z"}
    assert resend_difference(first, 200, again) == (
        "received_at first '2026-12-07T05:30:01Z', again '2026-12-07T05:31:00Z'"
    )
    assert resend_difference(first, None, None) == "HTTP None, not 200 (already recorded)"
    # the first two and the last acknowledged writes of each tenant and kind, once each,
    # with an answer
    kinds = ["one_tap", "report", "one_tap", "one_tap", "open_form", "one_tap"]
    history = [
        Attempt(**{**ack(f"w{n}", one_tap_body(f"w{n}"), op=op).__dict__, "n": n, "answer": {}})
        for n, op in enumerate(kinds)
    ]
    history.append(Attempt(**{**history[0].__dict__, "attempt": 2}))  # w0 acknowledged again
    history.append(ack("w9", one_tap_body("w9"), op="report"))  # no answer logged
    assert [a.id for a in resend_sample(history)] == ["w0", "w2", "w5", "w4", "w1"]


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


def test_a_citizens_write_goes_without_the_staff_credentials_and_202_acknowledges_it(
    tmp_path: Path,
) -> None:
    """A citizen's request (``signed=False``) carries no staff token; a staff one does;
    202 (kept for review) is an acknowledgement; every acknowledgement's answer is logged."""
    seen: dict[str, str | None] = {}
    site = FastAPI()

    @site.post("/api/v1/{tenant}/form", status_code=202)
    def form(tenant: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        seen[body["id"]] = request.headers.get("authorization")
        return {"id": body["id"], "received_at": "2026-12-07T05:30:00Z"}

    def write(tenant: str, write_id: Any, n: int) -> Write:
        return Write(
            f"/api/v1/{tenant}/form", {"id": str(write_id)}, "open_form", signed=bool(n % 2)
        )

    async def staff(tenant: str) -> dict[str, str]:
        return {"Authorization": "Bearer staff"}

    with serving(site) as url:
        config = LoadConfig(
            sites=(SiteEndpoint("a", url),),
            tenants=(T1,),
            rate=10,
            duration=0.4,
            writes=write,
            auth=staff,
        )
        summary = asyncio.run(run_load(config, tmp_path / "attempts.jsonl"))
    attempts = read_attempts(tmp_path / "attempts.jsonl")
    assert summary.acknowledged == summary.writes == len(seen) >= 4
    assert {a.n % 2: seen[a.id] for a in attempts} == {0: None, 1: "Bearer staff"}
    assert all(a.answer == {"id": a.id, "received_at": "2026-12-07T05:30:00Z"} for a in attempts)


def test_the_drill_sandbox_gives_each_address_a_larger_budget_on_the_public_safety_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every drill request comes from one address: the sandbox's sites take the setting's
    ceiling a minute on the one-tap link and the open form; the operators' default stays 30."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed")
    nodes = [r for r in make_plan(tmp_path, first_node_port=18571).processes() if r.role == "node"]
    assert {r.env["YUI_SAFETY_LINK_REQUESTS_PER_MINUTE"] for r in nodes} == {"10000"}
    monkeypatch.delenv("YUI_SAFETY_LINK_REQUESTS_PER_MINUTE", raising=False)
    assert OutreachSettings().link_requests_per_minute == 30
    monkeypatch.setenv("YUI_SAFETY_LINK_REQUESTS_PER_MINUTE", "10000")  # a valid setting
    assert OutreachSettings().link_requests_per_minute == 10_000


def test_the_drill_reads_each_residents_link_from_the_fan_outs_mail(tmp_path: Path) -> None:
    """The messages as the fan-out sends them (its text, its link, its keys) through a real
    SMTP sink: the drill finds each resident's link of its own fan-out job, nothing of
    another job or tenant, and reads again a message it could not read yet."""
    keys = SigningKeys(b"k" * 32)
    links = LinkMaker(keys, url="https://127.0.0.1:8401/console/citizen/{tenant}/r/{token}")
    campaign = "7d2f0b9e-8d52-4a53-9c3c-0c8f8b3c1a10"

    def sent(tenant: str, job: str, resident: str) -> Message:
        link = links.link(tenant, campaign, resident)
        subject, text = compose("訓練 / drill", link, reminder=False)
        return Message(
            tenant, f"{resident[-4:]}@example.jp", subject, text, f"{job}:0:{resident}", 2, link
        )

    with SmtpSink(tmp_path / "mail" / "a") as sink:
        sender = SmtpSender(
            sink.host, sink.port, sender_address="anpi@localhost", rate=RateLimit(1000)
        )
        for message in (
            sent(T1, "job-1", RESIDENT),
            sent(T1, "job-1", NEIGHBOUR),
            sent(T1, "job-0", "5f0c0c0c-0000-4000-8000-000000000003"),  # an earlier drill's
            sent("271004", "job-1", "5f0c0c0c-0000-4000-8000-000000000004"),  # not T1's job
        ):
            sender.send(message)
        sender.close()
    torn = tmp_path / "mail" / "b" / "torn.eml"  # a message still being written
    torn.parent.mkdir()
    torn.write_bytes(b"From: anpi@localhost\r\n")
    found: dict[str, dict[str, str]] = {T1: {}}
    seen: set[Path] = set()
    scan_mail([tmp_path / "mail" / "a", torn.parent, tmp_path / "none"], {"job-1": T1}, found, seen)
    assert set(found[T1]) == {RESIDENT, NEIGHBOUR}
    claims = read_link(found[T1][RESIDENT], keys, T1)  # the site's own link, for the resident
    assert (claims.resident_id, claims.campaign_id) == (RESIDENT, campaign)
    assert torn not in seen and len(seen) == 4


def test_an_unknown_workload_is_refused_before_anything_runs() -> None:
    with pytest.raises(CannotRun, match="unknown workload 'orders'"):
        DrillOptions(scenario="site-kill", target="aws-tokyo", workload="orders")
    result = CliRunner().invoke(
        cli, ["drill", "run", "--scenario", "site-kill", "--target", "x", "--workload", "orders"]
    )
    assert result.exit_code == 2
    assert "unknown workload" in result.output
