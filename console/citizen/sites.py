"""The sites a citizen's page may send its report to: this node's own origin first, then
every other site of the topology. Only the server says which (never the client)."""

from __future__ import annotations

from urllib.parse import urlsplit

from yui.settings import Settings


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def site_origins(settings: Settings) -> tuple[str, ...]:
    """Every site's origin (CORS: a page of any site may post its report to this one)."""
    topology = settings.topology
    return tuple(origin_of(site.url) for site in topology.sites) if topology else ()


def other_site_origins(settings: Settings) -> tuple[str, ...]:
    """The origins of the topology's other sites, in the topology's order ("" none)."""
    topology = settings.topology
    if topology is None:
        return ()
    return tuple(origin_of(site.url) for site in topology.sites if site.name != settings.site)
