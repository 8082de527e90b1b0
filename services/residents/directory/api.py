"""/directory: the non-staff view (a shelter's screen). DV-blocked residents never appear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from residents.access import DirectoryReader
from residents.assistance.models import Reason
from residents.assistance.schemas import SupporterOut
from residents.directory import service
from residents.directory.schemas import DirectoryEntry, DirectoryPage, SharedAssistanceEntry
from residents.registry import service as registry
from residents.registry.api import ResidentId
from residents.registry.models import Resident, Sex
from yui.errors import NotFound
from yui.http.deps import UoW
from yui.service_ports import Audience
from yui.text import CalendarDate, LineText

router = APIRouter(prefix="/directory", tags=["directory"])


def _entry(resident: Resident, assisted: set[str]) -> DirectoryEntry:
    return DirectoryEntry(
        id=resident.id,
        family_name=resident.family_name,
        given_name=resident.given_name,
        family_kana=resident.family_kana,
        given_kana=resident.given_kana,
        birth_date=resident.birth_date,
        sex=Sex(resident.sex),
        town_name=resident.town_name,
        household_id=resident.household_id,
        language=resident.language,
        needs_assistance=resident.id in assisted,
    )


@router.get(
    "/residents",
    response_model=DirectoryPage,
    summary="住民の照会（最小限、DV等支援措置対象者を除く） / find residents, minimal facts",
)
def find(
    uow: UoW,
    principal: DirectoryReader,
    q: Annotated[LineText, Query(max_length=100, description="氏名（漢字・かな）")] = "",
    birth_date: Annotated[CalendarDate | None, Query(description="生年月日")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[LineText, Query(max_length=400)] = "",
) -> DirectoryPage:
    page = service.find(
        uow.session,
        q,
        birth_date=birth_date,
        audience=Audience.NON_STAFF,
        limit=limit,
        cursor=cursor,
    )
    assisted = registry.assisted_ids(uow.session, [r.id for r in page.residents])
    items = [_entry(resident, assisted) for resident in page.residents]
    service.audit_read(
        uow.session,
        actor=principal.username,
        audience=Audience.NON_STAFF,
        what="find",
        ids=[item.id for item in items],
    )
    uow.commit()
    return DirectoryPage(items=items, next_cursor=page.next_cursor)


@router.get(
    "/residents/{resident_id}",
    response_model=DirectoryEntry,
    summary="住民一人の照会（最小限） / one resident, minimal facts",
)
def lookup(resident_id: ResidentId, uow: UoW, principal: DirectoryReader) -> DirectoryEntry:
    resident = service.lookup(uow.session, resident_id, audience=Audience.NON_STAFF)
    service.audit_read(
        uow.session,
        actor=principal.username,
        audience=Audience.NON_STAFF,
        what="lookup",
        ids=[resident.id] if resident else [],
    )
    uow.commit()
    if resident is None:
        # The same answer for "no such person" and "may not be shown": nothing to learn.
        raise NotFound(f"住民 {resident_id} は見つかりません / no resident {resident_id}")
    return _entry(resident, registry.assisted_ids(uow.session, [resident.id]))


@router.get(
    "/assistance",
    response_model=list[SharedAssistanceEntry],
    summary="共有できる避難行動要支援者名簿 / the needs-assistance register as it may be shared",
)
def shared_register(
    uow: UoW,
    principal: DirectoryReader,
    disaster: Annotated[
        bool, Query(description="災害時: 同意のない人も含める / in a disaster, without consent too")
    ] = False,
) -> list[SharedAssistanceEntry]:
    found = service.needs_assistance(
        uow.session, principal.tenant, audience=Audience.NON_STAFF, disaster=disaster
    )
    from residents.assistance import service as assistance

    assistance.audit_list(
        uow.session, actor=principal.username, non_staff=True, disaster=disaster, count=len(found)
    )
    uow.commit()
    return [
        SharedAssistanceEntry(
            id=item.resident.resident_id,
            family_name=item.resident.family_name,
            given_name=item.resident.given_name,
            family_kana=item.resident.family_kana,
            given_kana=item.resident.given_kana,
            birth_date=item.resident.birth_date,
            sex=Sex(item.resident.sex),
            address=item.address,
            phone=item.phone,
            language=item.resident.language,
            reasons=[Reason(reason) for reason in item.reasons],
            needs=item.needs,
            priority=item.priority,
            supporters=[
                SupporterOut(name=s.name, role=s.role, phone=s.phone, email=s.email)
                for s in item.supporters
            ],
        )
        for item in found
    ]
