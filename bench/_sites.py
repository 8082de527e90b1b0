"""Site nodes for the replication benchmarks (bench/ingest.py, bench/bootstrap.py).

Each node is its own process (uvicorn), started by running the benchmark's own script
with ``--node CONFIG SITE``; the config is a JSON file with the sites (port and
database URL), the signing keys' folder and the benchmark's own settings. `Sites`
starts them, waits until they answer, tells how much CPU each used, and stops them.
`serve_node` is the child's side: the site's app with replication, served by uvicorn
(under cProfile when YUI_BENCH_PROFILE names a file prefix).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


def _import_failover_package() -> None:
    """bench/failover.py (a benchmark) would shadow the `failover` package for every
    script here, since a script's own folder comes first on sys.path: import the package
    with the folder off the path, then put the path back (spawned processes re-import
    the script, and with it this module, from that folder)."""
    here = Path(__file__).resolve().parent
    path = list(sys.path)
    sys.path[:] = [entry for entry in path if Path(entry or ".").resolve() != here]
    try:
        importlib.import_module("failover")
    finally:
        sys.path[:] = path


_import_failover_package()

#: how long a stopping node may take (a profiled one writes its profile first)
STOP_SECONDS = 60.0 if os.environ.get("YUI_BENCH_PROFILE") else 15.0


def write_config(
    root: Path, names: Sequence[str], databases: Callable[[str], str], **extra: Any
) -> Path:
    """Keys for every site, free ports, and the config file the nodes read."""
    from assembly.sandbox.etcd import free_ports
    from replication.protocol.signing import generate_site_keys

    keys = root / "keys"
    generate_site_keys(keys, list(names))
    if extra.get("tls"):  # the sandbox's kind of private CA and per-site certificates
        from yui.tls import generate_pki

        generate_pki(keys / "tls", list(names))
    ports = free_ports(len(names))
    config = {
        "root": str(root),
        "keys": str(keys),
        "sites": {
            name: {"port": port, "db": databases(name)}
            for name, port in zip(names, ports, strict=True)
        },
        **extra,
    }
    path = root / "bench.json"
    path.write_text(json.dumps(config))
    return path


def peer_urls(config: dict[str, Any]) -> dict[str, str]:
    scheme = "https" if config.get("tls") else "http"
    return {name: f"{scheme}://127.0.0.1:{site['port']}" for name, site in config["sites"].items()}


def tls_files(config: dict[str, Any], name: str) -> Any:
    """A site's (or the operator's) TLS files of a --tls run; None without TLS."""
    if not config.get("tls"):
        return None
    from yui.tls import TlsFiles

    directory = Path(config["keys"]) / "tls"
    return TlsFiles(directory / "ca.pem", directory / f"{name}.crt", directory / f"{name}.key")


def wait_ready(port: int, timeout: float = 120.0, tls: Any = None) -> None:
    scheme = "https" if tls is not None else "http"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            url = f"{scheme}://127.0.0.1:{port}/healthz"
            with urllib.request.urlopen(url, timeout=1, context=tls) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"node on port {port} did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sites:
    """The node processes of one run: ``with Sites(script, config_path) as sites:``."""

    def __init__(self, script: str, config_path: Path, names: Sequence[str] | None = None) -> None:
        self.config: dict[str, Any] = json.loads(config_path.read_text())
        self.names = list(names or self.config["sites"])
        self.ports = [self.config["sites"][name]["port"] for name in self.names]
        root = Path(self.config["root"])
        self.processes = {
            name: subprocess.Popen(
                [sys.executable, script, "--node", str(config_path), name],
                stdout=subprocess.DEVNULL,
                stderr=(root / f"{name}.log").open("wb"),
                start_new_session=True,
            )
            for name in self.names
        }

    def __enter__(self) -> Sites:
        files = tls_files(self.config, "operator")
        try:
            for port in self.ports:
                wait_ready(port, tls=files.client_context() if files else None)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def cpu_seconds(self) -> dict[str, float]:
        return {name: _cpu_seconds(process.pid) for name, process in self.processes.items()}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def include_among_services(app: Any, router: Any) -> None:
    """Include a bench's router where the services' routers are: at the head of the API,
    after the probes and replication. Routes are matched in order, each candidate costing
    ~10 us: a router included after the console's ~100 routes pays ~2 ms a request more
    than a service's route does (the route table, not the write path)."""
    from assembly.site import API_PREFIX

    app.include_router(router)
    routes = app.router.routes
    included = routes.pop()
    first_api = next(
        (
            index
            for index, route in enumerate(routes)
            if getattr(getattr(route, "include_context", None), "prefix", None) == API_PREFIX
        ),
        len(routes),
    )
    routes.insert(first_api, included)


def serve_node(
    config_path: str,
    name: str,
    *,
    placements: Any,
    replicate: bool = True,
    replication: dict[str, Any] | None = None,
    prepare: Callable[[Any], None] | None = None,
    customize: Callable[[Any], None] | None = None,
    log_level: str = "WARNING",
) -> None:
    """Child: the site ``name`` of the config, with replication (signed, placements from
    ``placements``) unless ``replicate`` is false. ``prepare(db)`` runs after the
    migrations, ``customize(app)`` before serving."""
    import logging

    import uvicorn

    from assembly.schema import SCHEMA_HISTORY
    from assembly.site import create_app
    from replication.node import ReplicationNode
    from replication.ports import StaticPeers
    from replication.primary.config import ReplicationConfig
    from replication.protocol.signing import TrustStore, load_site_key
    from yui.db.database import Database
    from yui.settings import load_settings
    from yui.tls import use_for_peers

    config = json.loads(Path(config_path).read_text())
    site = config["sites"][name]
    tls = tls_files(config, name)
    use_for_peers(tls)  # before the replication node makes its clients
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(
        site=name,
        data_dir=config["root"],
        database_url=site["db"],
        token_secret="bench-" + "s" * 40,
        log_json=False,
        log_level="WARNING",
    )
    db = Database(site["db"])
    db.migrate(SCHEMA_HISTORY)
    if prepare is not None:
        prepare(db)
    node = None
    if replicate:
        keys = Path(config["keys"])
        node = ReplicationNode(
            site=name,
            db=db,
            key=load_site_key(name, keys / f"{name}.pem"),
            trust=TrustStore.load(keys / "trusted-sites.toml"),
            placements=placements,
            peers=StaticPeers(peer_urls(config)),
            config=ReplicationConfig(**(replication or {})),
        )
    app = create_app(settings, db, migrate=False, replication=node, serving=True)
    if customize is not None:
        customize(app)

    def serve() -> None:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=site["port"],
            log_level="warning",
            access_log=False,
            **(tls.uvicorn_options() if tls else {}),
        )

    if profile := os.environ.get("YUI_BENCH_PROFILE"):  # a cProfile of this node, on exit
        import cProfile

        # uvicorn re-raises SIGTERM after its graceful shutdown: end with SystemExit
        # instead, so that runctx writes the profile
        signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
        cProfile.runctx("serve()", globals(), {"serve": serve}, f"{profile}.{name}")
    else:
        serve()
