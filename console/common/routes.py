"""Routes every console page shares: the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from console.common.i18n import LANGUAGE_COOKIE
from console.common.web import CONSOLE_PREFIX, CsrfChecked, Kit, PageSession, safe_next
from yui.errors import InvalidInput

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)

LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


@router.post("/language", dependencies=[CsrfChecked])
def choose_language(
    kit: Kit,
    session: PageSession,
    language: Annotated[str, Form(max_length=10)],
    next_page: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    if language not in kit.catalogue.languages:
        raise InvalidInput(
            f"言語 {language!r} はありません / no language {language!r}; "
            f"choose from {', '.join(kit.catalogue.languages)}"
        )
    response = RedirectResponse(safe_next(next_page, CONSOLE_PREFIX + "/"), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    del session  # read only so that a first visit gets its session cookie
    return response
