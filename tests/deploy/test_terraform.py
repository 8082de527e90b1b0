"""infra/terraform, checked without a Terraform binary: every file parses (python-hcl2);
each module call passes only declared variables and every required one; each referenced
module output exists; each provider's site module keeps the `site` contract; every
variable and output is described; the example's sites are the sandbox's."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from assembly.sandbox.plan import SITES
from tests.deploy.support import ROOT
from yui.topology import load_topology

TERRAFORM = ROOT / "infra" / "terraform"
CONTRACT = TERRAFORM / "modules" / "site"
IMPLEMENTATIONS = ["site-aws", "site-google", "site-sakuracloud"]


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def _parse(path: Path) -> dict[str, Any]:
    return hcl2.loads(path.read_text())  # type: ignore[no-any-return]


def _blocks(folder: Path, kind: str) -> dict[str, dict[str, Any]]:
    """``variable``/``output``/``module`` blocks of a module folder: name => body."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        for block in _parse(path).get(kind, []):
            for name, body in block.items():
                found[_unquote(name)] = body
    return found


def _modules() -> list[Path]:
    return sorted({path.parent for path in TERRAFORM.rglob("*.tf")})


def test_every_tf_file_parses() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 15
    for path in files:
        _parse(path)


def test_module_calls_pass_declared_and_required_variables_only() -> None:
    calls = 0
    for folder in _modules():
        for name, call in _blocks(folder, "module").items():
            calls += 1
            target = (folder / _unquote(call["source"])).resolve()
            declared = _blocks(target, "variable")
            assert declared, (folder, name, target)
            passed = {
                k for k in call if k not in ("source", "providers", "version", "__is_block__")
            }
            assert passed - set(declared) == set(), (folder.name, name, "undeclared")
            required = {v for v, body in declared.items() if "default" not in body}
            assert required - passed == set(), (folder.name, name, "missing")
    assert calls == 4  # three sites and the etcd cluster


def test_referenced_module_outputs_exist() -> None:
    for folder in _modules():
        calls = _blocks(folder, "module")
        text = "\n".join(p.read_text() for p in folder.glob("*.tf"))
        for module, output in set(re.findall(r"\bmodule\.(\w+)\.(\w+)", text)):
            assert module in calls, (folder.name, module)
            target = (folder / _unquote(calls[module]["source"])).resolve()
            assert output in _blocks(target, "output"), (folder.name, module, output)


def test_variable_references_are_declared() -> None:
    for folder in _modules():
        declared = _blocks(folder, "variable")
        text = "\n".join(p.read_text() for p in folder.glob("*.tf"))
        used = set(re.findall(r"\bvar\.(\w+)", text))
        assert used - set(declared) == set(), folder.name


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_each_provider_keeps_the_site_contract(implementation: str) -> None:
    folder = TERRAFORM / "modules" / implementation
    # the same variables: the contract's file, unchanged
    assert (folder / "variables.tf").read_text() == (CONTRACT / "variables.tf").read_text()
    contract, outputs = _blocks(CONTRACT, "output"), _blocks(folder, "output")
    assert list(outputs) == list(contract)
    for name, body in contract.items():
        assert outputs[name]["description"] == body["description"], name
        assert outputs[name].get("sensitive") == body.get("sensitive"), name
    assert not list(folder.glob("variables*.tf"))[1:], "one variables file, the contract's"


@pytest.mark.parametrize("kind", ["variable", "output"])
def test_every_variable_and_output_is_described(kind: str) -> None:
    for folder in _modules():
        for name, body in _blocks(folder, kind).items():
            assert len(_unquote(body.get("description", ""))) >= 10, (folder.name, kind, name)


def test_each_bucket_has_versioning_object_lock_and_encryption() -> None:
    for implementation in IMPLEMENTATIONS:
        text = "\n".join(
            p.read_text() for p in (TERRAFORM / "modules" / implementation).glob("*.tf")
        )
        if "google_storage_bucket" in text:
            assert "versioning" in text and "is_locked" in text and "default_kms_key_name" in text
        else:
            for resource in (
                "aws_s3_bucket_versioning",
                "aws_s3_bucket_object_lock_configuration",
                "aws_s3_bucket_server_side_encryption_configuration",
            ):
                assert f'resource "{resource}"' in text, (implementation, resource)


def test_example_sites_are_the_sandboxs_and_back_up_to_the_others() -> None:
    example = TERRAFORM / "envs" / "example"
    sites = _blocks(example, "variable")["sites"]["default"]
    assert [
        (
            _unquote(name),
            _unquote(s["provider"]),
            _unquote(s["region"]),
            tuple(_unquote(z) for z in s["hazard_zones"]),
            s["latitude"],
            s["longitude"],
        )
        for name, s in sites.items()
    ] == [(n, p, r, z, lat, lon) for n, p, r, z, lat, lon in SITES]
    zones = [set(s["hazard_zones"]) for s in sites.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(zones) for b in zones[i + 1 :])
    main = (example / "main.tf").read_text()
    assert "bucket if other != name" in main  # a site's own bucket is never its target
    assert 'templatefile("${path.module}/topology.toml.tftpl"' in main


