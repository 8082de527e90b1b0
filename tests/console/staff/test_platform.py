"""The operators' platform pages: closed without the operator pass, "no cluster" on a
lone node, and (whole sandbox) an operator switches a tenant's primary from the page,
through its confirmation step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from assembly.sandbox.runner import Sandbox
from tests.console.support.browser import ConsoleNode, assert_accessible, screenshot
from tests.support.sandboxes import demo_sandbox

OPERATOR_PASS = "operator-pass-for-the-console-tests"


def test_a_lone_node_has_no_cluster_to_show(node: ConsoleNode, page: Any) -> None:
    page.goto(f"{node.url}/console/platform")
    assert "単独で動いています" in page.get_by_test_id("no-cluster").inner_text()
    assert_accessible(page)


def test_the_operator_sign_in_refuses_a_wrong_pass(node: ConsoleNode, page: Any) -> None:
    page.goto(f"{node.url}/console/platform/sign-in")
    page.get_by_label("運用者の合言葉").fill("not the pass at all, not at all")
    page.get_by_role("button", name="運用者としてログイン").click()
    assert "合言葉が違います" in page.get_by_test_id("operator-error").inner_text()
    assert_accessible(page)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # In a thread of its own: the seeding runs an event loop, and Playwright's sync API
    # (the browser, which another test may have started) holds one in this thread.
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(1) as worker:
        env.setenv("YUI_CONSOLE_OPERATOR_TOKEN", OPERATOR_PASS)  # the nodes inherit it
        # plain HTTP on localhost: a secure context for the browser, as in the other tests
        box, _demo = worker.submit(
            demo_sandbox, tmp_path_factory, "console-sandbox", 18851, residents=5, tls=False
        ).result()
    try:
        yield box
    finally:
        with ThreadPoolExecutor(1) as worker:
            worker.submit(box.down).result()


def _node_url(box: Sandbox) -> str:
    node = next(r for r in box.state.load() if r.role == "node")
    return f"http://localhost:{node.port}"


@pytest.mark.sandbox
def test_an_operator_switches_a_tenants_primary_from_the_platform_page(
    sandbox: Sandbox, page: Any
) -> None:
    url = _node_url(sandbox)
    page.goto(f"{url}/console/platform")
    page.wait_for_url(re.compile(r"/console/platform/sign-in$"))
    page.get_by_label("運用者の合言葉").fill(OPERATOR_PASS)
    page.get_by_role("button", name="運用者としてログイン").click()
    page.wait_for_url(re.compile(r"/console/platform$"))
    sites = page.get_by_test_id("sites").inner_text()
    assert sites.count("稼働中") == 3
    tenant = page.get_by_test_id("tenants").locator("tbody tr").first.get_attribute("data-tenant")
    before = page.get_by_test_id(f"primary-{tenant}").inner_text()
    screenshot(page, "platform")
    assert_accessible(page)
    target = page.get_by_label(f"{tenant} の主系の切替先").locator("option").first.inner_text()
    assert target != before
    page.get_by_role("button", name=f"{tenant} の主系の切替先").click()
    page.wait_for_url(re.compile(r"/console/platform/moves/confirm\?"))
    assert_accessible(page)
    # the confirmation step: a wrong code moves nothing
    page.get_by_label(re.compile("確認のため自治体コード")).fill("000000")
    page.get_by_role("button", name="切り替える").click()
    assert "一致しません" in page.get_by_test_id("move-error").inner_text()
    page.get_by_label(re.compile("確認のため自治体コード")).fill(tenant)
    page.get_by_role("button", name="切り替える").click()
    done = page.get_by_test_id("move-done")
    done.wait_for(timeout=30_000)
    assert f"{before} から {target} へ" in done.inner_text()
    screenshot(page, "platform-moved")
    # every site now routes the tenant's writes to the new primary
    answer = httpx.get(f"{url}/api/v1/{tenant}/auth/me", headers={"x-yui-consistency": "primary"})
    assert answer.headers.get("x-yui-served-by") == target or answer.status_code == 401
    page.goto(f"{url}/console/platform")
    assert page.get_by_test_id(f"primary-{tenant}").inner_text() == target
