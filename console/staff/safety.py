"""Safety confirmation's lists for staff: the door-to-door visit list of a 町字 (to print,
needs-assistance first), the residents whose reports disagree (to resolve with a staff
report of what staff found out) and the open form's review queue (to record a
submission for the resident it is about, or to reject it). Each list comes from safety
confirmation's staff views, which audit every list of people; each write is its API's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response

from console.common.web import CONSOLE_PREFIX, CsrfChecked
from console.staff.signin import Staff

router = APIRouter(
    prefix=CONSOLE_PREFIX + "/t/{tenant}/safety/{campaign_id}", include_in_schema=False
)
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
Campaign = Annotated[str, Path(pattern=UUID)]
Cursor = Annotated[str, Query(max_length=200)]
SubmissionId = Annotated[str, Path(pattern=UUID)]
#: what staff record when they resolve a disagreement (a death is not recorded here)
RESOLVING_STATUSES = (
    "safe",
    "at_shelter",
    "injured",
    "needs_help",
    "believed_alive",
    "believed_missing",
)
#: how staff found out
STAFF_REPORTERS = ("staff_call", "door_to_door")
MATCHES = ("", "exact", "partial", "none")


@router.get("/visits")
async def visit_list(
    staff: Staff,
    campaign_id: Campaign,
    town: Annotated[str, Query(min_length=1, max_length=80)],
    cursor: Cursor = "",
) -> Response:
    answer = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign_id}/visits",
        params={"town": town, "cursor": cursor, "limit": 200},
    )
    return staff.page.render(
        "staff/visits.html",
        status=200 if answer.ok else answer.status,
        section="dashboard",
        served=answer.served,
        error="" if answer.ok else staff.page.localized(answer.problem),
        visits=answer.body if answer.ok else None,
        campaign_id=campaign_id,
        town=town,
        cursor=cursor,
    )


@router.get("/disagreements")
async def review_queue(
    staff: Staff,
    campaign_id: Campaign,
    cursor: Cursor = "",
    recorded: Annotated[str, Query(pattern=r"^$|" + UUID[1:])] = "",
) -> Response:
    """``recorded``: the resident whose report was just recorded (an id: names stay out
    of URLs, which end up in logs and the browser's history)."""
    return await _disagreements_page(staff, campaign_id, cursor, recorded=recorded)


async def _disagreements_page(
    staff: Staff,
    campaign_id: str,
    cursor: str,
    *,
    recorded: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    answer = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign_id}/disagreements",
        params={"cursor": cursor, "limit": 50},
    )
    return staff.page.render(
        "staff/disagreements.html",
        status=status if answer.ok else answer.status,
        section="dashboard",
        served=answer.served,
        error="" if answer.ok else staff.page.localized(answer.problem),
        queue=answer.body if answer.ok else None,
        campaign_id=campaign_id,
        cursor=cursor,
        statuses=RESOLVING_STATUSES,
        reporters=STAFF_REPORTERS,
        resolved_by_staff=resolved_by_staff,
        # a new id per form shown: the same form sent twice is recorded once (the API
        # answers a resend with the first report)
        report_ids={
            person["resident_id"]: str(uuid.uuid4())
            for person in (answer.body["residents"] if answer.ok else [])
        },
        can_resolve=staff.has_role("staff"),
        notice=_recorded_notice(staff, answer.body if answer.ok else None, recorded),
        resolve_error=error,
    )


def _recorded_notice(staff: Staff, queue: dict[str, Any] | None, resident_id: str) -> str:
    if not resident_id:
        return ""
    for person in (queue or {}).get("residents", []):
        if person["resident_id"] == resident_id:
            name = f"{person['family_name']} {person['given_name']}"
            return staff.page.t("resolve.done", name=name)
    return staff.page.t("resolve.done_someone")


