"""The topology file (TOML): which sites exist, where, with which hazard zones.

[[site]]
name = "aws-tokyo"
provider = "aws"
region = "ap-northeast-1"
hazard_zones = ["kanto"]
latitude = 35.68
longitude = 139.76
url = "http://127.0.0.1:8401"
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class TopologyError(ValueError):
    pass


class SiteSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    provider: str = Field(min_length=1)
    region: str = Field(min_length=1)
    hazard_zones: tuple[str, ...] = Field(min_length=1)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    url: str = Field(pattern=r"^https?://")
    capacity: int = Field(default=1, ge=1)


class Topology(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: tuple[SiteSpec, ...] = Field(alias="site", min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Topology:
        names = [site.name for site in self.sites]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"site names must be unique: {', '.join(duplicates)}")
        return self

    def find(self, name: str) -> SiteSpec | None:
        return next((site for site in self.sites if site.name == name), None)


def load_topology(path: Path) -> Topology:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
        return Topology.model_validate(data)
    except FileNotFoundError:
        raise TopologyError(
            f"トポロジーファイルがありません / topology file not found: {path}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise TopologyError(
            f"トポロジーファイルが壊れています / bad TOML in {path}: {error}"
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TopologyError(
            f"トポロジーが正しくありません / invalid topology {path}: {where}: {first['msg']}"
        ) from None
