"""The office of the supplies tests: the registry's office (a tenant, signed-in staff,
auditor and shelter accounts, residents registered through the API) with a depot
account, the seed catalogue, two depots and two shelters, the shelter and depot
accounts assigned to one of each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.residents.conftest import Office


@dataclass
class SupplyOffice:
    office: Office
    depot: dict[str, str]
    #: place ids: the depot account works D-01, the shelter account S-01
    depot_id: str
    other_depot_id: str
    shelter_id: str
    other_shelter_id: str

    @property
    def api(self) -> str:
        return f"{self.office.api}/supplies"

    @property
    def staff(self) -> dict[str, str]:
        return self.office.staff

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.office.client.post(
            f"{self.api}{path}", json=body, headers=headers or self.staff
        )

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.office.client.get(
            f"{self.api}{path}", params=params, headers=headers or self.staff
        )

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def receive(self, place: str, *lines: dict[str, Any], **fields: Any) -> Any:
        return self.post("/stock/receipts", {"place": place, "lines": list(lines), **fields})

    def stock(self, place: str, item: str, headers: dict[str, str] | None = None) -> float:
        levels = self.ok(self.get("/stock", headers, place=place, item=item))
        return float(sum(level["quantity"] for level in levels))


def add_place(office: Office, code: str, kind: str, **fields: Any) -> str:
    response = office.client.post(
        f"{office.api}/supplies/places",
        json={"code": code, "kind": kind, "name": f"{code} の名前", **fields},
        headers=office.staff,
    )
    assert response.status_code == 201, response.text
    place_id: str = response.json()["id"]
    return place_id


def assign(office: Office, place_id: str, username: str) -> None:
    response = office.client.post(
        f"{office.api}/supplies/places/{place_id}/assignments",
        json={"username": username},
        headers=office.staff,
    )
    assert response.status_code == 201, response.text


def supply_office(office: Office) -> SupplyOffice:
    depot = office.headers("depot1", "depot")
    seeded = office.client.post(f"{office.api}/supplies/items/seed", headers=office.staff)
    assert seeded.status_code == 200, seeded.text
    shelter = dict(capacity_day=300, capacity_night=200, floor_area_m2=350, toilets=4)
    ids = (
        add_place(office, "D-01", "stockpile", address="仙台市青葉区"),
        add_place(office, "D-02", "hub"),
        add_place(office, "S-01", "shelter", latitude=38.26, longitude=140.87, **shelter),
        add_place(office, "S-02", "welfare_shelter", **shelter),
    )
    assign(office, ids[0], "depot1")
    assign(office, ids[2], "shelter1")
    for shelter_id in ids[2:]:
        opened = office.client.post(
            f"{office.api}/supplies/shelters/{shelter_id}/open", headers=office.staff
        )
        assert opened.status_code == 200, opened.text
    return SupplyOffice(office, depot, *ids)


def new_id() -> str:
    return str(uuid.uuid4())
