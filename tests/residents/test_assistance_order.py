"""The needs-assistance register's order — priority, then reading — read from the entry's
own copy of the reading (an index, so a page of a large register is read, not sorted):
the copy follows a correction of the resident's reading, and pages agree with the whole
register."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from residents.assistance.models import AssistanceEntry
from residents.directory.service import Directory
from residents.registry.models import Resident
from tests.residents.conftest import Office
from yui.service_ports import Audience


def _add(office: Office, kana: str, priority: int) -> dict[str, Any]:
    person = office.register(family_kana=kana, given_kana="ハナ")
    entry = office.client.put(
        f"{office.api}/residents/{person['id']}/assistance",
        json={"reasons": ["elderly_alone"], "priority": priority},
        headers=office.staff,
    )
    assert entry.status_code == 200, entry.text
    return person


def _register(office: Office) -> list[str]:
    listed = office.client.get(f"{office.api}/assistance", headers=office.staff)
    assert listed.status_code == 200, listed.text
    return [item["family_kana"] for item in listed.json()]


def test_the_register_order_follows_a_corrected_reading(office: Office) -> None:
    for kana, priority in (("ウエダ", 1), ("アオキ", 1), ("アアア", 2), ("イノウエ", 1)):
        last = _add(office, kana, priority)
    assert _register(office) == ["アオキ", "イノウエ", "ウエダ", "アアア"]

    # イノウエ's reading corrected to アア: first of priority 1 now
    corrected = office.client.patch(
        f"{office.api}/residents/{last['id']}",
        json={"version": last["version"], "family_kana": "アア"},
        headers=office.staff,
    )
    assert corrected.status_code == 200, corrected.text
    assert _register(office) == ["アア", "アオキ", "ウエダ", "アアア"]
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        pairs = uow.session.execute(
            select(AssistanceEntry.kana_key, Resident.kana_key).join(
                Resident, Resident.id == AssistanceEntry.resident_id
            )
        ).all()
    assert len(pairs) == 4 and all(copy == key for copy, key in pairs)

    # the port's pages, two at a time, are the register in the same order
    directory = Directory(office.db)
    pages = [
        [
            facts.resident.family_kana
            for facts in directory.needs_assistance(
                office.code, audience=Audience.STAFF, actor="t", offset=offset, limit=2
            )
        ]
        for offset in (0, 2, 4)
    ]
    assert pages == [["アア", "アオキ"], ["ウエダ", "アアア"], []]
