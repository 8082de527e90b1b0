"""The open mobile form: reports anyone may send about a person, unverified, and the staff's
review queue that turns one into a report.

A submission describes the person by name (kanji and/or kana), birth date and 町字. When it
arrives it is matched to registered residents through the registry's port (exact whole
name, written or read, with the birth date; else names that begin with the family name),
and the candidates are kept with it, scored on the four. Nothing reaches the resident's
status until staff confirm a resident (the best candidate or another one); staff may also
reject it. The sender's answer is the same whatever the match, so the form tells nobody
whether, or where, a person is registered (nor anything of a DV-blocked resident, whom
only staff see in the queue, flagged).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safety_check.campaigns import service as campaigns
from safety_check.campaigns.models import Campaign, CampaignKind, CampaignState, state_of
from safety_check.reports import service as reports
from safety_check.reports.models import (
    ReporterKind,
    ReportSource,
    ReviewState,
    SafetyStatus,
    Submission,
)
from safety_check.reports.schemas import (
    FormIn,
    OpenCampaignOut,
    OpenCampaignsOut,
    ReportIn,
    ReviewQueueOut,
    submission_out,
)
from yui.audit import service as audit
from yui.db.unit_of_work import UnitOfWork
from yui.errors import Conflict, InvalidInput, NotFound
from yui.service_ports import Audience, ResidentDirectory, ResidentFacts
from yui.tenancy.models import Tenant

#: who the audit log names for the form's own reads of the registry
FORM_ACTOR = "open form"
#: how many candidates a submission keeps
CANDIDATES = 5
#: the namespace of the ids of reports made from confirmed submissions
CONFIRMED_IDS = uuid.UUID("d3c2a1f4-5b6e-4c7d-8e9f-0a1b2c3d4e5f")
#: what the form compares as its content (a resend with other content is a conflict)
CONTENT = tuple(name for name in FormIn.model_fields if name != "id")

_KATAKANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


_KANJI_DIGITS = {c: n for n, c in enumerate("〇一二三四五六七八九")}
_CHOME = re.compile(r"([〇一二三四五六七八九十]+)(丁目)")


def fold(text: str) -> str:
    """A name as the matching compares it: NFKC, no spaces, katakana as hiragana."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(text.split()).translate(_KATAKANA).casefold()


def _kanji_number(text: str) -> str:
    if "十" not in text:
        return "".join(str(_KANJI_DIGITS[c]) for c in text)
    tens, _, ones = text.partition("十")
    return str((_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0))


def town_key(town: str) -> str:
    """A 町字 as the matching compares it: 一番町一丁目, 一番町１丁目 and 一番町 1 丁目 meet
    (numbers before 丁目 as digits; a town's own name, 一番町, is left as written)."""
    return _CHOME.sub(lambda m: _kanji_number(m.group(1)) + m.group(2), fold(town))


def _score(form: FormIn, facts: ResidentFacts) -> dict[str, bool]:
    kana, name = fold(form.family_kana + form.given_kana), fold(form.family_name + form.given_name)
    return {
        "kana": bool(kana) and kana == fold(facts.family_kana + facts.given_kana),
        "name": bool(name) and name == fold(facts.family_name + facts.given_name),
        "birth_date": form.birth_date is not None and form.birth_date == facts.birth_date,
        "town": bool(form.town_name) and town_key(form.town_name) == town_key(facts.town_name),
    }


def _exact(form: FormIn, score: dict[str, bool]) -> bool:
    """Every field the sender gave matches."""
    given = {
        "kana": bool(form.family_kana + form.given_kana),
        "name": bool(form.family_name + form.given_name),
        "birth_date": form.birth_date is not None,
        "town": bool(form.town_name),
    }
    return all(score[field] for field, was_given in given.items() if was_given)


