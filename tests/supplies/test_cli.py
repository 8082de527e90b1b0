"""`yui supplies seed-catalogue | receive | issue | transfer | adjust | stock | shelters |
check`: the service's rules through the command line, refusals exit 2 and write nothing."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from assembly.cli.main import app
from supplies.catalogue import service as catalogue
from supplies.exchange import service as exchange
from supplies.places import service as places
from supplies.places.schemas import PlaceIn
from supplies.stock.models import Movement
from tests.support.factories import SENDAI, tenant
from yui.db.database import Database
from yui.jobs import service as jobs


@pytest.fixture
def cli(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    tenant(db)
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    return CliRunner()


def _movements(db: Database) -> int:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return int(uow.session.execute(select(func.count()).select_from(Movement)).scalar_one())


def test_staff_script_stock_and_bad_input_writes_nothing(cli: CliRunner, db: Database) -> None:
    def run(*args: str) -> tuple[int, str]:
        result = cli.invoke(app, ["supplies", *args, "--tenant", SENDAI])
        return result.exit_code, result.output

    assert run("seed-catalogue")[0] == 0
    with db.unit_of_work(SENDAI) as uow:
        for code, kind in (("D-01", "stockpile"), ("S-01", "shelter")):
            places.add(uow.session, PlaceIn(code=code, kind=kind, name=code), actor="test")
        uow.commit()
    receipt = str(uuid.uuid4())
    code, out = run(
        "receive",
        "--place",
        "D-01",
        "--item",
        "water-2l",
        "--quantity",
        "100",
        "--expires",
        "2031-03-31",
        "--id",
        receipt,
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["lines"][0]["quantity"] == "100.000"
    code, out = run(
        "receive", "--place", "D-01", "--item", "water-2l", "--quantity", "100", "--id", receipt
    )
    assert code == 0 and "already recorded" in out
    assert _movements(db) == 1

    for args in (
        ("receive", "--place", "D-01", "--item", "blanket", "--quantity", "2.5"),
        ("receive", "--place", "D-01", "--item", "blanket", "--quantity", "-3"),
        ("receive", "--place", "D-01", "--item", "no-such-item", "--quantity", "1"),
        ("issue", "--place", "D-01", "--item", "water-2l", "--quantity", "101"),
    ):
        code, out = run(*args)
        assert code == 2, (args, out)
    assert _movements(db) == 1

    assert (
        run("transfer", "--from", "D-01", "--to", "S-01", "--item", "water-2l", "--quantity", "30")[
            0
        ]
        == 0
    )
    assert run("issue", "--place", "S-01", "--item", "water-2l", "--quantity", "5")[0] == 0
    code, out = run("stock", "--json")
    assert code == 0
    assert {(row["place"], row["quantity"]) for row in json.loads(out)} == {
        ("D-01", "70.000"),
        ("S-01", "25.000"),
    }
    code, out = run("shelters", "--json")
    assert code == 0 and json.loads(out)[0]["code"] == "S-01"
    code, out = run("check")
    assert code == 0 and "ok" in out


def test_resend_a_failed_delivery(cli: CliRunner, db: Database) -> None:
    """`yui supplies requests resend`: a refused message is queued again once; bad input
    exits 2 and writes nothing."""

    def run(*args: str) -> tuple[int, str]:
        result = cli.invoke(app, ["supplies", *args, "--tenant", SENDAI])
        return result.exit_code, result.output

    def row() -> tuple[str, str]:
        with db.unit_of_work(SENDAI, read_only=True) as uow:
            found = exchange.message(uow.session, row_id)
            return found.delivery, found.job_id

    with db.unit_of_work(SENDAI) as uow:
        catalogue.seed(uow.session, actor="test")
        body = exchange.OutgoingRequestIn(
            to="011002", lines=[exchange.OutgoingLineIn(item="water-2l", quantity=Decimal(4))]
        )
        row_id = exchange.send_request(uow, SENDAI, body, actor="test").id
        uow.commit()
    with db.unit_of_work(SENDAI) as uow:  # what the delivery job records of a final refusal
        exchange.delivered(uow.session, row_id, {"delivered": False, "detail": "404"})
        uow.commit()
    refused = row()
    assert refused[0] == "refused"
    assert run("requests", "resend", "not-a-uuid")[0] == 2
    assert run("requests", "resend", str(uuid.uuid4()))[0] == 2
    assert row() == refused
    code, out = run("requests", "resend", row_id)
    assert code == 0 and "queued" in out
    queued = row()
    assert queued[0] == "queued" and queued[1] != refused[1]
    code, out = run("requests", "resend", row_id)  # under way: nothing new
    assert code == 0 and row() == queued

    # the job gives up (its last attempt failed: what the runner records), the row still
    # says queued, and a resend queues the same message with a new job
    with db.unit_of_work(SENDAI) as uow:
        job = jobs.get(uow, uuid.UUID(queued[1]))
        jobs.record_failure(uow, job, "ConnectError", max_attempts=1, site="test-site")
        uow.commit()
    assert row() == queued
    code, out = run("requests", "resend", row_id)
    assert code == 0 and "queued" in out
    assert row()[0] == "queued" and row()[1] not in (queued[1], refused[1])
