"""Denial of service: hostile anonymous clients do not slow down everyone else.

While 20 anonymous clients (another process, :mod:`tests.support.hostile_clients`) send
fragment bombs, deeply nested documents, bodies of the maximum size and wrong logins
for 30 s, the
real server (``aerofs serve``) answers ``/healthz`` with a p99 under 100 ms and an
authenticated viewer's query with a p99 under 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_server import ROOT, LiveServer, live_server

ATTACK_SECONDS = 30
CLIENTS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    dagster_yaml = (ROOT / "dagster_home" / "dagster.yaml").read_text()
    with live_server(tmp_path_factory.mktemp("dos"), daemon=False, dagster_yaml=dagster_yaml) as s:
        s.add_user("vera", "viewer", "vera-viewer-password")
        yield s


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def poll(url: str, headers: dict[str, str], every: float, stop: threading.Event) -> list[float]:
    """Request ``url`` every ``every`` seconds until ``stop``; the latencies (all 200)."""
    latencies: list[float] = []
    with httpx.Client(headers=headers, timeout=30) as client:
        while not stop.is_set():
            started = time.monotonic()
            if url.endswith("/graphql"):
                response = client.post(url, json={"query": "{ version }"})
            else:
                response = client.get(url)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            stop.wait(every)
    return latencies


def test_hostile_anonymous_clients_do_not_stall_the_server(server: LiveServer) -> None:
    token = server.create_token("vera")
    viewer = {"authorization": f"Bearer {token}"}
    assert httpx.post(f"{server.url}/graphql", json={"query": "{ version }"}, headers=viewer)
    command = ["-m", "tests.support.hostile_clients", server.url, str(ATTACK_SECONDS)]
    attack = subprocess.Popen(
        [sys.executable, *command, str(CLIENTS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)  # let the attack ramp up before measuring
    stop = threading.Event()
    results: dict[str, list[float]] = {}
    threads = [
        threading.Thread(
            target=lambda n=name, u=url, h=headers, e=every: results.__setitem__(
                n, poll(u, h, e, stop)
            )
        )
        for name, url, headers, every in (
            ("healthz", f"{server.url}/healthz", {}, 0.02),
            ("viewer", f"{server.url}/graphql", viewer, 0.1),
        )
    ]
    for thread in threads:
        thread.start()
    out, _ = attack.communicate(timeout=ATTACK_SECONDS + 60)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert attack.returncode == 0
    sent = json.loads(out)
    print(
        f"attack: {sent}; healthz p99 {p99(results['healthz']) * 1000:.1f} ms "
        f"({len(results['healthz'])} samples), viewer p99 "
        f"{p99(results['viewer']) * 1000:.1f} ms ({len(results['viewer'])} samples)"
    )
    refused = sent.get("401", 0) + sent.get("413", 0) + sent.get("429", 0)
    assert refused >= 20 * CLIENTS, sent  # the attack really ran
    assert set(sent) <= {"401", "413", "429", "reset"}, sent  # nothing got through
    assert len(results["healthz"]) > 200 and len(results["viewer"]) > 50
    assert p99(results["healthz"]) < 0.1
    assert p99(results["viewer"]) < 1.0