def match(directory: ResidentDirectory, tenant: str, form: FormIn) -> tuple[str, list[Any]]:
    """The match quality ("exact", "partial", "none") and the candidates, best first.

    Read as staff (the queue is staff's): a DV-blocked resident may be a candidate,
    flagged; the sender is never told."""
    found: dict[str, ResidentFacts] = {}
    names = [
        name
        for name in (form.family_kana + form.given_kana, form.family_name + form.given_name)
        if name.strip()
    ]
    if form.birth_date is not None:
        for name in names:
            for facts in directory.identify(
                tenant, name, form.birth_date, audience=Audience.STAFF, actor=FORM_ACTOR
            ):
                found[facts.resident_id] = facts
    family = (form.family_kana or form.family_name).strip()
    if family and len(found) < CANDIDATES:
        # a misspelt given name or birth date: the family name's residents, scored below
        for facts in directory.find(
            tenant, family, birth_date=None, audience=Audience.STAFF, actor=FORM_ACTOR, limit=50
        ):
            found.setdefault(facts.resident_id, facts)
    scored = []
    for facts in found.values():
        score = _score(form, facts)
        if sum(score.values()) >= 2:  # a family name alone is no candidate
            scored.append((facts, score))
    scored.sort(key=lambda pair: (-sum(pair[1].values()), pair[0].resident_id))
    scored = scored[:CANDIDATES]
    exact = [facts for facts, score in scored if _exact(form, score)]
    quality = "exact" if len(exact) == 1 else "partial" if scored else "none"
    return quality, [_candidate(facts, score) for facts, score in scored]


def _candidate(facts: ResidentFacts, score: dict[str, bool]) -> dict[str, Any]:
    return {
        "resident_id": facts.resident_id,
        "family_name": facts.family_name,
        "given_name": facts.given_name,
        "family_kana": facts.family_kana,
        "given_kana": facts.given_kana,
        "birth_date": facts.birth_date.isoformat(),
        "town_name": facts.town_name,
        "needs_assistance": facts.needs_assistance,
        "dv_block": facts.dv_block,
        "matches": [field for field, matched in score.items() if matched],
    }


def _same(stored: Submission, campaign_id: str, form: FormIn) -> bool:
    sent = form.model_dump()
    return stored.campaign_id == campaign_id and all(
        getattr(stored, name) == sent[name] for name in CONTENT
    )


def submit(
    uow: UnitOfWork, directory: ResidentDirectory, campaign_id: str, form: FormIn
) -> tuple[Submission, bool]:
    """Keep a submission for review (True), or answer a resend (False). The campaign and
    the report time are checked first, so bad input costs the registry no read."""
    session = uow.session
    campaign = campaigns.get(session, campaign_id)
    stored = session.get(Submission, form.id)
    if stored is not None:
        if not _same(stored, campaign.id, form):
            raise Conflict("同じIDで内容の違う報告があります / this id was used for another report")
        return stored, False
    reports.check_time(campaign, form.reported_at)
    campaign_id = campaign.id
    session.rollback()  # read only so far: free the database before the registry's calls
    quality, candidates = match(directory, uow.tenant or "", form)
    campaign = campaigns.get(session, campaign_id)
    received = reports.check_time(campaign, form.reported_at)
    submission = Submission(
        campaign_id=campaign.id,
        received_at=received,
        match=quality,
        candidates=candidates,
        review=ReviewState.PENDING.value,
        **form.model_dump(),
    )
    session.add(submission)
    try:
        session.flush()
    except IntegrityError:
        # the same id sent twice at once: the other one won
        session.rollback()
        stored = session.get(Submission, form.id)
        if stored is not None and _same(stored, campaign_id, form):
            return stored, False
        raise Conflict(
            "このIDは別の報告に使われています / this id was used for another report"
        ) from None
    audit.record(
        session,
        actor=FORM_ACTOR,
        action="safety.form_submission",
        subject_type="safety_submission",
        subject_id=submission.id,
        detail={
            "campaign": campaign.id,
            "match": quality,
            "candidates": [c["resident_id"] for c in candidates],
        },
    )
    return submission, True


#: the open campaigns the public list shows (newest first)
OPEN_CAMPAIGNS_LISTED = 20


def open_campaigns(session: Session, tenant: str) -> OpenCampaignsOut:
    """The live campaigns taking reports now, newest first, for the public: their titles
    (what the municipality announces), never a drill nor one held as a possible false
    alarm. The open form takes reports for these."""
    rows = session.execute(
        select(Campaign)
        .where(Campaign.kind == CampaignKind.LIVE.value, Campaign.closed_at.is_(None))
        .order_by(Campaign.opened_at.desc())
        .limit(OPEN_CAMPAIGNS_LISTED * 2)
    ).scalars()
    municipality = session.get(Tenant, tenant)
    return OpenCampaignsOut(
        municipality=municipality.name if municipality is not None else "",
        campaigns=[
            OpenCampaignOut(id=row.id, title=row.title, opened_at=row.opened_at)
            for row in rows
            if state_of(row) is CampaignState.OPEN
        ][:OPEN_CAMPAIGNS_LISTED],
    )


