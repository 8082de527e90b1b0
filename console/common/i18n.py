"""The console's message catalogue: one JSON file per language and folder of pages.

Templates never hold text: they name a message (``t("nav.residents")``) and the
catalogue of the page's language says it. Japanese is the default; a person chooses
another language with the switch (a cookie), and pages that allow it (the citizens')
also follow the browser's Accept-Language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request

log = logging.getLogger("console.i18n")

DEFAULT_LANGUAGE = "ja"
LANGUAGE_COOKIE = "yui_lang"


@dataclass
class Catalogue:
    """Messages per language, merged from every folder that was added."""

    messages: dict[str, dict[str, str]] = field(default_factory=dict)

    def add_folder(self, folder: Path) -> None:
        """Read ``<lang>.json`` files of ``folder``; a key defined twice is an error
        (two folders of pages must not silently override each other)."""
        for path in sorted(folder.glob("*.json")):
            language = path.stem
            entries = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(entries, dict):
                raise ValueError(f"{path}: a catalogue is a JSON object of key → text")
            known = self.messages.setdefault(language, {})
            twice = sorted(set(known) & set(entries))
            if twice:
                raise ValueError(f"{path}: keys already defined: {', '.join(twice[:5])}")
            known.update({str(key): str(text) for key, text in entries.items()})

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.messages))

    def text(self, language: str, key: str, **values: Any) -> str:
        """The message ``key`` in ``language`` (Japanese when that language lacks it),
        with ``{name}`` fields filled from ``values``."""
        found = self.messages.get(language, {}).get(key)
        if found is None:
            found = self.messages.get(DEFAULT_LANGUAGE, {}).get(key)
        if found is None:
            log.warning("no message %r", key)
            return key
        return found.format_map(values) if values else found


def choose_language(
    request: Request,
    supported: Iterable[str],
    *,
    follow_browser: bool = False,
) -> str:
    """The page's language: the person's choice (cookie), then — where the pages allow
    it — the browser's Accept-Language, then Japanese."""
    offered = tuple(supported)
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in offered:
        return chosen
    if follow_browser:
        for wanted in _accepted(request.headers.get("accept-language", "")):
            for language in offered:
                if wanted == language or wanted.split("-")[0] == language:
                    return language
    return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in offered else offered[0]


def _accepted(header: str) -> list[str]:
    """Accept-Language's languages, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if name and quality > 0:
            weighted.append((-quality, position, name.strip().lower()))
    return [name for _, _, name in sorted(weighted)]


def localized(detail: str, language: str) -> str:
    """The platform's messages read "日本語 / English": the part in ``language``."""
    japanese, separator, english = detail.partition(" / ")
    if not separator:
        return detail
    return english if language == "en" else japanese
