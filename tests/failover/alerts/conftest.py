"""Shared helpers: the sandbox's three sites, synthetic CAP alerts, the fixture folders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from assembly.sandbox.plan import SITES
from tests.support.shared_fixtures import shared_fixtures_dir
from yui.topology import SiteSpec

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def sandbox_sites() -> tuple[SiteSpec, ...]:
    return tuple(
        SiteSpec(
            name=name,
            provider=provider,
            region=region,
            hazard_zones=zones,
            latitude=lat,
            longitude=lon,
            url=f"http://127.0.0.1:{8401 + i}",
        )
        for i, (name, provider, region, zones, lat, lon) in enumerate(SITES)
    )


def fixtures_dir() -> Path:
    return shared_fixtures_dir()


def topology_toml(sites: tuple[SiteSpec, ...]) -> str:
    blocks = []
    for s in sites:
        zones = ", ".join(f'"{z}"' for z in s.hazard_zones)
        blocks.append(
            f'[[site]]\nname = "{s.name}"\nprovider = "{s.provider}"\nregion = "{s.region}"\n'
            f"hazard_zones = [{zones}]\nlatitude = {s.latitude}\nlongitude = {s.longitude}\n"
            f'url = "{s.url}"\n'
        )
    return "\n".join(blocks)


def cap_tsunami(
    lat: float,
    lon: float,
    *,
    status: str = "Actual",
    msg_type: str = "Alert",
    event: str = "Tsunami Warning",
    radius_km: float = 20.0,
    sent: str = "2026-11-22T14:50:00+09:00",
) -> bytes:
    """A valid CAP 1.2 tsunami warning whose area is a circle around (lat, lon)."""
    references = (
        "<references>jma@example.jp,urn:oid:2.49.0.1.392.0.1,2026-11-22T14:45:00+09:00</references>"
        if msg_type in ("Update", "Cancel")
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>urn:oid:2.49.0.1.392.0.2</identifier>
  <sender>jma@example.jp</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {references}
  <info>
    <language>en-US</language>
    <category>Geo</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>{event}</headline>
    <area>
      <areaDesc>around the site</areaDesc>
      <circle>{lat},{lon} {radius_km}</circle>
    </area>
  </info>
</alert>
""".encode()
