"""`POST /alerts/v1/ingest`: a CAP 1.2 or JMA XML alert pushed to a site node.

Taken as `yui alerts ingest` takes it (failover.alerts.receive): the same decision, the
same record for the console. Whoever pushes alerts (a feed relay, a prefecture's system)
holds the site's alert-intake token (``YUI_ALERT_INTAKE_TOKEN``); with no token configured
the endpoint refuses every request — there is no open endpoint and no default secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from failover.alerts.announce import PrimaryTenants
from failover.alerts.receive import SiteRecord, receive
from failover.alerts.settings import EvacuationSettings
from failover.alerts.trigger import EvacuationTrigger
from yui.db.database import Database
from yui.errors import Forbidden, InvalidInput, NotAuthenticated, YuiError
from yui.hazard_alerts import MAX_ALERT_BYTES, AlertError, parse_alert
from yui.topology import SiteSpec

__all__ = ["AlertIntake", "build_router"]

XML_TYPES = ("application/xml", "text/xml", "application/cap+xml", "application/atom+xml")


class UnsupportedMediaType(YuiError):
    status = 415
    slug = "unsupported-media-type"
    title = "この形式は受け付けません / Unsupported media type"


class AlertTooLarge(YuiError):
    status = 413
    slug = "alert-too-large"
    title = "警報が大きすぎます / Alert too large"


@dataclass(frozen=True)
class AlertIntake:
    """What the endpoint needs, given by the composition root."""

    sites: Sequence[SiteSpec]
    settings: EvacuationSettings
    #: the shared secret of alert senders (None: intake is not configured, all refused)
    token: str | None
    #: builds the trigger that evacuates a site (None: decide only, nothing is done)
    trigger: Callable[[], EvacuationTrigger] | None
    #: a site set aside for drills acts on Exercise/Test alerts without ?drill=true
    drill_mode: bool = False
    #: the site's database and the tenants it is the primary of: each of them is told of
    #: the alert (`HazardAlertReceived`); None: the alert goes to evacuation only
    database: Database | None = None
    primaries: PrimaryTenants | None = None
    site: str = ""


_bearer = HTTPBearer(auto_error=False, description="警報受信トークン / alert intake token")


def build_router(intake: AlertIntake) -> APIRouter:
    router = APIRouter(prefix="/alerts/v1", tags=["alerts"])

    def authorise(credentials: HTTPAuthorizationCredentials | None) -> None:
        if intake.token is None:
            raise Forbidden(
                "このサイトでは警報受信が設定されていません（YUI_ALERT_INTAKE_TOKEN） / alert intake "
                "is not configured on this site (YUI_ALERT_INTAKE_TOKEN)"
            )
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), intake.token.encode()):
            raise NotAuthenticated(
                "警報受信トークンが必要です / a valid alert intake token is required"
            )

    @router.post(
        "/ingest",
        summary="警報XMLを受信し退避を判断する / take an alert and decide evacuations",
        description=(
            "CAP 1.2/1.1 または気象庁防災情報XML。判断の結果と、退避を依頼したサイトを返します。"
            "訓練・試験の警報は drill=true のときだけ実行されます。 / CAP 1.2/1.1 or JMA disaster "
            "XML. Answers the decision and the sites whose evacuation was requested. Exercise and "
            "Test alerts act only with drill=true."
        ),
        responses={
            413: {"description": "警報が大きすぎます / alert too large"},
            415: {"description": "XML ではありません / not XML"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {media: {"schema": {"type": "string"}} for media in XML_TYPES},
            }
        },
    )
    async def ingest_alert(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        drill: Annotated[
            bool, Query(description="訓練モード: Exercise/Test も実行 / act on exercises")
        ] = False,
        dry_run: Annotated[
            bool, Query(description="判断だけ返し実行しない / decide, do nothing")
        ] = False,
    ) -> dict[str, Any]:
        authorise(credentials)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in XML_TYPES:
            raise UnsupportedMediaType(
                f"XML を送ってください（{', '.join(XML_TYPES)}） / send XML ({', '.join(XML_TYPES)}), "
                f"not {media or 'no content type'}"
            )
        data = await request.body()
        if len(data) > MAX_ALERT_BYTES:
            raise AlertTooLarge(
                f"警報は {MAX_ALERT_BYTES} バイトまで / an alert is at most {MAX_ALERT_BYTES} bytes"
            )
        try:
            alert = parse_alert(data)
        except AlertError as error:
            raise InvalidInput(str(error)) from None
        database = intake.database
        receipt = await receive(
            alert,
            intake.sites,
            intake.settings,
            trigger=None if intake.trigger is None else intake.trigger(),
            record=None
            if database is None
            else SiteRecord(database, intake.site, intake.primaries),
            drill=drill or intake.drill_mode,
            dry_run=dry_run,
        )
        return receipt.answer

    return router
