"""The operational endpoints a load balancer and Prometheus read."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assembly.site import create_app
from tests.conftest import TEST_SECRET
from yui.db.database import Database
from yui.settings import Settings, load_settings

METRICS_TOKEN = "metrics-" + "m" * 40


def test_health_ready_and_metrics(client: TestClient, db: Database) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "site": "test-site"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": True,
        "migrations": True,
    }
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert 'yui_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in metrics.text
    assert 'yui_site_info{site="test-site"} 1.0' in metrics.text


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})


def test_metrics_need_the_metrics_token(client: TestClient, db: Database) -> None:
    for headers in ({}, {"Authorization": "Bearer " + "x" * 40}, {"Authorization": "Bearer é"}):
        response = client.get("/metrics", headers={k: v.encode() for k, v in headers.items()})
        assert response.status_code == 401, response.text
        assert "yui_site_info" not in response.text


def test_metrics_are_refused_when_no_token_is_set(settings: Settings, db: Database) -> None:
    bare = settings.model_copy(update={"metrics_token": None})
    with TestClient(create_app(bare, db, migrate=False)) as client:
        response = client.get("/metrics")
        assert response.status_code == 403
        assert "YUI_METRICS_TOKEN" in response.json()["detail"]


def test_readyz_is_503_when_the_database_is_behind(client: TestClient, db: Database) -> None:
    with db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'old'")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["migrations"] is False


def test_openapi_documents_every_error_as_problem_json(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert len(operations) >= 8
    for operation in operations:
        assert "application/problem+json" in operation["responses"]["422"]["content"]


def test_a_serving_node_builds_its_route_tables_before_its_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI builds an included router's routes on the first request that reaches them
    (seconds of CPU on a loaded machine, inside the answers a just-restarted node gives).
    A serving node builds them at start-up: its requests then build none. (Routing only:
    one backend is enough, and the database is never reached.)"""
    import fastapi.routing

    built: list[str] = []
    original = fastapi.routing._EffectiveRouteContext.from_api_route.__func__  # type: ignore[attr-defined]

    def counting(cls: type, /, **context: object) -> object:
        built.append(str(getattr(context.get("original_route"), "path", "?")))
        return original(cls, **context)

    monkeypatch.setattr(
        fastapi.routing._EffectiveRouteContext, "from_api_route", classmethod(counting)
    )
    settings = load_settings(
        site="test-site", data_dir=tmp_path, database_url="sqlite://", token_secret=TEST_SECRET
    )
    with TestClient(create_app(settings, migrate=False, serving=True)) as client:
        at_start = len(built)
        assert at_start > 100  # every service's routes, the console's
        for path in ("/no-such-page", "/console/"):
            client.get(path)
        assert len(built) == at_start, built[at_start:]


def test_a_serving_node_freezes_its_start_up_heap(tmp_path: Path) -> None:
    """A full collection walked the ~330,000 objects a node builds at start-up: ~0.2 s of
    CPU, and a loop stall of over a second on a busy machine right after a promotion. A
    serving node freezes them once started (yui.heap), so collections skip them."""
    import gc

    gc.unfreeze()
    settings = load_settings(
        site="test-site", data_dir=tmp_path, database_url="sqlite://", token_secret=TEST_SECRET
    )
    app = create_app(settings, migrate=False, serving=True)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        frozen = gc.get_freeze_count()
        assert frozen > 100_000  # the routes, schemas and mappers among them
        assert client.get("/healthz").status_code == 200


def test_the_closing_steps_run_when_the_node_shuts_down(settings: Settings, db: Database) -> None:
    """build_node's closing steps (the alert-driven evacuations, the database): FastAPI runs
    no on_shutdown handler beside a lifespan, so they are the lifespan's."""
    closed: list[str] = []

    async def close_evacuations() -> None:
        closed.append("evacuations")

    app = create_app(
        settings,
        db,
        migrate=False,
        closing=[close_evacuations, lambda: closed.append("database")],
    )
    with TestClient(app) as client:
        client.get("/healthz")
        assert closed == []
    assert closed == ["evacuations", "database"]
