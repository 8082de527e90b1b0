"""The registry as other services and non-staff roles see it: minimal facts, no DV-blocked.

`Directory` implements the kernel's `yui.service_ports.ResidentDirectory`; the composition
root may hand it to safety confirmation and relief supplies. The same functions back
the /directory routes a shelter's screen reads. Whatever the caller, an audience
other than STAFF never receives a resident under a DV-support block, nor a former
resident (moved out, deceased), and every call is audited.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from residents.assistance import service as assistance
from residents.registry import service as registry
from residents.registry.models import Resident, Status, address_text
from residents.search import service as search
from residents.search.normalize import fold
from residents.search.schemas import SearchQuery
from yui.audit import service as audit
from yui.db.database import Database
from yui.errors import InvalidInput, TenantScopeError
from yui.service_ports import (
    AssistanceFacts,
    Audience,
    ReachableResident,
    ResidentContact,
    ResidentFacts,
    SupporterFacts,
)
from yui.tenancy.scope import tenant_in_scope


def facts(tenant: str, resident: Resident, *, needs_assistance: bool) -> ResidentFacts:
    return ResidentFacts(
        tenant=tenant,
        resident_id=resident.id,
        family_name=resident.family_name,
        given_name=resident.given_name,
        family_kana=resident.family_kana,
        given_kana=resident.given_kana,
        birth_date=resident.birth_date,
        sex=resident.sex,
        town_name=resident.town_name,
        household_id=resident.household_id,
        language=resident.language,
        needs_assistance=needs_assistance,
        dv_block=resident.dv_block,
    )


def _visible(resident_id: str, audience: Audience) -> ColumnElement[bool]:
    """The resident, when the audience may see them."""
    return and_(Resident.id == resident_id, _registered(audience))


def lookup(session: Session, resident_id: str, *, audience: Audience) -> Resident | None:
    statement = select(Resident).where(_visible(resident_id, audience))
    return session.execute(statement).scalar_one_or_none()


def find(
    session: Session,
    name: str,
    *,
    birth_date: date | None,
    audience: Audience,
    limit: int,
    cursor: str = "",
) -> search.Page:
    if not name.strip() and birth_date is None:
        raise InvalidInput("氏名か生年月日を指定してください / give a name or a date of birth")
    query = SearchQuery(q=name, birth_date=birth_date, limit=limit, cursor=cursor)
    return search.find(session, query, non_staff=audience is Audience.NON_STAFF)


def identify(
    session: Session, full_name: str, birth_date: date, *, audience: Audience, limit: int = 20
) -> list[Resident]:
    """Exact whole-name matches (written or read, folded as the search folds) born on
    `birth_date`: the birth-date index narrows to a handful of rows first."""
    key = fold(full_name)
    if not key:
        raise InvalidInput("氏名を指定してください / give a full name")
    statement = (
        select(Resident)
        .where(
            _registered(audience),
            Resident.birth_date == birth_date,
            or_(Resident.name_key == key, Resident.kana_key == key),
        )
        .order_by(Resident.id)
        .limit(limit)
    )
    return list(session.execute(statement).scalars())


def _registered(audience: Audience) -> ColumnElement[bool]:
    if audience is Audience.NON_STAFF:
        return registry.visible_to_non_staff()
    return Resident.status == Status.ACTIVE


def roster(session: Session, *, audience: Audience, after: str, limit: int) -> list[Resident]:
    statement = (
        select(Resident)
        .where(_registered(audience), Resident.id > after)
        .order_by(Resident.id)
        .limit(limit)
    )
    return list(session.execute(statement).scalars())


def district(
    session: Session, town_name: str, *, audience: Audience, after: str, limit: int
) -> list[Resident]:
    statement = (
        select(Resident)
        .where(_registered(audience), Resident.town_name == town_name, Resident.id > after)
        .order_by(Resident.id)
        .limit(limit)
    )
    return list(session.execute(statement).scalars())


def household(session: Session, resident_id: str, *, audience: Audience) -> list[Resident]:
    resident = lookup(session, resident_id, audience=audience)
    if resident is None:
        return []
    statement = (
        select(Resident)
        .where(_registered(audience), Resident.household_id == resident.household_id)
        .order_by(Resident.id)
        .limit(100)
    )
    return list(session.execute(statement).scalars())


def count_by_district(session: Session, *, audience: Audience) -> dict[str, int]:
    statement = (
        select(Resident.town_name, func.count())
        .where(_registered(audience))
        .group_by(Resident.town_name)
    )
    return {town: count for town, count in session.execute(statement)}


def needs_assistance(
    session: Session,
    tenant: str,
    *,
    audience: Audience,
    disaster: bool,
    offset: int = 0,
    limit: int | None = None,
) -> list[AssistanceFacts]:
    listed = assistance.register_list(
        session,
        non_staff=audience is Audience.NON_STAFF,
        disaster=disaster,
        offset=offset,
        limit=limit,
    )
    return [
        AssistanceFacts(
            resident=facts(tenant, item.resident, needs_assistance=True),
            reasons=tuple(item.entry.reasons),
            priority=item.entry.priority,
            needs=item.entry.needs,
            address=address_text(
                item.resident.town_name, item.resident.block, item.resident.building
            ),
            phone=item.resident.phone,
            latitude=item.resident.latitude,
            longitude=item.resident.longitude,
            consent_to_share=item.entry.consent_to_share,
            supporters=tuple(
                SupporterFacts(name=s.name, role=s.role, phone=s.phone, email=s.email)
                for s in item.supporters
            ),
        )
        for item in listed
    ]


def audit_read(
    session: Session, *, actor: str, audience: Audience, what: str, ids: list[str]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"directory.{what}",
        subject_type="resident",
        subject_id=ids[0] if len(ids) == 1 else "",
        detail={"audience": audience.value, "results": ids[:200], "count": len(ids)},
    )


class Directory:
    """`yui.service_ports.ResidentDirectory` over this site's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(
        self, tenant: str, resident_id: str, *, audience: Audience, actor: str
    ) -> ResidentFacts | None:
        with self.db.unit_of_work(tenant) as uow:
            found = self.lookup_within(uow.session, resident_id, audience=audience, actor=actor)
            uow.commit()
            return found

    def lookup_within(
        self, session: Session, resident_id: str, *, audience: Audience, actor: str
    ) -> ResidentFacts | None:
        tenant = tenant_in_scope(session)
        if tenant is None:
            raise TenantScopeError("the registry's lookup needs a tenant in scope")
        # the resident and whether they are on the register, in one statement
        row = session.execute(
            select(Resident, registry.has_assistance()).where(_visible(resident_id, audience))
        ).one_or_none()
        found = facts(tenant, row[0], needs_assistance=bool(row[1])) if row else None
        audit_read(
            session,
            actor=actor,
            audience=audience,
            what="lookup",
            ids=[found.resident_id] if found else [],
        )
        return found

    def find(
        self,
        tenant: str,
        name: str,
        *,
        birth_date: date | None = None,
        audience: Audience,
        actor: str,
        limit: int = 20,
    ) -> list[ResidentFacts]:
        with self.db.unit_of_work(tenant) as uow:
            page = find(
                uow.session, name, birth_date=birth_date, audience=audience, limit=min(limit, 100)
            )
            assisted = registry.assisted_ids(uow.session, [r.id for r in page.residents])
            found = [
                facts(tenant, resident, needs_assistance=resident.id in assisted)
                for resident in page.residents
            ]
            audit_read(
                uow.session,
                actor=actor,
                audience=audience,
                what="find",
                ids=[item.resident_id for item in found],
            )
            uow.commit()
            return found

    def identify(
        self, tenant: str, full_name: str, birth_date: date, *, audience: Audience, actor: str
    ) -> list[ResidentFacts]:
        with self.db.unit_of_work(tenant) as uow:
            matched = identify(uow.session, full_name, birth_date, audience=audience)
            assisted = registry.assisted_ids(uow.session, [r.id for r in matched])
            found = [facts(tenant, r, needs_assistance=r.id in assisted) for r in matched]
            audit_read(
                uow.session,
                actor=actor,
                audience=audience,
                what="identify",
                ids=[item.resident_id for item in found],
            )
            uow.commit()
            return found

    def roster(
        self, tenant: str, *, audience: Audience, actor: str, after: str = "", limit: int = 500
    ) -> list[ResidentFacts]:
        with self.db.unit_of_work(tenant) as uow:
            page = roster(uow.session, audience=audience, after=after, limit=min(limit, 1000))
            assisted = registry.assisted_ids(uow.session, [r.id for r in page])
            found = [facts(tenant, r, needs_assistance=r.id in assisted) for r in page]
            audit_read(
                uow.session,
                actor=actor,
                audience=audience,
                what="roster",
                ids=[item.resident_id for item in found],
            )
            uow.commit()
            return found

    def reachable_roster(
        self, tenant: str, *, audience: Audience, actor: str, after: str = "", limit: int = 500
    ) -> list[ReachableResident]:
        with self.db.unit_of_work(tenant) as uow:
            page = roster(uow.session, audience=audience, after=after, limit=min(limit, 1000))
            assisted = registry.assisted_ids(uow.session, [r.id for r in page])
            found = [
                ReachableResident(
                    resident=facts(tenant, r, needs_assistance=r.id in assisted),
                    email=r.email,
                    phone=r.phone,
                )
                for r in page
            ]
            audit_read(
                uow.session,
                actor=actor,
                audience=audience,
                what="reachable_roster",
                ids=[item.resident.resident_id for item in found],
            )
            uow.commit()
            return found

    def district_contacts(
        self,
        tenant: str,
        town_name: str,
        *,
        audience: Audience,
        actor: str,
        after: str = "",
        limit: int = 500,
    ) -> list[ResidentContact]:
        with self.db.unit_of_work(tenant) as uow:
            page = district(
                uow.session, town_name, audience=audience, after=after, limit=min(limit, 1000)
            )
            assisted = registry.assisted_ids(uow.session, [r.id for r in page])
            found = [
                ResidentContact(
                    resident=facts(tenant, r, needs_assistance=r.id in assisted),
                    address=address_text(r.town_name, r.block, r.building),
                    phone=r.phone,
                )
                for r in page
            ]
            audit_read(
                uow.session,
                actor=actor,
                audience=audience,
                what="district_contacts",
                ids=[item.resident.resident_id for item in found],
            )
            uow.commit()
            return found

    def household(
        self, tenant: str, resident_id: str, *, audience: Audience, actor: str
    ) -> list[ResidentFacts]:
        with self.db.unit_of_work(tenant) as uow:
            members = household(uow.session, resident_id, audience=audience)
            assisted = registry.assisted_ids(uow.session, [r.id for r in members])
            found = [facts(tenant, r, needs_assistance=r.id in assisted) for r in members]
            audit_read(
                uow.session,
                actor=actor,
                audience=audience,
                what="household",
                ids=[item.resident_id for item in found],
            )
            uow.commit()
            return found

    def count_by_district(self, tenant: str, *, audience: Audience) -> dict[str, int]:
        with self.db.unit_of_work(tenant, read_only=True) as uow:
            return count_by_district(uow.session, audience=audience)

    def needs_assistance(
        self,
        tenant: str,
        *,
        audience: Audience,
        actor: str,
        disaster: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[AssistanceFacts]:
        with self.db.unit_of_work(tenant) as uow:
            found = needs_assistance(
                uow.session,
                tenant,
                audience=audience,
                disaster=disaster,
                offset=offset,
                limit=limit,
            )
            assistance.audit_list(
                uow.session,
                actor=actor,
                non_staff=audience is Audience.NON_STAFF,
                disaster=disaster,
                count=len(found),
            )
            uow.commit()
            return found
