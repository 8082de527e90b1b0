"""A request made with the client's id: the same form sent twice (a double click, a
resend after a timeout) makes one request; the same id with other content is refused and
writes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from supplies.requests.models import Request, RequestLine
from tests.supplies.supply_office import SupplyOffice, new_id


def _counts(s: SupplyOffice) -> tuple[int, int]:
    with s.office.db.unit_of_work(s.office.code, read_only=True) as uow:
        requests = uow.session.execute(select(func.count()).select_from(Request)).scalar_one()
        lines = uow.session.execute(select(func.count()).select_from(RequestLine)).scalar_one()
        return requests, lines


def test_a_request_sent_twice_with_its_id_is_made_once(supplies: SupplyOffice) -> None:
    s = supplies
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