def queue(
    uow: UnitOfWork,
    campaign_id: str,
    *,
    actor: str,
    review: ReviewState,
    quality: str,
    cursor: str,
    limit: int,
) -> ReviewQueueOut:
    """Submissions in arrival order (the oldest waiting first), a page at a time."""
    session = uow.session
    campaign = campaigns.get(session, campaign_id)
    statement = select(Submission).where(
        Submission.campaign_id == campaign.id, Submission.review == review.value
    )
    if quality:
        statement = statement.where(Submission.match == quality)
    if cursor:
        last = session.get(Submission, cursor)
        if last is None or last.campaign_id != campaign.id:
            raise InvalidInput("cursor が正しくありません / invalid cursor")
        statement = statement.where(
            or_(
                Submission.received_at > last.received_at,
                and_(Submission.received_at == last.received_at, Submission.id > last.id),
            )
        )
    rows = list(
        session.execute(
            statement.order_by(Submission.received_at, Submission.id).limit(limit + 1)
        ).scalars()
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    rows = rows[:limit]
    audit.record(
        session,
        actor=actor,
        action="safety.review_queue",
        subject_type="safety_submission",
        detail={"campaign": campaign.id, "results": [r.id for r in rows], "count": len(rows)},
    )
    return ReviewQueueOut(
        campaign_id=campaign.id,
        submissions=[submission_out(row) for row in rows],
        next_cursor=next_cursor,
    )


def _pending(uow: UnitOfWork, campaign_id: str, submission_id: str) -> Submission:
    # The tenant's audit head first: two staff reviewing one submission at once are taken
    # in turn, and the second finds it reviewed (409). Before, both found it pending, and
    # a confirm and a reject both succeeded: a report recorded for a submission the queue
    # called rejected.
    audit.hold(uow.session)
    campaign = campaigns.get(uow.session, campaign_id)
    submission = uow.session.get(Submission, submission_id)
    if submission is None or submission.campaign_id != campaign.id:
        raise NotFound(f"報告 {submission_id} はありません / no submission {submission_id}")
    if submission.review != ReviewState.PENDING.value:
        raise Conflict(
            f"この報告は確認済みです（{submission.review}） / this submission was already "
            f"reviewed ({submission.review})"
        )
    return submission


def confirm(
    uow: UnitOfWork,
    directory: ResidentDirectory,
    campaign_id: str,
    submission_id: str,
    resident_id: str,
    *,
    actor: str,
) -> Submission:
    """Staff say who the submission is about (a candidate or anyone else): its report is
    recorded for that resident (source open_form, recorded by the staff member)."""
    facts = directory.lookup(uow.tenant or "", resident_id, audience=Audience.STAFF, actor=actor)
    if facts is None:
        raise NotFound(f"住民 {resident_id} はいません / no resident {resident_id}")
    submission = _pending(uow, campaign_id, submission_id)
    body = ReportIn(
        id=str(uuid.uuid5(CONFIRMED_IDS, submission.id)),
        resident_id=resident_id,
        status=SafetyStatus(submission.status),
        reported_at=submission.reported_at,
        reporter_kind=ReporterKind(submission.reporter_kind),
        location=submission.location,
        shelter=submission.shelter,
        note=submission.note,
    )
    recorded = reports.record(
        uow,
        directory,
        submission.campaign_id,
        body,
        actor=actor,
        audience=Audience.STAFF,
        may_record_death=False,
        source=ReportSource.OPEN_FORM,
        resident=facts,
    )
    submission.review = ReviewState.CONFIRMED.value
    submission.resident_id = resident_id
    submission.report_id = recorded.report.id
    submission.reviewed_by, submission.reviewed_at = actor, campaigns.now()
    audit.record(
        uow.session,
        actor=actor,
        action="safety.submission_confirm",
        subject_type="resident",
        subject_id=resident_id,
        detail={"submission": submission.id, "report": recorded.report.id},
    )
    return submission


def reject(uow: UnitOfWork, campaign_id: str, submission_id: str, *, actor: str) -> Submission:
    submission = _pending(uow, campaign_id, submission_id)
    submission.review = ReviewState.REJECTED.value
    submission.reviewed_by, submission.reviewed_at = actor, campaigns.now()
    audit.record(
        uow.session,
        actor=actor,
        action="safety.submission_reject",
        subject_type="safety_submission",
        subject_id=submission.id,
    )
    return submission
