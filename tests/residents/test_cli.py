"""`yui residents import | export | search | show | generate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from assembly.cli.main import app
from tests.residents.conftest import csv_bytes
from tests.residents.test_csv_import import GOOD
from tests.support.factories import SENDAI, tenant
from yui.audit.models import AuditEntry
from yui.db.database import Database


@pytest.fixture
def cli(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    tenant(db)
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    return CliRunner()


def _actions(db: Database) -> list[tuple[str, str]]:
    with db.unit_of_work(SENDAI, read_only=True) as uow:
        return [
            (e.actor, e.action)
            for e in uow.session.execute(select(AuditEntry).order_by(AuditEntry.n)).scalars()
        ]


def test_import_search_show_export(cli: CliRunner, db: Database, tmp_path: Path) -> None:
    source = tmp_path / "residents.csv"
    source.write_bytes(csv_bytes(*GOOD, encoding="cp932"))
    result = cli.invoke(
        app, ["residents", "import", str(source), "--tenant", SENDAI, "--actor", "ops"]
    )
    assert result.exit_code == 0, result.output
    assert "3 人" in result.output and "cp932" in result.output

    found = cli.invoke(
        app, ["residents", "search", "--tenant", SENDAI, "ｻﾄｳ", "--json", "--actor", "ops"]
    )
    assert found.exit_code == 0, found.output
    items = json.loads(found.output)["items"]
    assert [i["resident_no"] for i in items] == ["100001", "100002"] or len(items) == 2

    shown = cli.invoke(
        app, ["residents", "show", "--tenant", SENDAI, "100003", "--json", "--actor", "ops"]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["family_name"] == "髙橋"
    missing = cli.invoke(app, ["residents", "show", "--tenant", SENDAI, "999999"])
    assert missing.exit_code == 2 and "999999" in missing.output

    out = tmp_path / "out.csv"
    exported = cli.invoke(
        app, ["residents", "export", "--tenant", SENDAI, "-o", str(out), "--encoding", "utf-8-sig"]
    )
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf\xe5\xae\x9b")  # BOM, then 宛
    pfif = cli.invoke(app, ["residents", "export", "--tenant", SENDAI, "--format", "pfif"])
    assert pfif.exit_code == 0 and pfif.output.count("<pfif:person>") == 3

    actions = _actions(db)
    assert ("ops", "resident.import") in actions
    assert ("ops", "resident.search") in actions and ("ops", "resident.read") in actions
    assert any(action == "resident.export" for _actor, action in actions)


def test_refused_import_exits_2_and_skip_invalid_writes_rejects(
    cli: CliRunner, tmp_path: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(
        csv_bytes(*GOOD, "100004,H3,山田　一,ヤマダ,2023-02-30,男,世帯主,三番町,1,,,0")
    )
    refused = cli.invoke(app, ["residents", "import", str(source), "--tenant", SENDAI])
    assert refused.exit_code == 2 and "2023-02-30" in refused.output
    kept = cli.invoke(
        app, ["residents", "import", str(source), "--tenant", SENDAI, "--skip-invalid", "--json"]
    )
    assert kept.exit_code == 0, kept.output
    report = json.loads(kept.output)
    assert (report["imported"], report["rejected"]) == (3, 1)
    rejects = tmp_path / "bad.rejected.csv"
    assert "2023-02-30" in rejects.read_text()
    wrong = tmp_path / "wrong.csv"
    wrong.write_bytes(b"\xff\xfe" + "宛名番号".encode("utf-16-le"))
    assert cli.invoke(app, ["residents", "import", str(wrong), "--tenant", SENDAI]).exit_code == 2


def test_generate_is_deterministic(cli: CliRunner, db: Database, tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    for path, seed in ((first, "7"), (second, "7"), (other, "8")):
        result = cli.invoke(
            app,
            [
                "residents",
                "generate",
                "--tenant",
                SENDAI,
                "--count",
                "300",
                "--seed",
                seed,
                "--csv",
                str(path),
            ],
        )
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()
    loaded = cli.invoke(
        app, ["residents", "generate", "--tenant", SENDAI, "--count", "300", "--seed", "7"]
    )
    assert loaded.exit_code == 0, loaded.output
    assert "300 人" in loaded.output
