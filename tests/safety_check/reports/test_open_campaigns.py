"""The public list of campaigns taking reports (the citizens' pages link the open form
from it): the municipality's name and each open live campaign's id, title and opening,
nothing more; never a drill, a closed campaign, nor one held as a possible false alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from safety_check.campaigns.models import Campaign
from tests.safety_check.conftest import Office, open_campaign


def test_only_open_live_campaigns_are_listed_with_their_titles_only(office: Office) -> None:
    url = f"{office.api}/safety/open-campaigns"
    assert office.client.get(url).json()["campaigns"] == []
    live = open_campaign(office, title="宮城県沖地震")
    open_campaign(office, kind="drill", title="総合防災訓練")
    closed = open_campaign(office, title="前の地震")
    ended = office.client.post(
        f"{office.api}/safety/campaigns/{closed['id']}/close", headers=office.staff
    )
    assert ended.status_code == 200
    held = open_campaign(office, title="誤報かもしれない地震")
    with office.db.unit_of_work(office.code) as uow:
        row = uow.session.get(Campaign, held["id"])
        assert row is not None
        row.state, row.hold_until = "pending", datetime.now(UTC) + timedelta(minutes=10)
        uow.commit()

    listed = office.client.get(url)  # no sign-in
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["municipality"] == "仙台市"
    assert body["campaigns"] == [
        {"id": live["id"], "title": "宮城県沖地震", "opened_at": live["opened_at"]}
    ]
    # another municipality's code lists its own (none), not this one's
    other = office.client.get("/api/v1/131016/safety/open-campaigns")
    assert other.status_code in (200, 404)
    assert live["id"] not in other.text
