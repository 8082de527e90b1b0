"""Only a trusted site reaches the replication endpoints, with the body it signed."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from replication.protocol.signing import (
    DEFAULT_SKEW_SECONDS,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    ReplayGuard,
    SignatureError,
    SiteKey,
    TrustStore,
    generate_key,
    generate_site_keys,
    load_site_key,
)
from tests.replication.harness import SENDAI, Cluster

pytestmark = pytest.mark.anyio


async def _post(cluster: Cluster, headers: dict[str, str], body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(transport=cluster.router, base_url="http://site-b") as http:
        return await http.post(f"/replication/v1/{SENDAI}/entries", content=body, headers=headers)


async def test_unsigned_forged_and_tampered_requests_are_refused(cluster: Cluster) -> None:
    body = json.dumps({"epoch": 99, "prev_seq": 0, "entries": []}).encode()
    target = f"/replication/v1/{SENDAI}/entries"
    assert (await _post(cluster, {}, body)).status_code == 401

    stranger = SiteKey("site-a", generate_key())  # claims to be site-a, wrong key
    response = await _post(cluster, stranger.headers("POST", target, body), body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"

    genuine = cluster["site-a"].key.headers("POST", target, body)
    tampered = body.replace(b"99", b"98")
    assert (await _post(cluster, genuine, tampered)).status_code == 401
    replayed_late = cluster["site-a"].key.headers("POST", target, body, now=time.time() - 3600)
    assert (await _post(cluster, replayed_late, body)).status_code == 401
    other_path = cluster["site-a"].key.headers("POST", f"/replication/v1/{SENDAI}/seal", body)
    assert (await _post(cluster, other_path, body)).status_code == 401

    accepted = await _post(cluster, genuine, body)
    assert accepted.status_code == 200 and accepted.json()["status"] == "ok"


async def test_staff_endpoints_stay_unaffected_and_status_needs_a_signature(
    cluster: Cluster,
) -> None:
    async with httpx.AsyncClient(transport=cluster.router, base_url="http://site-a") as http:
        assert (await http.get("/replication/v1/status")).status_code == 401
        assert (await http.get(f"/replication/v1/{SENDAI}/digest")).status_code == 401
        assert (await http.get("/healthz")).status_code == 200
    status = await cluster.client("site-b").node_status("site-a")
    assert status.site == "site-a"


def test_sandbox_keys_are_private_and_trusted(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    paths = generate_site_keys(directory, ["aws-tokyo", "gcp-osaka"])
    assert {p.stat().st_mode & 0o777 for p in paths.values()} == {0o600}
    trust = TrustStore.load(directory / "trusted-sites.toml")
    key = load_site_key("aws-tokyo", paths["aws-tokyo"])
    headers = key.headers("GET", "/replication/v1/status", b"")
    assert trust.verify("GET", "/replication/v1/status", headers, b"") == "aws-tokyo"
    again = generate_site_keys(directory, ["aws-tokyo", "gcp-osaka"])  # keys are kept
    assert load_site_key("aws-tokyo", again["aws-tokyo"]).public_key_b64 == key.public_key_b64
    assert SIGNATURE_HEADER in headers


async def test_a_captured_signed_request_replayed_is_refused(cluster: Cluster) -> None:
    """Within the clock window a copy of a genuine request (its headers and body, as a
    network observer would capture them) is refused: its nonce was already accepted."""
    body = json.dumps({"epoch": 99, "prev_seq": 0, "entries": []}).encode()
    captured = cluster["site-a"].key.headers("POST", f"/replication/v1/{SENDAI}/entries", body)
    accepted = await _post(cluster, captured, body)
    assert accepted.status_code == 200

    replayed = await _post(cluster, captured, body)
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["detail"]
    # the sender itself is unaffected: each of its requests is signed with a new nonce
    fresh = cluster["site-a"].key.headers("POST", f"/replication/v1/{SENDAI}/entries", body)
    assert (await _post(cluster, fresh, body)).status_code == 200
    without_nonce = {k: v for k, v in captured.items() if k != NONCE_HEADER}
    assert (await _post(cluster, without_nonce, body)).status_code == 401


def test_remembered_nonces_are_bounded_and_a_forgotten_one_stays_refused() -> None:
    key = SiteKey("site-a", generate_key())
    trust = TrustStore.from_mapping({"site-a": key.public_key_b64})
    trust.replays = ReplayGuard(capacity=3, floor=0)
    now = 1_800_000_000.0
    sent = [key.headers("GET", "/replication/v1/status", b"", now=now + n) for n in range(5)]
    for headers in sent:
        trust.verify("GET", "/replication/v1/status", headers, b"", now=now + 5)
    assert len(trust.replays) == 3  # capped; the two oldest forgotten
    for headers in sent:  # forgotten or remembered, every one is refused again
        with pytest.raises(SignatureError):
            trust.verify("GET", "/replication/v1/status", headers, b"", now=now + 5)
    # a nonce is forgotten once its time has left the clock window
    later = now + DEFAULT_SKEW_SECONDS + 10
    newer = key.headers("GET", "/replication/v1/status", b"", now=later)
    trust.verify("GET", "/replication/v1/status", newer, b"", now=later)
    assert len(trust.replays) == 1


def test_a_request_signed_before_the_site_started_is_refused() -> None:
    """A restart forgets the nonces, not the protection: what was signed before the
    receiving site started cannot be replayed to it, what is signed after passes."""
    key = SiteKey("site-a", generate_key())
    captured = key.headers("GET", "/replication/v1/status", b"", now=time.time() - 10)
    restarted = TrustStore.from_mapping({"site-a": key.public_key_b64})
    with pytest.raises(SignatureError, match="replay"):
        restarted.verify("GET", "/replication/v1/status", captured, b"")
    fresh = key.headers("GET", "/replication/v1/status", b"")
    assert restarted.verify("GET", "/replication/v1/status", fresh, b"") == "site-a"
