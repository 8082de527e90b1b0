"""The sandbox plan moved into network namespaces (`yui sandbox up --netns`): every address
of the plan becomes its site's namespace address. Pure: no root, no namespace is made."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assembly.sandbox.netns import NetLayout, SiteNet, relocate
from assembly.sandbox.plan import make_plan


def _layout(sites: list[str]) -> NetLayout:
    return NetLayout(
        short="abcd",
        block="10.231.0.0/16",
        sites=tuple(
            SiteNet(
                name,
                f"yui-abcd-{name}",
                f"yvabcd{n}r",
                f"yvabcd{n}s",
                f"10.231.{n}.1",
                f"10.231.{n}.2",
            )
            for n, name in enumerate(sites, start=1)
        ),
    )


def test_every_process_runs_in_its_site_namespace_on_its_site_address(tmp_path: Path) -> None:
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed")
    plain = make_plan(tmp_path, first_node_port=18561)
    layout = _layout([s.name for s in plain.sites])
    plan = relocate(plain, layout)
    address = {n.site: n.address for n in layout.sites}
    assert [s.url for s in plan.sites] == [
        f"http://{address[s.name]}:{plain.ports[s.name].node}" for s in plain.sites
    ]
    assert "127.0.0.1" not in plan.etcd_endpoints + plan.topology_toml()
    for record in plan.processes():
        assert record.argv[:4] == ["ip", "netns", "exec", layout.site(record.site).namespace]
        assert record.host == address[record.site]
        text = " ".join([*record.argv, *record.env.values()])
        assert "127.0.0.1" not in text, record.name
        if record.role == "node":
            assert record.env["YUI_HOST"] == address[record.site]
            assert record.env["YUI_ETCD_ENDPOINTS"] == plan.etcd_endpoints
        if record.role == "etcd":
            assert "--pre-vote=true" in record.argv
            own = f"http://{address[record.site]}:{plain.ports[record.site].etcd_client}"
            assert f"--listen-client-urls={own}" in record.argv
    assert plan.database_url("aws-tokyo") == plain.database_url("aws-tokyo")
