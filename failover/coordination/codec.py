"""JSON forms of the values kept in etcd (placements and site records).

A placement is stored *without* its epoch: the epoch is the etcd revision of
the write that stored it (the key's ``mod_revision``), known only once the
write is applied. Decoding therefore takes the revision and puts it in
``epoch``. Encoding is canonical (sorted keys, no spaces), so equal values
give equal bytes.
"""

from __future__ import annotations

import json
from typing import Any, cast, get_args

from failover.coordination.interface import SiteRecord
from failover.placement.policy import Mode, Placement

__all__ = ["CodecError", "decode_placement", "decode_site", "encode_placement", "encode_site"]

_MODES: frozenset[str] = frozenset(get_args(Mode))


class CodecError(ValueError):
    """A stored value is not what this version of Yui can read."""


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _loads(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise CodecError(f"{what}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise CodecError(f"{what}: expected a JSON object")
    return cast(dict[str, Any], data)


def _strings(data: dict[str, Any], name: str, what: str) -> tuple[str, ...]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CodecError(f"{what}: {name} must be a list of strings")
    return tuple(cast(list[str], value))


def _string(data: dict[str, Any], name: str, what: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise CodecError(f"{what}: {name} must be a non-empty string")
    return value


def _integer(data: dict[str, Any], name: str, what: str, default: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CodecError(f"{what}: {name} must be an integer")
    return value


def encode_placement(placement: Placement) -> bytes:
    """The stored form: every field but ``epoch``."""
    return _dumps(
        {
            "tenant": placement.tenant,
            "primary": placement.primary,
            "replicas": list(placement.replicas),
            "in_sync": list(placement.in_sync),
            "mode": placement.mode,
            "min_insync": placement.min_insync,
            "min_insync_zones": placement.min_insync_zones,
        }
    )


def decode_placement(raw: bytes, *, revision: int) -> Placement:
    """A stored placement; ``revision`` (the key's mod_revision) becomes its epoch."""
    what = "placement"
    data = _loads(raw, what)
    mode = data.get("mode", "sync")
    if mode not in _MODES:
        raise CodecError(f"{what}: mode must be one of {sorted(_MODES)}")
    return Placement(
        tenant=_string(data, "tenant", what),
        primary=_string(data, "primary", what),
        replicas=_strings(data, "replicas", what),
        in_sync=_strings(data, "in_sync", what),
        mode=cast(Mode, mode),
        min_insync=_integer(data, "min_insync", what, 1),
        epoch=revision,
        # absent in placements written before the zone rule: the design's default applies
        min_insync_zones=_integer(data, "min_insync_zones", what, 2),
    )


def encode_site(record: SiteRecord) -> bytes:
    return _dumps(
        {
            "name": record.name,
            "provider": record.provider,
            "region": record.region,
            "hazard_zones": list(record.hazard_zones),
            "urls": list(record.urls),
            "capacity": record.capacity,
        }
    )


def decode_site(raw: bytes) -> SiteRecord:
    what = "site record"
    data = _loads(raw, what)
    try:
        return SiteRecord(
            name=_string(data, "name", what),
            provider=_string(data, "provider", what),
            region=_string(data, "region", what),
            hazard_zones=_strings(data, "hazard_zones", what),
            urls=_strings(data, "urls", what),
            capacity=_integer(data, "capacity", what, 1),
        )
    except ValueError as error:
        if isinstance(error, CodecError):
            raise
        raise CodecError(f"{what}: {error}") from None
