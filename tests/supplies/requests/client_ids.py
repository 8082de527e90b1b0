"""A request, or a donation offer, made with the client's id: the same form sent twice (a
double click, a resend after a timeout) makes one; the same id with other content is
refused and writes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from supplies.requests.models import Request, RequestLine
from supplies.shipments.models import DonationOffer
from tests.supplies.supply_office import SupplyOffice, new_id


def _counts(s: SupplyOffice) -> tuple[int, int]:
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        requests = uow.session.execute(select(func.count()).select_from(Request)).scalar_one()
        lines = uow.session.execute(select(func.count()).select_from(RequestLine)).scalar_one()
        return requests, lines


def client_ids(s: SupplyOffice) -> None:
    """Run by tests/supplies/requests/test_requests.py in its office (each office costs a
    migration and its sign-ins)."""
    _a_request(s)
    _a_donation_offer(s)
    _a_kit_offered(s)


def _a_request(s: SupplyOffice) -> None:
    shelter = s.office.shelter
    request_id = new_id()
    form = {
        "id": request_id,
        "shelter": "S-01",
        "needed_by": "2026-12-08T09:00:00+09:00",
        "lines": [{"item": "water-2l", "quantity": 24, "vulnerable": 6}],
    }
    first = s.ok(s.post("/requests", form, shelter), 201)
    assert first["id"] == request_id and first["status"] == "draft"
    counts = _counts(s)

    # the same form again, the time written as its UTC instant: the first request (200)
    again = {**form, "needed_by": "2026-12-08T00:00:00Z"}
    assert s.ok(s.post("/requests", again, shelter), 200)["id"] == request_id
    # the draft grew since: a resend still answers it, as it is now
    s.ok(s.post(f"/requests/{request_id}/lines", {"lines": [{"item": "blanket", "quantity": 5}]}))
    resent = s.ok(s.post("/requests", form, shelter), 200)
    assert {line["item_code"] for line in resent["lines"]} == {"blanket", "water-2l"}
    counts = (counts[0], counts[1] + 1)
    assert _counts(s) == counts

    # the same id with other content (a quantity, or submitting it): refused, nothing written
    for other in (
        {**form, "lines": [{"item": "water-2l", "quantity": 25, "vulnerable": 6}]},
        {**form, "submit": True},
    ):
        refused = s.post("/requests", other, shelter)
        assert refused.status_code == 409, refused.text
        assert "内容の違う要請" in refused.json()["detail"]
    assert _counts(s) == counts
    assert s.ok(s.get(f"/requests/{request_id}"))["status"] == "draft"

    # another shelter's request id is no way in: the same refusal, nothing written
    theirs = s.ok(
        s.post("/requests", {**form, "id": new_id(), "shelter": "S-02"}), 201
    )  # staff, for the shelter the account does not work
    taken = s.post("/requests", {**form, "id": theirs["id"]}, shelter)
    assert taken.status_code == 409
    # a malformed id: 422
    assert s.post("/requests", {**form, "id": "not-a-uuid"}, shelter).status_code == 422
    # without an id every form makes its own request, as before
    s.ok(s.post("/requests", {**form, "id": None}, shelter), 201)
    s.ok(s.post("/requests", {**form, "id": None}, shelter), 201)
    assert _counts(s)[0] == counts[0] + 3


def _a_donation_offer(s: SupplyOffice) -> None:
    offer_id = new_id()
    form = {
        "id": offer_id,
        "donor": "株式会社みやぎ食品",
        "contact": "022-000-0000",
        "lines": [
            {"item": "water-2l", "quantity": 120, "expires_on": "2031-03-31"},
            {"item": "blanket", "quantity": 30},
        ],
    }
    offers = _offers(s)
    assert s.ok(s.post("/donations", form), 201)["id"] == offer_id
    s.ok(s.post(f"/donations/{offer_id}/accept", {"note": "受け入れる"}))
    # the same form again, its lines in another order: the first record, as it is now
    again = {**form, "lines": form["lines"][::-1]}
    resent = s.ok(s.post("/donations", again), 200)
    assert resent["id"] == offer_id and resent["status"] == "accepted"
    for other in (
        {**form, "donor": "株式会社みやぎ"},
        {**form, "lines": [{"item": "water-2l", "quantity": 121, "expires_on": "2031-03-31"}]},
    ):
        refused = s.post("/donations", other)
        assert refused.status_code == 409 and "内容の違う申し出" in refused.json()["detail"]
    assert _offers(s) == offers + 1


def _offers(s: SupplyOffice) -> int:
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        count: int = uow.session.execute(
            select(func.count()).select_from(DonationOffer)
        ).scalar_one()
        return count


def _a_kit_offered(s: SupplyOffice) -> None:
    """An offer of kits records a line per item the kit holds; sent again as those items
    under its id, it is the same offer."""
    kit = {
        "code": "hygiene-kit",
        "name": "衛生セット",
        "items": [
            {"item": "sanitary-pad", "quantity": 20},
            {"item": "toilet-paper", "quantity": 4},
        ],
    }
    s.ok(s.post("/kits", kit), 201)
    offer_id = new_id()
    form = {
        "id": offer_id,
        "donor": "NPO 法人みやぎ",
        "lines": [{"kit": "hygiene-kit", "count": 5}],
    }
    made = s.ok(s.post("/donations", form), 201)
    assert sorted((line["item_code"], line["quantity"]) for line in made["lines"]) == [
        ("sanitary-pad", 100),
        ("toilet-paper", 20),
    ]
    as_items = [{"item": "toilet-paper", "quantity": 20}, {"item": "sanitary-pad", "quantity": 100}]
    assert s.ok(s.post("/donations", {**form, "lines": as_items}), 200)["id"] == offer_id
    offers = _offers(s)
    for bad in (
        [{"kit": "hygiene-kit", "quantity": 5}],
        [{"kit": "hygiene-kit", "count": 0}],
        [{"kit": "no-such-kit", "count": 1}],
        [{"item": "blanket", "kit": "hygiene-kit", "count": 1}],
    ):
        refused = s.post("/donations", {"donor": "x", "lines": bad})
        assert refused.status_code == 422, refused.text
    assert _offers(s) == offers
