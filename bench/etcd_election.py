"""How long etcd answers nothing after its raft leader is killed (issue 11), for the
sandbox's election timing against etcd's defaults, measured in the same run.

    python bench/etcd_election.py [--trials 8] [--heartbeat 50 --election 500]

Starts a three-member etcd cluster per timing (etcd's defaults, heartbeat 100 ms and
election timeout 1,000 ms, are the baseline), then, ``--trials`` times, kills the leader
with SIGKILL and times the first write that a surviving member accepts, writing every
10 ms. The trials alternate A B A B, so that the machine's noise falls on both. The last
line is JSON: each timing's silences, medians and maxima, and the ratio of the medians.

A Yui lease holder loses its lease in a silence longer than the timing's
``lapse_silence_seconds`` (1.7 s in the sandbox: docs/failover.md), so the maximum is
what matters for a failover's tail.
"""

# ruff: noqa: E402 - the path is mended before the imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import base64
import json
import os
import statistics
import tempfile
import time
import urllib.request
from contextlib import ExitStack

from assembly.sandbox.etcd import LocalEtcdCluster

BASELINE = (100, 1000)


def _put(client_url: str) -> bool:
    body = json.dumps(
        {"key": base64.b64encode(b"bench").decode(), "value": base64.b64encode(b"1").decode()}
    ).encode()
    request = urllib.request.Request(
        f"{client_url}/v3/kv/put", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=0.3) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _silence(cluster: LocalEtcdCluster) -> float:
    """Kill the leader; seconds until a survivor accepts a write. The leader comes back."""
    cluster.wait_healthy()
    time.sleep(1.0)  # a settled cluster: every member has heard the leader
    leader = cluster.leader_index()
    if leader is None:
        raise RuntimeError("no etcd leader")
    survivor = cluster.member((leader + 1) % cluster.size).client_url
    if not _put(survivor):
        raise RuntimeError("the survivor refused a write before the kill")
    started = time.monotonic()
    cluster.stop_member(leader, kill=True)
    while not _put(survivor):
        time.sleep(0.01)
    silence = time.monotonic() - started
    cluster.start_member(leader)
    return silence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--heartbeat", type=int, default=50, help="ms (the sandbox's)")
    parser.add_argument("--election", type=int, default=500, help="ms (the sandbox's)")
    args = parser.parse_args()
    timings = {"baseline": BASELINE, "candidate": (args.heartbeat, args.election)}
    silences: dict[str, list[float]] = {name: [] for name in timings}
    with tempfile.TemporaryDirectory(prefix="yui-bench-etcd-") as root, ExitStack() as stack:
        clusters = {}
        for name, (heartbeat, election) in timings.items():
            cluster = LocalEtcdCluster(
                Path(root) / name, heartbeat_interval_ms=heartbeat, election_timeout_ms=election
            )
            stack.callback(cluster.stop_all, kill=True)
            cluster.start()
            clusters[name] = cluster
        for trial in range(args.trials):
            for name, cluster in clusters.items():  # A B A B
                silence = _silence(cluster)
                silences[name].append(round(silence, 3))
                print(f"trial {trial + 1} {name}: {silence:.3f} s", file=sys.stderr)
    result = {
        name: {
            "heartbeat_ms": timings[name][0],
            "election_timeout_ms": timings[name][1],
            "silences_s": sorted(values),
            "median_s": round(statistics.median(values), 3),
            "max_s": max(values),
        }
        for name, values in silences.items()
    }
    result["median_ratio"] = round(
        result["candidate"]["median_s"] / result["baseline"]["median_s"], 3
    )
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
