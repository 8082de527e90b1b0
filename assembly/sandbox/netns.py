"""Each sandbox site in a network namespace of its own, so a drill can cut a site off.

``yui sandbox up --netns`` (root only) puts every process of a site — node, etcd member,
Redis, S3 and whatever else the plan starts for that site — into the namespace
``yui-<short>-<site>`` (``<short>``: four hex digits of the sandbox folder). A veth pair
joins it to the root namespace: the root end is ``10.B.N.1/30``, the site end
``10.B.N.2/30`` (``B`` a free second octet, ``N`` the site's number). Forwarding is
switched on for our root ends only (``net.ipv4.conf.<veth>.forwarding``; the host's
``ip_forward`` is left alone), and each namespace routes our ``10.B.0.0/16`` block through
its root end, so sites reach each other through the root namespace.

A partition of site S deletes that one route in S's namespace: S keeps its connected /30,
so clients in the root namespace (the drill's load, an operator's curl) still reach it,
but S reaches no other site or etcd member, and — with the strict reverse-path filter
set in S's namespace — their packets to S are dropped on arrival, even on connections
opened before the cut.
Healing adds the route back. Nothing here touches an address outside our namespaces.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assembly.sandbox.plan import SandboxPlan
from assembly.sandbox.processes import ProcessRecord

__all__ = [
    "LAYOUT_FILE",
    "NetLayout",
    "NetnsError",
    "NetnsPlan",
    "SiteNet",
    "create",
    "cut",
    "destroy",
    "heal",
    "is_cut",
    "load_layout",
    "plan_layout",
    "relocate",
    "unavailable",
]

#: the sandbox folder's record of its namespaces (read by down, partition, heal)
LAYOUT_FILE = "netns.json"
LOOPBACK = "127.0.0.1"
_HOST_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


class NetnsError(RuntimeError):
    pass


@dataclass(frozen=True)
class SiteNet:
    site: str
    namespace: str
    veth: str  # root end, in the root namespace
    peer: str  # site end, inside the namespace
    gateway: str  # 10.B.N.1
    address: str  # 10.B.N.2


@dataclass(frozen=True)
class NetLayout:
    short: str
    block: str  # "10.B.0.0/16": every site address is in it
    sites: tuple[SiteNet, ...]

    def site(self, name: str) -> SiteNet:
        for site in self.sites:
            if site.site == name:
                return site
        raise NetnsError(f"サイト {name} はありません / no site {name} in the network layout")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> NetLayout:
        data = json.loads(text)
        return cls(data["short"], data["block"], tuple(SiteNet(**s) for s in data["sites"]))


def unavailable() -> tuple[str, str] | None:
    """Why namespaces cannot be made here, as (日本語, English); None when they can."""
    if os.geteuid() != 0:
        return (
            "root 権限で実行されていません（ネットワーク名前空間の作成に必要）",
            "not running as root (needed to create network namespaces)",
        )
    if shutil.which("ip") is None:
        return (
            "`ip` コマンドがありません（apt-get install iproute2）",
            "the `ip` command is missing (apt-get install iproute2)",
        )
    if _ip("netns", "list", check=False).returncode:
        return ("`ip netns` が使えません", "`ip netns` does not work here")
    return None


def short_of(root: Path) -> str:
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:4]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607 - fixed argv, no shell
    if check and result.returncode != 0:
        raise NetnsError(
            f"ip {' '.join(args)} が失敗しました / failed: {result.stderr.strip() or result.stdout}"
        )
    return result


def _block_in_use(octet: int) -> bool:
    prefix = f"10.{octet}."
    used = _ip("-4", "-o", "addr", "show", check=False).stdout
    used += _ip("-4", "route", "show", "table", "all", check=False).stdout
    return prefix in used or "10.0.0.0/8" in used


def plan_layout(root: Path, sites: Sequence[str]) -> NetLayout:
    """Names and addresses for ``sites``; the second octet is the first free one from a
    value derived from the folder (so two sandboxes never share one)."""
    short = short_of(root)
    start = int(short, 16) % 50
    for step in range(50):
        octet = 200 + (start + step) % 50
        if not _block_in_use(octet):
            break
    else:
        raise NetnsError(
            "空いている 10.200–249.0.0/16 がありません / no free block in 10.200-249.0.0/16"
        )
    return NetLayout(
        short=short,
        block=f"10.{octet}.0.0/16",
        sites=tuple(
            SiteNet(
                site=name,
                namespace=f"yui-{short}-{name}",
                veth=f"yv{short}{number}r",
                peer=f"yv{short}{number}s",
                gateway=f"10.{octet}.{number}.1",
                address=f"10.{octet}.{number}.2",
            )
            for number, name in enumerate(sites, start=1)
        ),
    )


def create(layout: NetLayout) -> None:
    """Namespaces, veth pairs, addresses and routes; anything left by an earlier run of
    the same sandbox folder is removed first."""
    destroy(layout.short)
    for net in layout.sites:
        _ip("netns", "add", net.namespace)
        _ip(
            "link",
            "add",
            net.veth,
            "type",
            "veth",
            "peer",
            "name",
            net.peer,
            "netns",
            net.namespace,
        )
        _ip("addr", "add", f"{net.gateway}/30", "dev", net.veth)
        _ip("link", "set", net.veth, "up")
        Path(f"/proc/sys/net/ipv4/conf/{net.veth}/forwarding").write_text("1\n")
        inside = ("-n", net.namespace)
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "addr", "add", f"{net.address}/30", "dev", net.peer)
        _ip(*inside, "link", "set", net.peer, "up")
        # strict reverse-path filter: once the route is cut, packets from the other sites
        # (no route back) are dropped on arrival, so the partition holds in both directions
        for conf in ("all", net.peer):
            _ip(
                "netns", "exec", net.namespace, "sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=1"
            )
        heal(layout, net.site)


def destroy(short: str) -> list[str]:
    """Remove every namespace and root-end veth of the sandbox ``short`` (idempotent)."""
    removed = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"yui-{short}-"):
            _ip("netns", "delete", name, check=False)
            removed.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":", 2)
        name = parts[1].strip().split("@", 1)[0] if len(parts) > 1 else ""
        if name.startswith(f"yv{short}"):
            _ip("link", "delete", name, check=False)
    return removed


def cut(layout: NetLayout, site: str, keep: Sequence[str] = ()) -> None:
    """Partition ``site``: only its connected /30 (to the root namespace) is left, and a
    route to each site in ``keep`` (the other side of a partition that splits the sites
    in two groups: a group's members still reach each other, and nothing else)."""
    net = layout.site(site)
    result = _ip("-n", net.namespace, "route", "delete", layout.block, check=False)
    if result.returncode and "No such process" not in result.stderr:  # already cut: fine
        raise NetnsError(f"分断できません / cannot cut {site}: {result.stderr.strip()}")
    for other in keep:
        if other != site:
            address = layout.site(other).address
            _ip("-n", net.namespace, "route", "replace", f"{address}/32", "via", net.gateway)


def cut_group(layout: NetLayout, group: Sequence[str]) -> None:
    """Split the sites in two: ``group`` on one side, reaching each other, the rest on
    the other. Cutting the group's routes suffices (as for one site): the others' packets
    still arrive, but find no way back (rp_filter drops them). Clients in the root
    namespace still reach every site."""
    for site in group:
        cut(layout, site, keep=group)


def heal(layout: NetLayout, site: str) -> None:
    net = layout.site(site)
    _ip("-n", net.namespace, "route", "replace", layout.block, "via", net.gateway)
    for other in layout.sites:  # the routes of a group cut, if any
        _ip("-n", net.namespace, "route", "delete", f"{other.address}/32", check=False)


def is_cut(layout: NetLayout, site: str) -> bool:
    net = layout.site(site)
    routes = _ip("-n", net.namespace, "route", "show", check=False).stdout
    return layout.block not in routes


def load_layout(root: Path) -> NetLayout | None:
    path = root / LAYOUT_FILE
    try:
        return NetLayout.from_json(path.read_text())
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class NetnsPlan(SandboxPlan):
    """The loopback plan moved into namespaces: every ``127.0.0.1:<port>`` becomes the
    address of the site that owns the port, every process runs in its site's namespace."""

    layout: NetLayout | None = None

    @property
    def net(self) -> NetLayout:
        if self.layout is None:
            raise NetnsError("no network layout")
        return self.layout

    def _owner(self) -> dict[int, str]:
        owners: dict[int, str] = {}
        for site, ports in self.ports.items():
            for port in dataclasses.astuple(ports):
                owners[int(port)] = self.net.site(site).address
        return owners

    def _move(self, text: str, own: str, owners: dict[int, str]) -> str:
        if text == LOOPBACK:  # a bind address: the site's own
            return own
        return _HOST_PORT.sub(lambda m: f"{owners.get(int(m[1]), own)}:{m[1]}", text)

    @property
    def etcd_endpoints(self) -> str:
        owners = self._owner()
        return self._move(super().etcd_endpoints, LOOPBACK, owners)

    def processes(self) -> list[ProcessRecord]:
        owners = self._owner()
        records = super().processes()
        for record in records:
            net = self.net.site(record.site)
            argv = [self._move(arg, net.address, owners) for arg in record.argv]
            if record.role == "redis" and "--protected-mode" in argv:
                # protected mode refuses every address but loopback; the namespace address is
                # reachable only from this machine's root namespace and our other namespaces
                argv[argv.index("--protected-mode") + 1] = "no"
            if record.role == "etcd" and not any(a.startswith("--pre-vote") for a in argv):
                # a member back from a partition must not depose the healthy leader with the
                # terms it ran up alone (Raft pre-vote; default off in etcd 3.4)
                argv.append("--pre-vote=true")
            record.argv = ["ip", "netns", "exec", net.namespace, *argv]
            record.env = {k: self._move(v, net.address, owners) for k, v in record.env.items()}
            if record.role == "node":
                record.env["YUI_HOST"] = net.address
            record.host = net.address
        return records


def relocate(plan: SandboxPlan, layout: NetLayout) -> NetnsPlan:
    """``plan`` with the site URLs and every process moved into ``layout``'s namespaces."""
    sites = tuple(
        s.model_copy(
            update={
                # the plan's scheme: https when the sandbox runs with TLS (the default)
                "url": f"{str(s.url).split('://', 1)[0]}://{layout.site(s.name).address}:"
                f"{plan.ports[s.name].node}"
            }
        )
        for s in plan.sites
    )
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    return NetnsPlan(**{**fields, "sites": sites, "layout": layout})
