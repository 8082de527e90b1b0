"""The operators' platform pages: closed without the operator pass, "no cluster" on a
lone node, and (whole sandbox) an operator switches a tenant's primary from the page,
then evacuates a site, each through its confirmation step and each in the moved
tenants' audit logs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from assembly.sandbox.demo import DemoTenant
from assembly.sandbox.runner import Sandbox
from tests.console.support.browser import ConsoleNode, assert_accessible, screenshot
from tests.support.sandboxes import demo_sandbox

OPERATOR_PASS = "operator-pass-for-the-console-tests"
OPERATOR = "運用 太郎"


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
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, list[DemoTenant]]]:
    # In a thread of its own: the seeding runs an event loop, and Playwright's sync API
    # (the browser, which another test may have started) holds one in this thread.
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(1) as worker:
        env.setenv("YUI_CONSOLE_OPERATOR_TOKEN", OPERATOR_PASS)  # the nodes inherit it
        # plain HTTP on localhost: a secure context for the browser, as in the other tests
        box, demo = worker.submit(
            demo_sandbox, tmp_path_factory, "console-sandbox", 18851, residents=5, tls=False
        ).result()
    try:
        yield box, demo
    finally:
        with ThreadPoolExecutor(1) as worker:
            worker.submit(box.down).result()


def _node_url(box: Sandbox) -> str:
    node = next(r for r in box.state.load() if r.role == "node")
    return f"http://localhost:{node.port}"


@pytest.mark.sandbox
def test_an_operator_switches_a_tenants_primary_from_the_platform_page(
    sandbox: tuple[Sandbox, list[DemoTenant]], page: Any
) -> None:
    box, demo = sandbox
    url = _node_url(box)
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
    page.get_by_label(re.compile("運用者の氏名")).fill(OPERATOR)
    page.get_by_label(re.compile("確認のため自治体コード")).fill("000000")
    page.get_by_role("button", name="切り替える").click()
    assert "一致しません" in page.get_by_test_id("move-error").inner_text()
    assert page.get_by_label(re.compile("運用者の氏名")).input_value() == OPERATOR
    page.get_by_label(re.compile("確認のため自治体コード")).fill(tenant)
    page.get_by_role("button", name="切り替える").click()
    done = page.get_by_test_id("move-done")
    done.wait_for(timeout=30_000)
    assert f"{before} から {target} へ" in done.inner_text()
    assert "監査ログに記録しました" in page.get_by_test_id("move-audited").inner_text()
    screenshot(page, "platform-moved")
    assert_accessible(page)
    # every site now routes the tenant's writes to the new primary
    answer = httpx.get(f"{url}/api/v1/{tenant}/auth/me", headers={"x-yui-consistency": "primary"})
    assert answer.headers.get("x-yui-served-by") == target or answer.status_code == 401
    page.goto(f"{url}/console/platform")
    assert page.get_by_test_id(f"primary-{tenant}").inner_text() == target
    [moved] = _audited(url, demo, tenant, "platform.switchover")
    assert moved["actor"] == f"operator:{OPERATOR}"
    assert (moved["detail"]["source"], moved["detail"]["target"]) == (before, target)

    # the evacuation of the site that now holds the tenant's primary
    page.goto(f"{url}/console/platform")
    page.get_by_role("button", name=f"{target} からの退避の確認へ").click()
    page.wait_for_url(re.compile(r"/console/platform/evacuations/confirm\?site="))
    planned = page.get_by_test_id("plan").inner_text()
    assert tenant in planned
    assert_accessible(page)
    page.get_by_label(re.compile("運用者の氏名")).fill(OPERATOR)
    page.get_by_label(re.compile("理由")).fill("計画停電の訓練")
    page.get_by_label(re.compile("確認のため拠点名")).fill(target)
    page.get_by_role("button", name="退避する").click()
    done = page.get_by_test_id("evacuation-done")
    done.wait_for(timeout=60_000)
    assert target in done.inner_text()
    assert tenant in page.get_by_test_id("moved").inner_text()
    assert_accessible(page)
    assert "監査ログに記録しました" in page.get_by_test_id("audited").inner_text()
    screenshot(page, "platform-evacuated")
    page.goto(f"{url}/console/platform")
    primaries = [
        row.inner_text()
        for row in page.get_by_test_id("tenants").locator("[data-testid^=primary-]").all()
    ]
    assert primaries and target not in primaries
    # the quarantine of another site, read through its signed endpoint
    page.goto(f"{url}/console/platform/quarantine?tenant={tenant}&site={target}")
    assert page.get_by_test_id("quarantine-empty").is_visible()
    assert_accessible(page)
    [evacuated] = _audited(url, demo, tenant, "platform.evacuation")
    assert evacuated["detail"]["evacuated_site"] == target
    assert evacuated["detail"]["reason"] == "計画停電の訓練"


def _audited(url: str, demo: list[DemoTenant], tenant: str, action: str) -> list[dict[str, Any]]:
    """The tenant's audit entries of ``action``, read by its admin through the API."""
    password = next(t.admin_password for t in demo if t.code == tenant)
    with httpx.Client(base_url=f"{url}/api/v1/{tenant}", timeout=30) as api:
        signed_in = api.post("/auth/token", json={"username": "admin", "password": password})
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]
        answer = api.get(
            "/audit",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {token}", "x-yui-consistency": "primary"},
        )
        assert answer.status_code == 200, answer.text
    return [entry for entry in answer.json() if entry["action"] == action]
