"""axe-core on the supplies lists a staff member opens from the menu (shelters,
requests, stock, shipments, allocation): tests/console/staff/test_supplies.py checks the
pages of one record as it works through them."""

from __future__ import annotations

import re
from typing import Any

from tests.console.support.browser import ConsoleNode, assert_accessible, sign_in


def test_every_supplies_list_in_the_menu_passes_axe(node: ConsoleNode, page: Any) -> None:
    sign_in(page, node)
    page.wait_for_url(re.compile(r"/console/t/041009/$"))
    page.get_by_role("link", name="物資・避難所").click()
    menu = page.get_by_role("navigation", name="物資のメニュー")
    names = menu.get_by_role("link").all_inner_texts()
    assert len(names) >= 5, names
    for name in names:
        menu.get_by_role("link", name=name, exact=True).click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).count() == 1, name
        assert_accessible(page)