def resolved_by_staff(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The staff report that settles the disagreement: the latest by report time, made
    by staff who called or visited (the list keeps showing the resident, with it)."""
    latest = reports[0] if reports else None
    if latest and latest["source"] == "staff" and latest["reporter_kind"] in STAFF_REPORTERS:
        return latest
    return None


@router.post("/disagreements/resolve", dependencies=[CsrfChecked])
async def resolve(
    staff: Staff,
    campaign_id: Campaign,
    resident_id: Annotated[str, Form(pattern=UUID)],
    report_id: Annotated[str, Form(pattern=UUID)],
    status: Annotated[str, Form(max_length=30)],
    reporter_kind: Annotated[str, Form(max_length=30)],
    note: Annotated[str, Form(max_length=2000)] = "",
    cursor: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record what staff found out as the resident's latest report, through the same
    report API every reporter uses (its checks, its audit, its resend rule)."""
    if status not in RESOLVING_STATUSES or reporter_kind not in STAFF_REPORTERS:
        return await _disagreements_page(
            staff, campaign_id, cursor, error=staff.page.t("resolve.bad_choice"), status=422
        )
    answer = await staff.api(
        "POST",
        f"/safety/campaigns/{campaign_id}/reports",
        json={
            "id": report_id,
            "resident_id": resident_id,
            "status": status,
            "reported_at": datetime.now(UTC).isoformat(),
            "reporter_kind": reporter_kind,
            "note": note,
        },
    )
    if not answer.ok:
        return await _disagreements_page(
            staff,
            campaign_id,
            cursor,
            error=staff.page.localized(answer.problem),
            status=answer.status,
        )
    query = {"recorded": resident_id, **({"cursor": cursor} if cursor else {})}
    return staff.page.redirect(
        f"{CONSOLE_PREFIX}/t/{staff.tenant}/safety/{campaign_id}/disagreements?{urlencode(query)}"
    )


@router.get("/submissions")
async def submissions(
    staff: Staff,
    campaign_id: Campaign,
    match: Annotated[str, Query(pattern=r"^(|exact|partial|none)$")] = "",
    cursor: Annotated[str, Query(pattern=r"^$|" + UUID[1:])] = "",
    done: Annotated[str, Query(pattern=r"^(|confirmed|rejected)$")] = "",
) -> Response:
    return await _submissions_page(staff, campaign_id, match, cursor, notice=done)


async def _submissions_page(
    staff: Staff,
    campaign_id: str,
    match: str,
    cursor: str,
    *,
    notice: str = "",
    review_error: str = "",
    status: int = 200,
) -> Response:
    """The open form's submissions waiting for review, oldest first, each with the
    registry's candidates (read as staff when it arrived: a DV-blocked one is flagged)."""
    answer = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign_id}/submissions",
        params={"match": match, "cursor": cursor, "limit": 20},
    )
    return staff.page.render(
        "staff/submissions.html",
        status=status if answer.ok else answer.status,
        section="dashboard",
        served=answer.served,
        error="" if answer.ok else staff.page.localized(answer.problem),
        queue=answer.body if answer.ok else None,
        campaign_id=campaign_id,
        match=match,
        matches=MATCHES,
        cursor=cursor,
        can_review=staff.has_role("staff"),
        notice=staff.page.t("submissions.done_" + notice) if notice else "",
        review_error=review_error,
    )


@router.post("/submissions/{submission_id}/{decision}", dependencies=[CsrfChecked])
async def review(
    staff: Staff,
    campaign_id: Campaign,
    submission_id: SubmissionId,
    decision: Annotated[str, Path(pattern=r"^(confirm|reject)$")],
    resident_id: Annotated[str, Form(pattern=r"^$|" + UUID[1:])] = "",
    match: Annotated[str, Form(pattern=r"^(|exact|partial|none)$")] = "",
) -> Response:
    """Confirm: the submission becomes a report of the chosen resident; reject: it is
    kept, marked unused. Either is the API's (a submission reviewed already is 409)."""
    path = f"/safety/campaigns/{campaign_id}/submissions/{submission_id}/{decision}"
    if decision == "confirm":
        if not resident_id:
            return await _submissions_page(
                staff,
                campaign_id,
                match,
                "",
                review_error=staff.page.t("submissions.no_resident"),
                status=422,
            )
        answer = await staff.api("POST", path, json={"resident_id": resident_id})
    else:
        answer = await staff.api("POST", path)
    if not answer.ok:
        return await _submissions_page(
            staff,
            campaign_id,
            match,
            "",
            review_error=staff.page.localized(answer.problem),
            status=answer.status,
        )
    done = "confirmed" if decision == "confirm" else "rejected"
    query = urlencode({"done": done, **({"match": match} if match else {})})
    return staff.page.redirect(
        f"{CONSOLE_PREFIX}/t/{staff.tenant}/safety/{campaign_id}/submissions?{query}"
    )
