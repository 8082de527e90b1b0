"""Creating and listing tenants (municipalities)."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from yui.audit.models import AuditHead
from yui.audit.service import GENESIS
from yui.changelog.models import LogHead
from yui.db.database import Database
from yui.db.engine import READ_ONLY
from yui.errors import Conflict, InvalidInput, NotFound
from yui.tenancy.codes import validate_code
from yui.tenancy.models import Tenant
from yui.tenancy.prefectures import prefecture_of


def create_tenant(db: Database, code: str, name: str, prefecture: str | None = None) -> Tenant:
    try:
        validate_code(code)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("名称は1〜100文字です / the name must be 1 to 100 characters")
    prefecture = (prefecture or prefecture_of(code) or "").strip()
    if not prefecture:
        raise InvalidInput(f"都道府県コードが不明です / unknown prefecture in code {code}")
    with db.unit_of_work(code) as uow:
        if uow.session.get(Tenant, code) is not None:
            raise Conflict(f"テナント {code} は既にあります / tenant {code} already exists")
        # The heads exist before the first write: concurrent first writers then queue on
        # their row locks instead of racing to create them.
        if uow.session.get(LogHead, code) is None:
            uow.session.add(LogHead(tenant_id=code, last_seq=0, epoch=0))
            uow.session.flush()
        tenant = Tenant(tenant_id=code, name=name, prefecture=prefecture)
        uow.session.add_all([tenant, AuditHead(tenant_id=code, n=0, hash=GENESIS)])
        uow.commit()
        return tenant


_KNOWN = select(Tenant.__table__.c.tenant_id).where(
    Tenant.__table__.c.tenant_id == bindparam("code")
)


def require_tenant(db: Database, code: str) -> None:
    """NotFound (404) unless this site holds the tenant: the check of every tenant path,
    as one plain indexed read (a unit of work and an ORM load cost it several times
    more, on every request)."""
    with db.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        found = connection.execute(_KNOWN, {"code": code}).first()
    if found is None:
        raise NotFound(f"テナント {code} はありません / no tenant {code}")


class KnownTenants:
    """The tenant check of every tenant path, remembering the codes it found.

    A tenant is created, never removed (no API, tool or replication step deletes its row;
    a snapshot replaces a replica's rows in one transaction), so a code found once stays
    found, and the check of a known tenant needs neither a read nor a worker thread. An
    unknown code is read again every time: a tenant created since, here or by replication,
    is found at once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._found: set[str] = set()

    def remembered(self, code: str) -> bool:
        return code in self._found

    def require(self, code: str) -> None:
        """NotFound (404) unless this site holds the tenant (any thread)."""
        require_tenant(self.db, code)
        self._found.add(code)


def get_tenant(db: Database, code: str) -> Tenant:
    with db.unit_of_work(code, read_only=True) as uow:
        tenant = uow.session.get(Tenant, code)
        if tenant is None:
            raise NotFound(f"テナント {code} はありません / no tenant {code}")
        return tenant


def list_tenants(db: Database) -> list[Tenant]:
    """Every tenant this site holds: the one cross-tenant read, for platform tooling."""
    with db.unit_of_work(None, read_only=True, all_tenants=True) as uow:
        return list(uow.session.execute(select(Tenant).order_by(Tenant.tenant_id)).scalars())
