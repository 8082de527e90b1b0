"""`yui safety campaigns | reports | counts` and `yui alerts ingest` telling the site's
tenants: what staff script, bad input refused with a message and nothing written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from assembly.cli.main import app
from safety_check.campaigns.models import Campaign
from safety_check.reports.models import Report
from tests.failover.alerts.conftest import sandbox_sites, topology_toml
from tests.safety_check.campaigns.cap import cap_alert
from tests.safety_check.conftest import Office, audit_actions

runner = CliRunner()

# the CLI is a thin layer over the service functions the API tests run on both backends
# (the make-test budget): SQLite only
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(
    office: Office, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Office:
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    return office


def _yui(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _said(output: str) -> str:
    """What a person reads, with the terminal's line wrapping undone."""
    return " ".join(output.split())


def _count(office: Office, table: type[Campaign] | type[Report]) -> int:
    with office.db.unit_of_work(office.code, read_only=True) as uow:
        found: int = uow.session.execute(select(func.count()).select_from(table)).scalar_one()
        return found


def _campaigns(office: Office) -> list[dict[str, Any]]:
    code, output = _yui("safety", "campaigns", "list", "--tenant", office.code, "--json")
    assert code == 0, output
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_staff_script_campaigns_reports_counts_and_alerts(cli: Office, tmp_path: Path) -> None:
    office, tenant = cli, cli.code
    resident = office.register()

    # an alert through the CLI intake opens a held campaign for this site's tenant
    alert, topology = tmp_path / "quake.xml", tmp_path / "topology.toml"
    alert.write_bytes(cap_alert("cli-quake"))
    topology.write_text(topology_toml(sandbox_sites()))
    ingest = ("alerts", "ingest", str(alert), "--topology", str(topology), "--json")
    for extra in ("--dry-run", "--no-tenants"):
        code, output = _yui(*ingest, extra)
        assert code == 0, output
        assert json.loads(output)["tenants"] is None
    assert _count(office, Campaign) == 0
    code, output = _yui(*ingest)
    assert code == 0, output
    assert json.loads(output)["tenants"]["told"] == [tenant]
    [held] = _campaigns(office)
    assert held["state"] == "pending" and held["notices"][0]["alert_identifier"] == "cli-quake"

    # send it at once; a second time it is no longer held (409: exit 2, a message)
    code, output = _yui("safety", "campaigns", "send-now", held["id"], "--tenant", tenant)
    assert code == 0, output
    code, output = _yui("safety", "campaigns", "cancel", held["id"], "--tenant", tenant)
    assert code == 2 and "保留中ではありません" in output and "not held" in _said(output)

    code, output = _yui(
        "safety", "campaigns", "open", "--tenant", tenant, "--title", "総合防災訓練", "--drill",
        "--actor", "staff-script", "--json",
    )  # fmt: skip
    assert code == 0, output
    drill = json.loads(output)
    assert drill["kind"] == "drill" and drill["state"] == "open"
    assert drill["opened_by"] == "staff-script"
    code, output = _yui("safety", "campaigns", "list", "--tenant", tenant)
    assert code == 0 and "drill" in output and "pending" not in output  # a table for people

    # a staff report (a phone call), then the counts per 町字 as CSV and as a table
    add = ["safety", "reports", "add", "--tenant", tenant, "--campaign", held["id"]]
    code, output = _yui(
        *add, "--resident", resident["id"], "--status", "at_shelter", "--shelter", "一番町小学校",
        "--note", "電話で本人と話した", "--json",
    )  # fmt: skip
    assert code == 0, output
    assert json.loads(output)["town_name"] == "一番町一丁目"
    code, output = _yui("safety", "counts", "--tenant", tenant, "--campaign", held["id"], "--csv")
    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO(output)))
    town = next(row for row in rows if row["town_name"] == "一番町一丁目")
    assert town["at_shelter"] == "1" and town["residents"] == "1" and town["unconfirmed"] == "0"
    code, output = _yui("safety", "counts", "--tenant", tenant, "--campaign", held["id"])
    assert code == 0 and "一番町一丁目" in output

    # after the exercise staff purge the drill with its reports; a live campaign never
    drill_add = ["safety", "reports", "add", "--tenant", tenant, "--campaign", drill["id"]]
    assert _yui(*drill_add, "--resident", resident["id"], "--status", "safe")[0] == 0
    before = _count(office, Campaign), _count(office, Report)
    purge = ("safety", "campaigns", "purge")
    code, output = _yui(*purge, held["id"], "--tenant", tenant)
    assert code == 2 and "本番" in output and "only a drill" in _said(output)
    assert (_count(office, Campaign), _count(office, Report)) == before
    code, output = _yui(*purge, drill["id"], "--tenant", tenant, "--json")
    assert code == 0, output
    assert json.loads(output) == {"id": drill["id"], "reports": 1}
    assert (_count(office, Campaign), _count(office, Report)) == (before[0] - 1, before[1] - 1)
    assert "safety.campaign_purge" in audit_actions(office)
    code, output = _yui(*purge, drill["id"], "--tenant", tenant)
    assert code == 2 and "no campaign" in _said(output)

    # bad input: a message, a non-zero exit, nothing written
    audit_actions(office)  # the admin who reads the log signs in first
    campaigns, reports, audited = (
        _count(office, Campaign),
        _count(office, Report),
        audit_actions(office),
    )
    for args in (
        [*add, "--resident", resident["id"], "--status", "fine"],
        [*add, "--resident", resident["id"], "--status", "safe", "--at", "2026-12-07T10:00:00"],
        [*add, "--resident", resident["id"], "--status", "safe", "--at", "2099-01-01T00:00:00Z"],
        [*add, "--resident", resident["id"], "--status", "safe", "--note", "x" * 2001],
        [*add, "--resident", "nobody", "--status", "safe"],
        [*add, "--resident", resident["id"], "--status", "safe", "--reporter-kind", "psychic"],
        ["safety", "reports", "add", "--tenant", tenant, "--campaign", "not-an-id",
         "--resident", resident["id"], "--status", "safe"],
        ["safety", "campaigns", "open", "--tenant", tenant, "--title", ""],
        ["safety", "campaigns", "open", "--tenant", tenant, "--title", "a\x00b"],
        ["safety", "campaigns", "close", "not-an-id", "--tenant", tenant],
        ["safety", "campaigns", "purge", "not-an-id", "--tenant", tenant],
        ["safety", "campaigns", "close", "00000000-0000-4000-8000-000000000000",
         "--tenant", tenant],
        ["safety", "campaigns", "list", "--tenant", "999999"],
        ["safety", "counts", "--tenant", tenant, "--campaign", "not-an-id"],
    ):  # fmt: skip
        code, output = _yui(*args)
        assert code != 0, args
        assert "エラー" in output or "Error" in output or "Invalid" in output, (args, output)
    assert _count(office, Campaign) == campaigns and _count(office, Report) == reports
    # nothing of safety confirmation is audited; the registry records its own lookup of the
    # resident for the report refused after it (a time beyond the campaign)
    assert set(audit_actions(office)[len(audited) :]) <= {"directory.lookup"}
