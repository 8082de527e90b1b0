"""The site's schema history: one chain whose revisions live beside the parts that own
the tables, with the revision ids they always had, so a database made when every
revision was in the kernel's one folder upgrades as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.schema import SCHEMA_HISTORY
from assembly.site import all_metadata
from tests.support.factories import SENDAI
from yui.db.database import Database
from yui.db.schema import KERNEL_REVISIONS, MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
#: where each revision that existed before the split lives now (later ones may be added)
OWNERS = {
    KERNEL_REVISIONS: {"0001", "0005", "0008", "0009"},
    ROOT / "replication" / "migrations": {"0003", "0007"},
    ROOT / "failover" / "migrations": {"0004", "0006", "0010"},
    ROOT / "services" / "residents" / "migrations": {"0002"},
    ROOT / "services" / "safety-check" / "migrations": {"0011"},
    ROOT / "services" / "supplies" / "migrations": {"0012"},
}


def _old_chain(tmp_path: Path) -> Config:
    """The history as it was: every revision file in one folder."""
    folder = tmp_path / "versions"
    folder.mkdir()
    for revisions in SCHEMA_HISTORY.revision_folders:
        for revision in revisions.glob("*.py"):
            shutil.copy(revision, folder / revision.name)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_locations", str(folder))
    return config


def test_one_chain_with_the_same_revisions_each_beside_its_part(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(Database("sqlite://").alembic_config(SCHEMA_HISTORY))
    assert len(script.get_heads()) == 1
    assert script.get_bases() == ["0001"]
    chain = list(script.walk_revisions())  # head first, each names the one before it
    assert [r.down_revision for r in chain[:-1]] == [r.revision for r in chain[1:]]
    assert {Path(folder).resolve() for folder in SCHEMA_HISTORY.revision_folders} == {
        folder.resolve() for folder in OWNERS
    }
    for folder, revisions in OWNERS.items():
        held = {r.revision for r in chain if Path(r.path).parent.resolve() == folder.resolve()}
        assert revisions <= held, folder
    old = ScriptDirectory.from_config(_old_chain(tmp_path))
    assert [r.revision for r in old.walk_revisions()] == [r.revision for r in chain]


def test_a_database_made_by_the_old_chain_upgrades_to_head(
    database_url: str, tmp_path: Path
) -> None:
    old = _old_chain(tmp_path)
    db = Database(database_url)
    old.attributes["engine"] = db.engine
    try:
        command.upgrade(old, "0006")  # a site last upgraded before the split, part way
        assert not db.at_head(SCHEMA_HISTORY)
        db.migrate(SCHEMA_HISTORY)
        assert db.at_head(SCHEMA_HISTORY)
        with db.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
        assert tables == set(all_metadata().tables)

        command.upgrade(old, "head")  # the old chain finds nothing more to do either
        assert db.at_head(SCHEMA_HISTORY)
    finally:
        db.dispose()


def test_a_parts_command_brings_a_new_database_to_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`yui residents` lives in its part, which may not import the composition root: the
    `yui` command hands it the history, and its first use of a new database migrates it."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    monkeypatch.setenv("YUI_DATABASE_URL", url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    shown = CliRunner().invoke(app, ["residents", "show", "--tenant", SENDAI, "100001"])
    assert shown.exit_code == 2, shown.output  # no such resident: the schema was there to ask
    db = Database(url)
    try:
        assert db.at_head(SCHEMA_HISTORY)
    finally:
        db.dispose()
