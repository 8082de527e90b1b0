"""Start-up settings fail with one clear message; the CLI's tenant and user commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from assembly.cli.main import app
from yui.settings import SettingsError, load_settings

TOPOLOGY = """
[[site]]
name = "aws-tokyo"
provider = "aws"
region = "ap-northeast-1"
hazard_zones = ["kanto"]
latitude = 35.68
longitude = 139.76
url = "http://127.0.0.1:8401"
"""


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"YUI_PORT": "99999"}, "YUI_PORT"),
        ({"YUI_PORT": "eighty"}, "YUI_PORT"),
        ({"YUI_SITE": "Bad Name"}, "YUI_SITE"),
        ({"YUI_TOKEN_SECRET": "short"}, "YUI_TOKEN_SECRET"),
        ({"YUI_LOG_LEVEL": "LOUD"}, "YUI_LOG_LEVEL"),
    ],
)
def test_invalid_settings_name_the_field(
    env: dict[str, str], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=field):
        load_settings()


def test_topology_file(tmp_path: Path) -> None:
    good = tmp_path / "sites.toml"
    good.write_text(TOPOLOGY)
    settings = load_settings(site="aws-tokyo", topology_file=good)
    assert settings.topology is not None and settings.topology.sites[0].hazard_zones == ("kanto",)
    with pytest.raises(SettingsError, match="not a site"):
        load_settings(site="gcp-osaka", topology_file=good)
    bad = tmp_path / "bad.toml"
    bad.write_text(TOPOLOGY.replace("35.68", "135.68"))
    with pytest.raises(SettingsError, match="latitude"):
        load_settings(site="aws-tokyo", topology_file=bad)
    dup = tmp_path / "dup.toml"
    dup.write_text(TOPOLOGY + TOPOLOGY)
    with pytest.raises(SettingsError, match="unique"):
        load_settings(site="aws-tokyo", topology_file=dup)


def test_generated_signing_key_is_kept_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    key = settings.signing_key()
    assert len(key) >= 32 and key == load_settings(data_dir=tmp_path).signing_key()
    assert (tmp_path / "token-secret").stat().st_mode & 0o077 == 0


def test_cli_tenant_and_user(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUI_DATABASE_URL", database_url)
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert "tenant" in runner.invoke(app, ["--help"]).output
    created = runner.invoke(app, ["tenant", "create", "041009", "--name", "仙台市"])
    assert created.exit_code == 0, created.output
    assert runner.invoke(app, ["tenant", "create", "041009", "--name", "仙台市"]).exit_code == 2
    wrong = runner.invoke(app, ["tenant", "create", "041008", "--name", "x"])
    assert wrong.exit_code == 2 and "check digit" in wrong.output
    listed = runner.invoke(app, ["tenant", "list", "--json"])
    assert listed.exit_code == 0 and '"prefecture": "宮城県"' in listed.output
    made = runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            "041009",
            "--username",
            "boss",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert made.exit_code == 0, made.output
    short = runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            "041009",
            "--username",
            "b2",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert short.exit_code == 2 and "12" in short.output
    prompt = runner.invoke(
        app,
        ["user", "create", "--tenant", "041009", "--username", "b3", "--role", "staff"],
        input="first password 1\nsecond password 2\n",
    )
    assert prompt.exit_code == 2 and "differ" in prompt.output


def test_cli_refuses_bad_settings_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YUI_PORT", "0")
    result = CliRunner().invoke(app, ["tenant", "list"])
    assert result.exit_code == 2 and "YUI_PORT" in result.output
