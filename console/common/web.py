"""Rendering a console page: the template environment, the page's language, its CSRF
token, its session and where its data came from."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.common.api import Served
from console.common.i18n import Catalogue, choose_language, localized
from console.common.security import CSRF_FIELD, Csrf, same_origin
from console.common.session import Session, SessionCodec, load_session, save_session
from console.common.times import local_time
from yui.errors import Forbidden

CONSOLE_PREFIX = "/console"
STATIC_PREFIX = "/console/static"
#: the staff console's languages (the citizens' pages add plain Japanese)
STAFF_LANGUAGES = ("ja", "en")


@dataclass
class ConsoleKit:
    """What the console's routes share, kept on the app's state (``app.state.console``)."""

    site: str
    signing_key: bytes
    catalogue: Catalogue = field(default_factory=Catalogue)
    template_folders: dict[str, Path] = field(default_factory=dict)
    static_folders: dict[str, Path] = field(default_factory=dict)
    csrf: Csrf = field(init=False)
    sessions: SessionCodec = field(init=False)
    _environment: jinja2.Environment | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.csrf = Csrf(self.signing_key)
        self.sessions = SessionCodec(self.signing_key)

    def add_pages(self, name: str, folder: Path) -> None:
        """A folder of pages: its ``templates/`` (named ``<name>/…``), ``messages/``
        (the catalogue) and ``static/`` (served under /console/static/<name>/)."""
        if (folder / "templates").is_dir():
            self.template_folders[name] = folder / "templates"
        if (folder / "messages").is_dir():
            self.catalogue.add_folder(folder / "messages")
        if (folder / "static").is_dir():
            self.static_folders[name] = folder / "static"
        self._environment = None

    @property
    def environment(self) -> jinja2.Environment:
        if self._environment is None:
            self._environment = jinja2.Environment(
                loader=jinja2.PrefixLoader(
                    {
                        name: jinja2.FileSystemLoader(path)
                        for name, path in self.template_folders.items()
                    }
                ),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            self._environment.globals["static"] = self.static_url
            self._environment.globals["local_time"] = local_time  # Japan's time, every page
        return self._environment

    def static_url(self, name: str) -> str:
        """``common/console.css`` → its URL with a digest of its content (cached forever
        by browsers; a new release changes the URL)."""
        folder, _, rest = name.partition("/")
        return f"{STATIC_PREFIX}/{name}?v={_digest(self.static_folders[folder] / rest)}"


@cache
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def console_kit(request: Request) -> ConsoleKit:
    kit: ConsoleKit = request.app.state.console
    return kit


Kit = Annotated[ConsoleKit, Depends(console_kit)]


def page_session(request: Request, kit: Kit) -> Session:
    return load_session(request, kit.sessions)


PageSession = Annotated[Session, Depends(page_session)]


@dataclass
class Page:
    """What a page's template gets besides its own context."""

    request: Request
    kit: ConsoleKit
    session: Session
    language: str
    #: the languages these pages offer (the switch shows them)
    languages: tuple[str, ...] = STAFF_LANGUAGES

    def t(self, key: str, **values: Any) -> str:
        return self.kit.catalogue.text(self.language, key, **values)

    def localized(self, detail: str) -> str:
        """The platform's "日本語 / English" message in the page's language."""
        return localized(detail, self.language)

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        served: Served | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.kit.environment.get_template(template).render(
            page=self,
            t=self.t,
            lang=self.language,
            languages=self.languages,
            csrf_field=CSRF_FIELD,
            csrf_token=self.kit.csrf.token(self.session.sid),
            session=self.session,
            served=served or Served(self.kit.site, self.kit.site, "none"),
            page_site=self.kit.site,
            path=self.request.url.path,
            **{"section": "", **context},
        )
        response = HTMLResponse(html, status_code=status)
        save_session(response, self.session, self.kit.sessions)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        """See-other after a form (the browser then GETs ``url``)."""
        response = RedirectResponse(url, status_code=303)
        save_session(response, self.session, self.kit.sessions)
        return response

    def finish(self, response: Response) -> Response:
        save_session(response, self.session, self.kit.sessions)
        return response


def page_for(languages: tuple[str, ...], *, follow_browser: bool = False) -> Callable[..., Page]:
    """A dependency that makes the page's ``Page`` in one of ``languages``."""

    def dependency(request: Request, kit: Kit, session: PageSession) -> Page:
        return Page(
            request,
            kit,
            session,
            choose_language(request, languages, follow_browser=follow_browser),
            languages,
        )

    return dependency


StaffPage = Annotated[Page, Depends(page_for(STAFF_LANGUAGES))]


def csrf_checked(
    request: Request,
    kit: Kit,
    session: PageSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    x_csrf_token: Annotated[str, Header(max_length=200)] = "",
) -> None:
    """Refuses (403) an unsafe request without this session's CSRF token, or from
    another site. Put it on every POST of the console."""
    if not same_origin(request) or not kit.csrf.valid(session.sid, csrf_token or x_csrf_token):
        raise Forbidden(
            "フォームの有効期限が切れたか、別のサイトから送られました。ページを開き直してください / "
            "the form expired or was sent from another site: reload the page and try again"
        )


CsrfChecked = Depends(csrf_checked)


def safe_next(target: str, default: str) -> str:
    """Only a path of the console itself (no open redirect to another site)."""
    if (
        target.startswith(CONSOLE_PREFIX + "/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return default
