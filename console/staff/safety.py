"""Safety confirmation's lists for staff: the door-to-door visit list of a 町字 (to print,
needs-assistance first), the residents whose reports disagree (open ones to resolve with
what staff found out, resolved ones to look back on) and the open form's review queue (to record a
submission for the resident it is about, or to reject it). Each list comes from safety
confirmation's staff views, which audit every list of people; each write is its API's."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
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
#: the disagreements list's tabs: open (to resolve) first, the default
DISAGREEMENT_STATES = ("open", "resolved")
State = Annotated[str, Query(pattern=r"^(open|resolved)$")]
#: a list page shown again with why a change was refused: (message, HTTP status) -> page
Refusal = Callable[[str, int], Awaitable[Response]]


async def _change(
    staff: Staff, path: str, *, refusal: Refusal, done: str, json: Any = None
) -> Response:
    """POST a change to the API: on a refusal, the list again with the API's reason and
    status (nothing written); else see-other to ``done``."""
    answer = await staff.api("POST", path, **({"json": json} if json is not None else {}))
    if not answer.ok:
        return await refusal(staff.page.localized(answer.problem), answer.status)
    return staff.page.redirect(done)


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
    state: State = "open",
    recorded: Annotated[str, Query(pattern=r"^$|" + UUID[1:])] = "",
) -> Response:
    """``state``: open (the default) or resolved disagreements. ``recorded``: the resident
    whose disagreement was just resolved (an id: names stay out of URLs, which end up in
    logs and the browser's history)."""
    return await _disagreements_page(staff, campaign_id, cursor, state=state, recorded=recorded)


async def _disagreements_page(
    staff: Staff,
    campaign_id: str,
    cursor: str,
    *,
    state: str = "open",
    recorded: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    answer = await staff.api(
        "GET",
        f"/safety/campaigns/{campaign_id}/disagreements",
        params={"cursor": cursor, "limit": 50, "state": state},
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
        state=state,
        states=DISAGREEMENT_STATES,
        statuses=RESOLVING_STATUSES,
        reporters=STAFF_REPORTERS,
        # a new id per form shown: the same form sent twice is recorded once (the API
        # answers a resend with the first resolution)
        resolution_ids={
            person["resident_id"]: str(uuid.uuid4())
            for person in (answer.body["residents"] if answer.ok else [])
        },
        can_resolve=staff.has_role("staff") and state == "open",
        notice=staff.page.t("resolve.done") if recorded else "",
        resolve_error=error,
    )


@router.post("/disagreements/resolve", dependencies=[CsrfChecked])
async def resolve(
    staff: Staff,
    campaign_id: Campaign,
    resident_id: Annotated[str, Form(pattern=UUID)],
    resolution_id: Annotated[str, Form(pattern=UUID)],
    status: Annotated[str, Form(max_length=30)],
    reporter_kind: Annotated[str, Form(max_length=30)],
    note: Annotated[str, Form(max_length=2000)] = "",
    cursor: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Resolve the disagreement with what staff found out: safety confirmation's resolve
    API records it as the resident's latest (staff) report and takes them off the open
    list, audited; a resend of the same form is answered with the first resolution."""

    def refusal(message: str, code: int) -> Awaitable[Response]:
        return _disagreements_page(staff, campaign_id, cursor, error=message, status=code)

    if status not in RESOLVING_STATUSES or reporter_kind not in STAFF_REPORTERS:
        return await refusal(staff.page.t("resolve.bad_choice"), 422)
    query = {"recorded": resident_id, **({"cursor": cursor} if cursor else {})}
    return await _change(
        staff,
        f"/safety/campaigns/{campaign_id}/disagreements/{resident_id}/resolve",
        json={
            "id": resolution_id,
            "status": status,
            "reporter_kind": reporter_kind,
            "note": note,
        },
        refusal=refusal,
        done=f"{CONSOLE_PREFIX}/t/{staff.tenant}/safety/{campaign_id}/disagreements?"
        + urlencode(query),
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

    def refusal(message: str, code: int) -> Awaitable[Response]:
        return _submissions_page(staff, campaign_id, match, "", review_error=message, status=code)

    if decision == "confirm" and not resident_id:
        return await refusal(staff.page.t("submissions.no_resident"), 422)
    done = "confirmed" if decision == "confirm" else "rejected"
    query = urlencode({"done": done, **({"match": match} if match else {})})
    return await _change(
        staff,
        f"/safety/campaigns/{campaign_id}/submissions/{submission_id}/{decision}",
        json={"resident_id": resident_id} if decision == "confirm" else None,
        refusal=refusal,
        done=f"{CONSOLE_PREFIX}/t/{staff.tenant}/safety/{campaign_id}/submissions?{query}",
    )
