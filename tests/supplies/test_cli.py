"""`yui supplies seed-catalogue | receive | issue | transfer | adjust | stock | shelters |
check | needs`: the service's rules through the command line, refusals exit 2 and write nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from assembly.cli.main import app
from residents.directory.service import Directory
from supplies.catalogue import service as catalogue
from supplies.cli import EVERYWHERE
from supplies.evacuees import service as evacuees
from supplies.evacuees.models import EvacueeKind, NeedCategory
from supplies.evacuees.schemas import CheckInIn
from supplies.exchange import service as exchange
from supplies.places import service as places
from supplies.places.schemas import PlaceIn
from supplies.stock.models import Movement
from tests.support.factories import SENDAI, tenant
from yui.db.database import Database
from yui.jobs import service as jobs
from yui.service_ports import Audience


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
    _needs(run, db)


def _needs(run: Callable[..., tuple[int, str]], db: Database) -> None:
    """`yui supplies needs`: the needs and shortfalls staff send on (what the depots
    cannot cover is what to ask the prefecture for); bad input exits 2."""
    with db.unit_of_work(SENDAI) as uow:
        places.open_shelter(uow.session, "S-01", EVERYWHERE, actor="test")
        party = CheckInIn(kind=EvacueeKind.COMMUTER, people=10, makeup={NeedCategory.INFANT: 1})
        evacuees.check_in(
            uow,
            Directory(db),
            "S-01",
            party,
            actor="test",
            audience=Audience.STAFF,
            may_write_care_notes=True,
            reach_of=lambda session: EVERYWHERE,
        )
        uow.commit()
    # 10 people, 3 L each a day, for 2 days: 60 L; S-01 holds 25 bottles (50 L), D-01 70
    code, out = run("needs", "--days", "2", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert [(x["shelter_code"], x["people"]) for x in report["shelters"]] == [("S-01", 10)]
    water = next(t for t in report["totals"] if t["need_code"] == "drinking_water_l")
    assert (water["required"], water["shortfall"], water["at_depots"], water["uncovered"]) == (
        60,
        10,
        140,
        0,
    )
    infant = next(t for t in report["totals"] if t["need_code"] == "infant_diapers")
    assert (infant["required"], infant["uncovered"]) == (16, 16)
    code, out = run("needs", "--shelter", "S-01")
    assert code == 0 and "S-01" in out and "uncovered" in out
    for args in (
        ("needs", "--days", "0"),
        ("needs", "--days", "31"),
        ("needs", "--on", "2026-13-01"),
        ("needs", "--shelter", "D-01"),  # a depot is no shelter
        ("needs", "--shelter", "X-99"),
    ):
        code, out = run(*args)
        assert code == 2, (args, out)


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
