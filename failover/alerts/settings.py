"""Which alerts evacuate a site: environment variables with the prefix YUI_EVACUATION_.

Collections are given as JSON, e.g. ``YUI_EVACUATION_KINDS='["tsunami_warning"]'``.
The defaults and the reasoning behind them are in docs/runbook.md.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from yui.hazard_alerts import AlertKind, Certainty, Severity
from yui.hazard_alerts.model import INTENSITIES

#: weakest first, so a rank comparison says "at least"
SEVERITY_ORDER: tuple[Severity, ...] = (
    Severity.UNKNOWN,
    Severity.MINOR,
    Severity.MODERATE,
    Severity.SEVERE,
    Severity.EXTREME,
)


class EvacuationSettings(BaseSettings):
    """What makes an alert evacuate the sites in its area (defaults err on acting)."""

    model_config = SettingsConfigDict(env_prefix="YUI_EVACUATION_", extra="ignore", frozen=True)

    kinds: frozenset[AlertKind] = Field(
        default=frozenset(
            {AlertKind.TSUNAMI_MAJOR_WARNING, AlertKind.TSUNAMI_WARNING, AlertKind.ERUPTION}
        ),
        description="kinds that evacuate a covered site whatever their intensity "
        "(大津波警報・津波警報・噴火)",
    )
    earthquake_kinds: frozenset[AlertKind] = Field(
        default=frozenset({AlertKind.EARTHQUAKE_INTENSITY, AlertKind.EARTHQUAKE}),
        description="earthquake kinds that evacuate when the intensity at the covering area "
        "reaches min_intensity (add earthquake_early_warning to act on forecasts)",
    )
    min_intensity: str = Field(
        default="6-", description="JMA seismic intensity (震度) at or above which a quake evacuates"
    )
    earthquake_min_severity: Severity = Field(
        default=Severity.EXTREME,
        description="for earthquake alerts that state no intensity (CAP): the least severity",
    )
    ignored_certainties: frozenset[Certainty] = Field(
        default=frozenset({Certainty.UNLIKELY}),
        description="alerts of these certainties never evacuate",
    )
    max_age_hours: float = Field(
        default=24.0,
        ge=0,
        description="an Actual alert sent longer ago than this is stale and ignored (0: no limit)",
    )
    honour_expiry: bool = Field(
        default=True, description="an Actual alert past its expires time is ignored"
    )

    @field_validator("min_intensity")
    @classmethod
    def _known_intensity(cls, value: str) -> str:
        if value not in INTENSITIES:
            raise ValueError(f"expected one of {', '.join(INTENSITIES)}, got {value!r}")
        return value


def severity_rank(value: Severity) -> int:
    return SEVERITY_ORDER.index(value)
