"""Small builders tests share: tenants, staff accounts, signed-in headers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from yui.auth import service as auth
from yui.auth.models import StaffUser
from yui.db.database import Database
from yui.tenancy.service import create_tenant

SENDAI, CHIYODA = "041009", "131016"
PASSWORD = "correct horse battery staple"


def tenant(db: Database, code: str = SENDAI, name: str = "仙台市") -> str:
    create_tenant(db, code, name)
    return code


def user(db: Database, tenant_code: str, username: str, *roles: str) -> str:
    with db.unit_of_work(tenant_code) as uow:
        auth.create_user(
            uow.session, username=username, password=PASSWORD, roles=list(roles), actor="test"
        )
        uow.commit()
    return username


def same_account(source: Database, copy: Database, tenant_code: str = SENDAI) -> None:
    """Give `copy`'s only account of the tenant the id it has at `source`, as replication
    leaves them: a token names its account by id, and each site checks the account in its
    own copy."""
    with source.unit_of_work(tenant_code, read_only=True) as uow:
        account_id = uow.session.execute(select(StaffUser.id)).scalar_one()
    with copy.engine.begin() as connection:
        connection.execute(
            StaffUser.__table__.update()
            .where(StaffUser.__table__.c.tenant_id == tenant_code)
            .values(id=account_id)
        )


def sign_in(client: TestClient, tenant_code: str, username: str) -> dict[str, str]:
    response = client.post(
        f"/api/v1/{tenant_code}/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
