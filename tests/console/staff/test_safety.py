"""Safety confirmation's review pages in the staff console: resolving residents whose
reports disagree with what staff found out (they move to the resolved list), and the open form's review queue (record a
submission for a candidate, or reject it). Refusals through HTTP without a browser; one
browser test of both pages, with axe-core and screenshots."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from residents.registry.models import Resident
from safety_check.reports.models import CurrentStatus, Report, Submission
from tests.console.support.browser import (
    AUDITOR,
    STAFF,
    ConsoleNode,
    assert_accessible,
    screenshot,
    sign_in,
)
from tests.console.support.staff import Desk, api, token_of

JAPAN = ZoneInfo("Asia/Tokyo")


@dataclass
class Review:
    campaign_id: str
    #: reports that disagree: a family says safe, a supporter says they need help
    disagreeing: Resident
    #: the open form's submission that names them exactly
    named: Resident
    exact_submission: str
    #: a submission about nobody in the registry
    stranger_submission: str


def _residents(node: ConsoleNode) -> list[Resident]:
    """Registered people in the middle of the register (other console tests use its
    first and last)."""
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(Resident)
                .where(Resident.dv_block.is_(False), Resident.status == "active")
                .order_by(Resident.resident_no)
                .offset(50)
                .limit(2)
            ).scalars()
        )


@pytest.fixture(scope="module")
def review(node: ConsoleNode) -> Iterator[Review]:
    """A live campaign of its own (closed after these tests) with one disagreement and
    two submissions of the open form."""
    staff = token_of(node, STAFF)
    campaign = api(
        node, staff, "POST", "/safety/campaigns", {"title": "食い違いの確認", "kind": "live"}
    )
    disagreeing, named = _residents(node)
    for status, kind in (("safe", "family"), ("needs_help", "supporter")):
        _report(node, staff, campaign["id"], disagreeing, status, kind)
    submissions = []
    for family, given, birth in (
        (named.family_kana, named.given_kana, named.birth_date.isoformat()),
        ("ゼッタイ", "イナイ", "1901-01-01"),
    ):
        sent = httpx.post(
            f"{node.url}/api/v1/{node.tenant}/safety/campaigns/{campaign['id']}/form",
            json={
                "id": str(uuid.uuid4()),
                "family_kana": family,
                "given_kana": given,
                "birth_date": birth,
                "status": "safe",
                "reported_at": datetime.now(UTC).isoformat(),
                "reporter_kind": "family",
                "reporter_name": "家族",
            },
        )
        assert sent.status_code == 202, sent.text
        submissions.append(str(sent.json()["id"]))
    yield Review(campaign["id"], disagreeing, named, *submissions)
    api(node, staff, "POST", f"/safety/campaigns/{campaign['id']}/close")


def _report(
    node: ConsoleNode, token: str, campaign_id: str, resident: Resident, status: str, kind: str
) -> None:
    api(
        node,
        token,
        "POST",
        f"/safety/campaigns/{campaign_id}/reports",
        {
            "id": str(uuid.uuid4()),
            "resident_id": resident.id,
            "status": status,
            "reported_at": datetime.now(UTC).isoformat(),
            "reporter_kind": kind,
        },
    )


def reports_of(node: ConsoleNode, campaign_id: str, resident: Resident) -> list[Report]:
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        return list(
            uow.session.execute(
                select(Report).where(
                    Report.campaign_id == campaign_id, Report.resident_id == resident.id
                )
            ).scalars()
        )


def test_refused_resolutions_and_reviews_write_nothing(node: ConsoleNode, review: Review) -> None:
    staff = Desk(node, STAFF, ("staff",), section=f"safety/{review.campaign_id}")
    page = "/disagreements"
    listed = staff.get(page)
    assert listed.status_code == 200 and review.disagreeing.family_name in listed.text
    form = {
        "resident_id": review.disagreeing.id,
        "resolution_id": str(uuid.uuid4()),
        "status": "believed_dead",  # not offered here
        "reporter_kind": "door_to_door",
    }
    refused = staff.post("/disagreements/resolve", form, from_page=page)
    assert refused.status_code == 422 and "一覧から選んで" in refused.text
    # the auditor sees no form and the API refuses the auditor's report
    auditor = Desk(node, AUDITOR, ("auditor",), section=f"safety/{review.campaign_id}")
    assert 'data-testid="resolve-form"' not in auditor.get(page).text
    as_auditor = auditor.post("/disagreements/resolve", {**form, "status": "safe"}, from_page=page)
    assert as_auditor.status_code == 403
    forged = staff.client.post(
        staff.base + "/disagreements/resolve", data={**form, "status": "safe"}
    )
    assert forged.status_code == 403
    assert len(reports_of(node, review.campaign_id, review.disagreeing)) == 2
    # a confirmation without the resident it is about
    unnamed = staff.post(
        f"/submissions/{review.stranger_submission}/confirm", {}, from_page="/submissions"
    )
    assert unnamed.status_code == 422 and "どの住民" in unnamed.text
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        waiting = uow.session.get(Submission, review.stranger_submission)
        assert waiting is not None and waiting.review == "pending"
    # the queue shows the report's time as staff read their clocks: Japan's, not UTC
    queue = staff.get("/submissions").text
    assert waiting.reported_at.astimezone(JAPAN).strftime("%Y-%m-%d %H:%M") in queue
    assert " UTC" not in queue


def test_resolve_a_disagreement_and_review_the_open_form_in_the_browser(
    node: ConsoleNode, review: Review, page: Any
) -> None:
    sign_in(page, node)
    page.goto(f"{node.url}/console/t/{node.tenant}/?campaign={review.campaign_id}")
    page.get_by_role("link", name="報告の食い違いを確認する").click()
    page.wait_for_url(re.compile(r"/disagreements$"))
    person = review.disagreeing
    who = f"{person.family_name} {person.given_name}"
    card = page.get_by_role("region", name=re.compile(re.escape(who)))
    card.get_by_label("確かめた安否").select_option("safe")
    card.get_by_label("確かめた方法").select_option("door_to_door")
    card.get_by_label(re.compile("^メモ")).fill("自宅で本人と会った")
    assert_accessible(page)
    card.get_by_role("button", name="職員の報告として記録").click()
    assert "解決済みにしました" in page.get_by_test_id("resolve-notice").inner_text()
    assert person.family_name not in unquote(page.url)  # names stay out of URLs
    # off the open list, on the resolved one with who resolved it, how, and the note
    assert page.get_by_role("region", name=re.compile(re.escape(who))).count() == 0
    page.get_by_role("link", name="解決済み").click()
    page.wait_for_url(re.compile(r"state=resolved"))
    card = page.get_by_role("region", name=re.compile(re.escape(who)))
    assert "職員が確認済み: 無事" in card.get_by_test_id("resolved").inner_text()
    resolution = card.get_by_test_id("resolution").inner_text()
    assert STAFF in resolution and "自宅で本人と会った" in resolution
    assert card.get_by_test_id("resolve-form").count() == 0
    assert_accessible(page)
    screenshot(page, "safety-disagreements")
    latest = max(reports_of(node, review.campaign_id, person), key=lambda r: r.reported_at)
    assert (latest.status, latest.source, latest.reporter_kind) == ("safe", "staff", "door_to_door")
    assert latest.note == "自宅で本人と会った"
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        current = uow.session.get(CurrentStatus, (review.campaign_id, person.id))
        assert current is not None and current.status == "safe"
    # a report that disagrees with what staff kept puts them back on the open list
    _report(node, token_of(node, STAFF), review.campaign_id, person, "needs_help", "family")
    page.get_by_role("link", name="未解決").click()
    card = page.get_by_role("region", name=re.compile(re.escape(who)))
    assert card.get_by_test_id("reopened").is_visible()
    assert card.get_by_test_id("resolve-form").count() == 1

    # the open form's queue: the exact match is recorded for its resident, the other rejected
    page.goto(f"{node.url}/console/t/{node.tenant}/?campaign={review.campaign_id}")
    page.get_by_role("link", name="フォームの報告を確認する").click()
    page.wait_for_url(re.compile(r"/submissions$"))
    assert page.get_by_test_id("submission").count() == 2
    assert_accessible(page)
    screenshot(page, "safety-submissions")
    named = review.named
    page.get_by_role(
        "button", name=f"{named.family_name} {named.given_name} さんの報告として記録"
    ).click()
    assert "記録しました" in page.get_by_test_id("review-notice").inner_text()
    page.get_by_role("button", name="ゼッタイ イナイ についての報告を使わない").click()
    assert "使わない" in page.get_by_test_id("review-notice").inner_text()
    assert page.get_by_test_id("submissions-empty").is_visible()
    [recorded] = reports_of(node, review.campaign_id, named)
    assert (recorded.status, recorded.source) == ("safe", "open_form")
    with node.db.unit_of_work(node.tenant, read_only=True) as uow:
        rejected = uow.session.get(Submission, review.stranger_submission)
        assert rejected is not None and rejected.review == "rejected"
