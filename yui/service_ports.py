"""Ports: what one service reads of another, declared by the kernel (DESIGN.md, "Layout").

A service implements a port; the composition root hands the implementation to the
services that need it (in process inside a site node, or an HTTP client when the
services run apart). No service imports another.

`ResidentDirectory` is the resident registry as safety confirmation and relief
supplies see it: minimal facts about residents, and the needs-assistance register
(避難行動要支援者名簿) so that the people who need help are reached first.

The audience of every call decides what it may see. Anything that leaves the
municipality's staff — a citizen-facing page, a public list, an export to another
system, a shelter's screen — is `Audience.NON_STAFF`: a resident under a DV-support
block (DV等支援措置) is never returned to it, however it asks, and a former resident
(moved out, deceased) is not either. Every call names its actor: the registry
writes each call to its audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session


class Audience(StrEnum):
    #: the municipality's staff (staff, auditor roles): every registered resident
    STAFF = "staff"
    #: anyone else: DV-blocked and former residents never appear
    NON_STAFF = "non_staff"


@dataclass(frozen=True, slots=True)
class ResidentFacts:
    """The minimum about one registered resident that another service may need."""

    tenant: str
    resident_id: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: str  # "male" | "female"
    #: 町字 only (no house number): enough to tell two namesakes apart
    town_name: str
    household_id: str
    #: preferred language, a BCP 47 tag
    language: str
    needs_assistance: bool
    #: under a DV-support block; only ever True for Audience.STAFF
    dv_block: bool = False


@dataclass(frozen=True, slots=True)
class SupporterFacts:
    name: str
    role: str
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class ReachableResident:
    """A registered resident with where a message reaches them (safety confirmation's
    fan-out); empty when the registry holds none."""

    resident: ResidentFacts
    email: str
    phone: str


@dataclass(frozen=True, slots=True)
class AssistanceFacts:
    """One entry of the needs-assistance register, with what it takes to reach the person."""

    resident: ResidentFacts
    #: reason codes: care_level, disability, infant, pregnancy, elderly_alone, language,
    #: illness, other
    reasons: tuple[str, ...]
    #: 1 = reach first
    priority: int
    needs: str
    address: str
    phone: str
    latitude: float | None
    longitude: float | None
    consent_to_share: bool
    supporters: tuple[SupporterFacts, ...]


@dataclass(frozen=True, slots=True)
class ResidentContact:
    """A resident with where to find them: what a door-to-door visit list needs."""

    resident: ResidentFacts
    #: 町字, 番地 and building, as the register writes it
    address: str
    phone: str


@runtime_checkable
class ResidentDirectory(Protocol):
    """The resident registry, read by other services. Implemented by `residents`."""

    def lookup(
        self, tenant: str, resident_id: str, *, audience: Audience, actor: str
    ) -> ResidentFacts | None:
        """One resident, or None when there is none the audience may see."""
        ...

    def lookup_within(
        self, session: Session, resident_id: str, *, audience: Audience, actor: str
    ) -> ResidentFacts | None:
        """`lookup` inside the caller's unit of work (``session``, of the tenant in its
        scope): the registry's audit entry of the lookup commits with the caller's write,
        or not at all. One commit where a write needs a resident (a safety report)
        instead of two. Only an implementation in the caller's process and database
        can offer it."""
        ...

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
        """Residents whose name (kanji or kana, any width) begins with `name`."""
        ...

    def identify(
        self, tenant: str, full_name: str, birth_date: date, *, audience: Audience, actor: str
    ) -> list[ResidentFacts]:
        """Residents whose whole name, written or read (folded as the registry's search
        folds it, spaces ignored), is exactly `full_name` and who were born on
        `birth_date`: no prefix match, so a citizen's search names one person, not a
        family's worth of namesakes."""
        ...

    def roster(
        self, tenant: str, *, audience: Audience, actor: str, after: str = "", limit: int = 500
    ) -> list[ResidentFacts]:
        """A page of every registered resident, in resident-id order after `after` (a
        campaign's whole population, read page by page)."""
        ...

    def reachable_roster(
        self, tenant: str, *, audience: Audience, actor: str, after: str = "", limit: int = 500
    ) -> list[ReachableResident]:
        """The roster's page with each resident's e-mail address and phone (the
        messages of a safety confirmation; audited like the roster)."""
        ...

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
        """A page of the registered residents of one 町字 with address and phone, in
        resident-id order after `after` (a door-to-door visit list; audited)."""
        ...

    def household(
        self, tenant: str, resident_id: str, *, audience: Audience, actor: str
    ) -> list[ResidentFacts]:
        """The registered members of the resident's household (the resident included), or
        none when the audience may not see the resident (audited)."""
        ...

    def count_by_district(self, tenant: str, *, audience: Audience) -> dict[str, int]:
        """How many registered residents each 町字 has (names no one: not audited)."""
        ...

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
        """The needs-assistance register, priority first (then by reading); a part of it
        with ``offset`` and ``limit`` (a long register read a page at a time).

        For Audience.NON_STAFF only entries whose person consented to sharing, unless
        `disaster` (災害対策基本法 第49条の11 第3項: in a disaster the register may be
        shared without consent); DV-blocked residents never.
        """
        ...
