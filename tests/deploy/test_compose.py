"""docker-compose.yml, checked without Docker: the Compose specification's JSON schema, the
sandbox's topology (same sites, ports and hazard zones), and hygiene (pinned images, no
secrets in the file, healthchecks, networks), with the files `yui deploy secrets` writes."""

from __future__ import annotations

import json
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from assembly.cli.main import app
from assembly.sandbox.compose import compose_plan, write_compose_secrets
from assembly.sandbox.plan import SITES, make_plan
from tests.deploy.support import ROOT, shared_fixture

COMPOSE = ROOT / "docker-compose.yml"
SECRETS = "./deploy/secrets/"
SITE_NAMES = [site[0] for site in SITES]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(shared_fixture("compose/compose-spec.json").read_text())
    # the file names draft 7 as "…/draft-07/schema" (no "#"), which jsonschema does not map
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["aws-tokyo"]["helthcheck"] = broken["services"]["aws-tokyo"]["healthcheck"]
    assert any("helthcheck" in e.message for e in _validator().iter_errors(broken))


def test_sites_and_node_ports_are_the_sandboxs(services: dict[str, Any], tmp_path: Path) -> None:
    sandbox = make_plan(tmp_path)
    nodes = {name: svc for name, svc in services.items() if svc.get("command") == ["run"]}
    assert list(nodes) == [site.name for site in sandbox.sites] == SITE_NAMES
    for index, (name, node) in enumerate(nodes.items()):
        port = 8401 + index  # make_plan's default, when the port is free
        assert node["environment"]["YUI_SITE"] == name
        assert node["environment"]["YUI_PORT"] == str(port)
        assert node["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert f"{name}-worker" in services
        for role in ("etcd", "postgres", "redis", "minio"):
            assert f"{role}-{name}" in services


def test_topology_written_for_compose_matches_the_sandbox(tmp_path: Path) -> None:
    write_compose_secrets(tmp_path)
    topology = tomllib.loads((tmp_path / "topology.toml").read_text())["site"]
    sandbox = make_plan(tmp_path / "sandbox")
    assert [
        (s["name"], s["provider"], s["region"], tuple(s["hazard_zones"])) for s in topology
    ] == [(s.name, s.provider, s.region, s.hazard_zones) for s in sandbox.sites]
    assert [s["url"] for s in topology] == [
        f"https://{name}:{8401 + i}" for i, name in enumerate(SITE_NAMES)
    ]


def test_each_site_backs_up_to_the_other_sites_minio(services: dict[str, Any]) -> None:
    for name in SITE_NAMES:
        targets = services[name]["environment"]["YUI_BACKUP_TARGETS"].split(",")
        others = [other for other in SITE_NAMES if other != name]
        assert targets == [f"http://minio-{other}:9000/yui-backups-{name}" for other in others]


def test_etcd_is_three_members_with_tls_and_client_certificates(services: dict[str, Any]) -> None:
    members = {name: svc for name, svc in services.items() if name.startswith("etcd-")}
    assert sorted(members) == sorted(f"etcd-{name}" for name in SITE_NAMES)
    for name, member in members.items():
        flags = member["command"]
        for flag in ("--client-cert-auth", "--peer-client-cert-auth"):
            assert flag in flags
        urls = [f for f in flags if "-urls=" in f or f.startswith("--initial-cluster=")]
        assert urls and all("http://" not in f for f in urls), urls
        assert f"--cert-file=/run/secrets/{name}-cert" in flags
    for name in SITE_NAMES:
        env = services[name]["environment"]
        assert env["YUI_ETCD_ENDPOINTS"] == ",".join(f"etcd-{n}:2379" for n in SITE_NAMES)
        assert env["YUI_ETCD_CA_FILE"] and env["YUI_TLS_CERT_FILE"]
        assert "YUI_ALLOW_PLAIN_HTTP_PEERS" not in env


_PINNED = re.compile(r"^[\w./-]+(:(?!latest$)[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        assert _PINNED.match(image), (name, image)
        assert ":" in image.split("/")[-1] or "@sha256:" in image, (name, image)
        assert not image.endswith(":latest"), (name, image)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert {s["image"] for s in services.values() if "build" in s} == {f"yui:{version}"}


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|_KEY$", re.IGNORECASE)


def test_no_secret_is_written_in_the_file(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    assert "BEGIN" not in text and "PRIVATE KEY" not in text
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            # a file *path* is fine (…_KEY_FILE); a value is not
            assert not _SECRET_NAME.search(key) or key.endswith("_FILE"), (name, key, value)
            assert "://" not in str(value) or "@" not in str(value), (name, key)  # no user:pw@
        for env_file in service.get("env_file", []):
            assert env_file.startswith(SECRETS), (name, env_file)
    assert "/deploy/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_every_file_compose_reads_is_written_by_the_generator(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    write_compose_secrets(tmp_path)
    paths = [entry["file"] for key in ("configs", "secrets") for entry in compose[key].values()]
    paths += [f for service in compose["services"].values() for f in service.get("env_file", [])]
    for path in paths:
        assert path.startswith(SECRETS), path
        assert (tmp_path / path.removeprefix(SECRETS)).is_file(), path


def test_each_service_gets_only_its_own_sites_keys(services: dict[str, Any]) -> None:
    for name, service in services.items():
        own = next((site for site in SITE_NAMES if site in name), None)
        for secret in service.get("secrets", []):
            secret_name = secret if isinstance(secret, str) else secret["source"]
            if secret_name == "backup-master-key":
                assert service.get("command") in (["run"], ["jobs", "worker"]), name
                continue
            assert own is not None and own in secret_name, (name, secret_name)


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check is not None and not check.get("disable"), name
        if "test" not in check:  # the image's own HEALTHCHECK, with the service's timings
            assert "build" in service and "HEALTHCHECK" in dockerfile, name


def test_every_service_is_on_the_networks_it_needs_and_no_others(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    networks = compose["networks"]
    assert set(networks) == {"intersite", *SITE_NAMES}
    for site in SITE_NAMES:
        assert networks[site].get("internal") is True  # a site's private network
    expected = {}
    for site in SITE_NAMES:
        expected |= {
            f"etcd-{site}": {site, "intersite"},  # peers across sites; its own node
            f"postgres-{site}": {site},
            f"redis-{site}": {site},
            f"minio-{site}": {"intersite"},  # it holds the *other* sites' backups
            site: {site, "intersite"},
            f"{site}-worker": {site, "intersite"},
        }
    assert {name: set(s["networks"]) for name, s in services.items()} == expected


def test_the_yui_containers_run_unprivileged(services: dict[str, Any]) -> None:
    for name in [*SITE_NAMES, *(f"{s}-worker" for s in SITE_NAMES)]:
        service = services[name]
        assert not service["user"].startswith(("0", "root")), name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name


def test_dockerfile_multi_stage_pinned_non_root_with_readyz_healthcheck() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2
    for line in froms:
        assert re.search(r"@sha256:[0-9a-f]{64}\b", line), line
    final = lines[lines.index(froms[-1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert any(line.startswith("HEALTHCHECK") and "/readyz" in line for line in final)
    build_tools = re.compile(r"\b(gcc|g\+\+|make|build-essential|libpq-dev|python3-dev)\b")
    assert not any(line.startswith("RUN") and build_tools.search(line) for line in final)
    assert not any(line.startswith("RUN") and "pip install" in line for line in final)


def test_secrets_command_writes_private_files_and_keeps_passwords(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    result = CliRunner().invoke(app, ["deploy", "secrets", str(target)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for private in ["common.env", "aws-tokyo-postgres.env", "keys/aws-tokyo.pem"]:
        assert stat.S_IMODE((target / private).stat().st_mode) == 0o600, private
    first = (target / "aws-tokyo-postgres.env").read_text()
    ca = (target / "keys/tls/ca.pem").read_bytes()
    assert CliRunner().invoke(app, ["deploy", "secrets", str(target)]).exit_code == 0
    assert (target / "aws-tokyo-postgres.env").read_text() == first
    assert (target / "keys/tls/ca.pem").read_bytes() == ca
    password = first.split("POSTGRES_PASSWORD=")[1].split()[0]
    assert password in (target / "aws-tokyo.env").read_text()
    assert len(password) >= 32


def test_secrets_command_refuses_a_file_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    result = CliRunner().invoke(app, ["deploy", "secrets", str(target)])
    assert result.exit_code == 2
    assert "フォルダではありません" in result.output and "not a folder" in result.output
    assert target.read_text() == "x" and list(tmp_path.iterdir()) == [target]


def test_compose_plan_is_the_sandbox_plan_with_https_service_urls(tmp_path: Path) -> None:
    plan = compose_plan(tmp_path)
    assert plan.tls and [s.name for s in plan.sites] == SITE_NAMES


def _container_files(
    compose: dict[str, Any], service: dict[str, Any], secrets: Path
) -> dict[str, Path]:
    """Where each config and secret of ``service`` appears in its container => the file
    `yui deploy secrets` wrote for it."""

    def source(kind: str, name: str) -> Path:
        return secrets / compose[kind][name]["file"].removeprefix(SECRETS)

    files = {}
    for config in service.get("configs", []):
        files[config["target"]] = source("configs", config["source"])
    for secret in service.get("secrets", []):
        files[f"/run/secrets/{secret}"] = source("secrets", secret)
    return files


def _env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_every_yui_setting_in_the_file_is_a_setting(services: dict[str, Any]) -> None:
    """Settings ignore unknown YUI_* variables: a misspelt one would be silently lost."""
    from yui.settings import Settings

    known = {f"YUI_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        for key in service.get("environment") or {}:
            assert not key.startswith("YUI_") or key in known, (name, key)


@pytest.mark.parametrize("site", SITE_NAMES)
def test_each_node_starts_with_the_files_and_settings_compose_gives_it(
    compose: dict[str, Any], site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node's own start-up checks (load_settings, check_peer_urls) pass with the
    container's environment, its paths mapped to the files `yui deploy secrets` wrote; and
    the certificates name the hosts the others dial (the node, its etcd member)."""
    from cryptography import x509

    from yui.settings import check_peer_urls, load_settings

    secrets = tmp_path / "secrets"
    write_compose_secrets(secrets)
    service = compose["services"][site]
    files = _container_files(compose, service, secrets)
    env: dict[str, str] = {}
    for env_file in service["env_file"]:
        env |= _env_file(secrets / env_file.removeprefix(SECRETS))
    env |= {key: str(value) for key, value in service["environment"].items()}
    for key, value in env.items():
        if key.startswith("YUI_"):
            monkeypatch.setenv(key, str(files.get(value, value)))
    monkeypatch.setenv("YUI_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    check_peer_urls(settings)
    assert settings.site == site and settings.tls_files and settings.etcd_tls_files
    assert settings.topology is not None and settings.topology.find(site) is not None
    assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://")

    def names(path: Path) -> list[str]:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return alternative.value.get_values_for_type(x509.DNSName)

    assert site in names(settings.tls_files.cert)  # https://<site>:<port> of the topology
    assert "localhost" in names(settings.tls_files.cert)  # the image's HEALTHCHECK
    member = compose["services"][f"etcd-{site}"]
    etcd_cert = _container_files(compose, member, secrets)[f"/run/secrets/etcd-{site}-cert"]
    assert f"etcd-{site}" in names(etcd_cert)  # YUI_ETCD_ENDPOINTS dials etcd-<site>:2379
