"""The message catalogue: every message a page names exists in Japanese and English, and
the language switch turns a page English."""

from __future__ import annotations

import re
from pathlib import Path

from console.app import HERE
from console.common.web import ConsoleKit
from tests.console.support.browser import ConsoleNode

MESSAGE_NAMES = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


def kit() -> ConsoleKit:
    made = ConsoleKit(site="s", signing_key=b"k" * 32)
    for folder in ("common", "staff", "citizen"):
        made.add_pages(folder, HERE / folder)
    return made


def test_every_message_a_template_names_is_in_both_languages() -> None:
    messages = kit().catalogue.messages
    assert set(messages) >= {"ja", "en"}
    named = {
        name
        for template in Path(HERE).glob("*/templates/*.html")
        for name in MESSAGE_NAMES.findall(template.read_text(encoding="utf-8"))
    }
    assert named, "no message found: the pattern no longer matches the templates"
    for language in ("ja", "en"):
        missing = sorted(named - set(messages[language]))
        assert not missing, f"{language}: {missing}"
    assert set(messages["ja"]) == set(messages["en"])


def test_the_language_switch_makes_the_pages_english(node: ConsoleNode) -> None:
    import httpx

    with httpx.Client(base_url=node.url) as client:
        page = client.get("/console/sign-in")
        assert '<html lang="ja">' in page.text and "ログイン" in page.text
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert token is not None
        # the cookies are Secure: httpx sends them only over https, so by hand here
        session = re.search(r"yui_console=([^;]+)", page.headers["set-cookie"])
        assert session is not None
        switched = client.post(
            "/console/language",
            data={"csrf_token": token.group(1), "language": "en", "next": "/console/sign-in"},
            headers={"cookie": f"yui_console={session.group(1)}"},
        )
        assert switched.status_code == 303
        chosen = re.search(r"yui_lang=([a-z]+)", switched.headers["set-cookie"])
        assert chosen is not None and chosen.group(1) == "en"
        english = client.get("/console/sign-in", headers={"cookie": "yui_lang=en"})
        assert '<html lang="en">' in english.text and "Municipality code" in english.text
        refused = client.post("/console/language", data={"language": "en"})
        assert refused.status_code == 403