def _render_topology(sites: dict[str, Any], node_port: int) -> str:
    """What Terraform's templatefile makes of topology.toml.tftpl, for the one loop and the
    plain references it holds (a construct beyond them fails here, not silently)."""
    template = (TERRAFORM / "envs" / "example" / "topology.toml.tftpl").read_text()
    head, rest = template.split("%{ for name, site in sites ~}\n")
    body, tail = rest.split("%{ endfor ~}\n")
    assert "%{" not in head + body + tail and "${" not in head + tail
    blocks = []
    for name, site in sites.items():
        values = {"name": name, "node_port": str(node_port)}
        values |= {f"site.{key}": str(value) for key, value in site.items()}
        rendered = re.sub(r"\$\{([\w.]+)\}", lambda m: values[m.group(1)], body)
        assert "${" not in rendered, rendered
        blocks.append(rendered)
    return head + "".join(blocks) + tail


def test_topology_rendered_from_the_example_is_read_by_yui(tmp_path: Path) -> None:
    example = TERRAFORM / "envs" / "example"
    defaults = _blocks(example, "variable")
    sites = {
        _unquote(name): {
            "provider": _unquote(s["provider"]),
            "region": _unquote(s["region"]),
            # main.tf's `zones`: the quoted names joined by ", "
            "zones": ", ".join(f'"{_unquote(z)}"' for z in s["hazard_zones"]),
            "latitude": s["latitude"],
            "longitude": s["longitude"],
            "dns_name": _unquote(s["dns_name"]),
        }
        for name, s in sorted(defaults["sites"]["default"].items())  # Terraform: sorted keys
    }
    path = tmp_path / "topology.toml"
    path.write_text(_render_topology(sites, defaults["node_port"]["default"]))
    topology = load_topology(path)
    assert [(s.name, s.provider, s.region, s.hazard_zones) for s in topology.sites] == [
        (n, p, r, z) for n, p, r, z, _, _ in SITES
    ]
    assert [s.url for s in topology.sites] == [
        f"https://{name}.yui.example.jp:8443" for name, *_ in SITES
    ]


def test_etcd_timings_follow_the_documented_rule() -> None:
    text = (TERRAFORM / "modules" / "etcd-cluster" / "main.tf").read_text()
    assert "election_ms    = local.heartbeat_ms * 10" in text
    flags = _blocks(TERRAFORM / "modules" / "etcd-cluster", "output")["flags"]["value"]
    joined = " ".join(flags)
    assert "--client-cert-auth" in joined and "--peer-client-cert-auth" in joined


def test_every_yui_setting_the_vms_get_is_a_setting() -> None:
    """Settings ignore unknown YUI_* variables: a misspelt one would be silently lost."""
    from yui.settings import Settings

    known = {f"YUI_{name.upper()}" for name in Settings.model_fields}
    text = "\n".join(p.read_text() for p in TERRAFORM.rglob("*.tf"))
    given = set(re.findall(r"\b(YUI_[A-Z_]+)\s*=", text))
    assert len(given) >= 15
    assert given - known == set()


def test_the_trust_file_made_in_terraform_is_read_by_yui(tmp_path: Path) -> None:
    """pki.tf writes replication.protocol.signing's trust file from the Ed25519 keys' PEM (PKIX):
    the same steps in Python give each site's public key as Yui writes it itself."""
    from cryptography.hazmat.primitives import serialization

    from replication.protocol.signing import SiteKey, TrustStore, generate_key

    pki = (TERRAFORM / "envs" / "example" / "pki.tf").read_text()
    assert (
        'replace(replace(tls_private_key.replication[name].public_key_pem, "/-----[A-Z ]+-----/", ""), "\\n", ""), 16, -1)'
        in pki
    )
    keys = {name: SiteKey(name, generate_key()) for name in ("aws-tokyo", "gcp-osaka")}
    lines = ["# Sites this site accepts replication requests from", "[sites]"]
    for name, key in sorted(keys.items()):
        pem = key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        body = re.sub(r"-----[A-Z ]+-----", "", pem.decode()).replace("\n", "")
        text = body[16:]  # Terraform's substr(…, 16, -1): past the 12-byte PKIX prefix
        assert text == key.public_key_b64
        lines.append(f'"{name}" = "{text}"')
    path = tmp_path / "trusted-sites.toml"
    path.write_text("\n".join(lines))
    assert set(TrustStore.load(path).keys) == set(keys)
