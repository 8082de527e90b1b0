"""Between municipalities: Sendai asks Chiyoda for water as an EDXL-RM RequestResource,
delivered by a job through the site's signed path; Chiyoda's staff approve and commit,
and a CommitResource goes back; each side keeps its own rows. Unsigned deliveries,
untrusted sites, a message for another municipality and a sender who is not the one
signed for are refused, with nothing written; a repeated delivery is kept once. Every
public EDXL-RM sample imports."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from replication.protocol.forwarding import ForwardSignatures
from replication.protocol.signing import SiteKey, TrustStore, generate_key
from supplies.exchange.courier import HttpCourier
from supplies.exchange.job import delivery_kind
from supplies.exchange.models import ExchangeMessage
from supplies.requests.models import Request
from tests.residents.conftest import audit_actions
from tests.supplies.supply_office import SupplyOffice
from tests.support.factories import CHIYODA, SENDAI, sign_in, tenant, user
from tests.support.shared_fixtures import shared_fixtures_dir
from yui.audit.models import AuditEntry
from yui.jobs.kinds import JobKinds
from yui.jobs.runner import run_job


def _count(s: SupplyOffice, code: str, table: Any) -> int:
    with s.office.db.unit_of_work(code, read_only=True) as uow:
        count: int = uow.session.execute(select(func.count()).select_from(table)).scalar_one()
        return count


def _run(s: SupplyOffice, kinds: JobKinds, code: str, job_id: str) -> str:
    outcome = run_job(s.office.db, kinds, code, uuid.UUID(job_id), site="test-site")
    return outcome.state


def between_municipalities(supplies: SupplyOffice) -> None:
    """Run by tests/supplies/requests/test_requests.py in its office (one office, one
    migration and one set of sign-ins for both)."""
    s = supplies
    office = s.office
    client = office.client
    # the site's key, and the sites this one trusts (its own: both municipalities here)
    key = SiteKey("test-site", generate_key())
    trust = TrustStore.from_mapping({"test-site": key.public_key_b64})
    client.app.state.site_signatures = ForwardSignatures(key, trust)  # type: ignore[attr-defined]
    courier = HttpCourier(key, client, "")
    kinds = JobKinds()
    kinds.register(delivery_kind(courier))

    tenant(office.db, CHIYODA, "千代田区")
    user(office.db, CHIYODA, "chiyoda-staff", "staff")
    chiyoda = sign_in(client, CHIYODA, "chiyoda-staff")
    chiyoda_api = f"/api/v1/{CHIYODA}/supplies"
    assert client.post(f"{chiyoda_api}/items/seed", headers=chiyoda).status_code == 200
    depot = add_place_for(office, CHIYODA, chiyoda, "C-D1")
    received = client.post(
        f"{chiyoda_api}/stock/receipts",
        json={"place": depot, "lines": [{"item": "water-2l", "quantity": 30}]},
        headers=chiyoda,
    )
    assert received.status_code == 201, received.text

    # Sendai asks: the message row and its delivery job commit together
    sent = s.ok(
        s.post(
            "/exchange/requests",
            {
                "to": CHIYODA,
                "deliver_to": "仙台市 地域内輸送拠点",
                "lines": [{"item": "water-2l", "quantity": 40}],
            },
        ),
        201,
    )
    assert sent["delivery"] == "queued" and sent["direction"] == "out" and sent["job_id"]
    assert _count(s, CHIYODA, ExchangeMessage) == 0  # nothing there before the job runs
    assert _run(s, kinds, SENDAI, sent["job_id"]) == "done"
    ours = {m["id"]: m for m in s.ok(s.get("/exchange/messages"))}
    assert ours[sent["id"]]["delivery"] == "delivered"

    # Chiyoda keeps its own copy and a request made of it, submitted
    theirs = client.get(f"{chiyoda_api}/exchange/messages", headers=chiyoda).json()
    assert [(m["direction"], m["kind"], m["counterpart"]) for m in theirs] == [
        ("in", "RequestResource", SENDAI)
    ]
    request = client.get(f"{chiyoda_api}/requests/{theirs[0]['request_id']}", headers=chiyoda)
    request_body = request.json()
    assert request_body["origin"] == "municipality" and request_body["status"] == "submitted"
    assert request_body["requester_tenant"] == SENDAI
    assert [(line["item_code"], line["requested"]) for line in request_body["lines"]] == [
        ("water-2l", 40)
    ]

    # each side audits its own part: the sending, the delivery, the receiving
    assert {"supplies.exchange_send", "supplies.exchange_delivered"} <= set(audit_actions(office))
    assert "supplies.exchange_receive" in _actions(s, CHIYODA)

    # a repeated delivery (the job's step run again after a failover) is kept once
    xml = client.get(f"{s.api}/exchange/messages/{sent['id']}/xml", headers=office.staff).content
    again = courier.deliver(
        from_tenant=SENDAI, to_tenant=CHIYODA, message_id=sent["message_id"], epoch=0, body=xml
    )
    assert again.status == 200
    assert _count(s, CHIYODA, ExchangeMessage) == 1 and _count(s, CHIYODA, Request) == 1

    # Chiyoda approves and commits what it has (30 of 40): a CommitResource goes back
    url = f"{chiyoda_api}/requests/{request_body['id']}"
    assert client.post(f"{url}/approve", headers=chiyoda).status_code == 200
    committed = client.post(
        f"{chiyoda_api}/allocation/commit",
        json={"requests": [request_body["id"]], "accept_suggestion": True},
        headers=chiyoda,
    )
    assert committed.status_code == 200, committed.text
    assert committed.json()[0]["lines"][0]["committed"] == 30
    reply = next(
        m
        for m in client.get(f"{chiyoda_api}/exchange/messages", headers=chiyoda).json()
        if m["direction"] == "out"
    )
    assert reply["kind"] == "CommitResource" and reply["counterpart"] == SENDAI
    assert _run(s, kinds, CHIYODA, reply["job_id"]) == "done"
    answer = next(m for m in s.ok(s.get("/exchange/messages")) if m["direction"] == "in")
    assert answer["kind"] == "CommitResource" and answer["request_id"] == sent["id"]
    commit_xml = client.get(
        f"{s.api}/exchange/messages/{answer['id']}/xml", headers=office.staff
    ).text
    assert "<rm:QuantityText>30</rm:QuantityText>" in commit_xml

    # and ships: the goods leave Chiyoda's ledger (an issue), the request is shipped
    shipped = client.post(
        f"{url}/shipments",
        json={"from_place": depot, "vehicle": "品川 800 す 1-23", "driver": "佐藤"},
        headers=chiyoda,
    )
    assert shipped.status_code == 201, shipped.text
    assert client.get(url, headers=chiyoda).json()["status"] == "shipped"
    levels = client.get(
        f"{chiyoda_api}/stock", params={"place": depot, "item": "water-2l"}, headers=chiyoda
    ).json()
    assert sum(level["quantity"] for level in levels) == 0

    # refused, nothing written: unsigned, an untrusted site, the wrong sender, another
    # municipality's message, a client's own try
    before = _count(s, CHIYODA, ExchangeMessage)
    inbound = f"{chiyoda_api}/exchange/inbound"
    assert client.post(inbound, content=xml).status_code == 403
    assert client.post(inbound, content=xml, headers=chiyoda).status_code == 403
    stranger = HttpCourier(SiteKey("test-site", generate_key()), client, "")
    fresh = xml.replace(sent["message_id"].encode(), b"urn:uuid:" + str(uuid.uuid4()).encode())
    assert (
        stranger.deliver(
            from_tenant=SENDAI, to_tenant=CHIYODA, message_id="m", epoch=0, body=fresh
        ).status
        == 403
    )
    wrong_sender = courier.deliver(
        from_tenant="011002", to_tenant=CHIYODA, message_id="m", epoch=0, body=fresh
    )
    assert wrong_sender.status == 422
    elsewhere = courier.deliver(
        from_tenant=SENDAI, to_tenant=SENDAI, message_id="m", epoch=0, body=fresh
    )
    assert elsewhere.status == 422 and CHIYODA in elsewhere.detail
    assert _count(s, CHIYODA, ExchangeMessage) == before
    assert _count(s, SENDAI, ExchangeMessage) == 2

    # a file for another municipality is refused at import too; every public sample imports
    imported = client.post(f"{s.api}/exchange/import", content=fresh, headers=office.staff)
    assert imported.status_code == 422
    assert imported.headers["content-type"] == "application/problem+json"
    assert imported.json()["type"].endswith("edxl-rm-other-tenant")
    for path in sorted((shared_fixtures_dir() / "edxl-rm").glob("*.xml")):
        response = client.post(
            f"{s.api}/exchange/import", content=path.read_bytes(), headers=office.staff
        )
        # two files reuse another's MessageID (SOURCES.md): the second of each is a repeat
        assert response.status_code in (201, 409), (path.name, response.text)
    kinds_imported = [m["kind"] for m in s.ok(s.get("/exchange/messages"))]
    assert kinds_imported.count("RequestResource") >= 4
    assert kinds_imported.count("CommitResource") >= 5  # four samples and Chiyoda's answer
    assert s.post("/exchange/import", {}, office.shelter).status_code == 403

    # a delivery that failed is sent again: Sapporo is not on the platform yet, so the
    # request to it is refused (404, final); once it is, staff resend the same message
    sapporo = "011002"
    asked = s.ok(
        s.post(
            "/exchange/requests", {"to": sapporo, "lines": [{"item": "blanket", "quantity": 5}]}
        ),
        201,
    )
    assert _run(s, kinds, SENDAI, asked["job_id"]) == "done"
    refused_row = next(m for m in s.ok(s.get("/exchange/messages")) if m["id"] == asked["id"])
    assert refused_row["delivery"] == "refused"
    resend = f"/exchange/messages/{asked['id']}/resend"
    actions = audit_actions(office)
    for response, status in (
        (s.post(resend, {}, office.shelter), 403),
        (s.post(resend, {}, s.depot), 403),
        (s.post(f"/exchange/messages/{uuid.uuid4()}/resend", {}), 404),
        (s.post("/exchange/messages/not-a-row/resend", {}), 422),
        (s.post(f"/exchange/messages/{answer['id']}/resend", {}), 409),  # one we received
        (s.post(f"/exchange/messages/{sent['id']}/resend", {}), 409),  # delivered already
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert audit_actions(office) == actions
    assert s.ok(s.get("/exchange/messages"))[0]["delivery"] == "refused"  # unchanged

    tenant(office.db, sapporo, "札幌市")
    user(office.db, sapporo, "sapporo-staff", "staff")
    sapporo_staff = sign_in(client, sapporo, "sapporo-staff")
    seeded = client.post(f"/api/v1/{sapporo}/supplies/items/seed", headers=sapporo_staff)
    assert seeded.status_code == 200, seeded.text
    again_sent = s.ok(s.post(resend, {}), 202)
    assert again_sent["delivery"] == "queued" and again_sent["job_id"] != asked["job_id"]
    assert again_sent["message_id"] == asked["message_id"]  # the same message
    assert s.ok(s.post(resend, {})) == again_sent  # under way: nothing new queued
    assert "supplies.exchange_resend" in audit_actions(office)
    assert _run(s, kinds, SENDAI, again_sent["job_id"]) == "done"
    delivered = next(m for m in s.ok(s.get("/exchange/messages")) if m["id"] == asked["id"])
    assert delivered["delivery"] == "delivered"
    assert _count(s, sapporo, ExchangeMessage) == 1
    assert s.post(resend, {}).status_code == 409


def _actions(s: SupplyOffice, code: str) -> list[str]:
    with s.office.db.unit_of_work(code, read_only=True) as uow:
        return list(uow.session.execute(select(AuditEntry.action)).scalars())


def add_place_for(office: Any, code: str, headers: dict[str, str], place: str) -> str:
    response = office.client.post(
        f"/api/v1/{code}/supplies/places",
        json={"code": place, "kind": "stockpile", "name": "千代田区 備蓄倉庫"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    place_id: str = response.json()["id"]
    return place_id
