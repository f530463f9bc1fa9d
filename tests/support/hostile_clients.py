"""Anonymous hostile clients for the denial-of-service test (run as a process of its own).

``python -m tests.support.hostile_clients URL SECONDS CLIENTS`` opens CLIENTS keep-alive
connections to URL and, until SECONDS have passed, each sends one hostile request after
the other without credentials: fragment bombs, deeply nested GraphQL, JSON nested 50,000
deep, bodies of the gateway's maximum size (2 MiB) and just over it, and logins with
wrong passwords. It prints one JSON object: how many responses of each status, and
connection resets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

MAX_BODY = 2 * 1024 * 1024


def fragment_bomb(levels: int) -> str:
    parts = ["mutation Bomb { ...F0 }"]
    parts += [f"fragment F{i} on Mutation {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Mutation {{ setNuxSeen }}")
    return " ".join(parts)


def payloads() -> list[bytes]:
    """The hostile request bodies (JSON for ``POST /graphql``)."""
    docs = [
        json.dumps({"query": fragment_bomb(22)}),
        json.dumps({"query": fragment_bomb(40)}),
        json.dumps({"query": "{ " + "a { " * 5000 + "b" + " }" * 5001}),
        '{"query": "{ version }", "variables": ' + "[" * 50_000 + "]" * 50_000 + "}",
    ]
    filler = "version " * ((MAX_BODY - 64) // 8)
    at_cap = json.dumps({"query": "{ " + filler + "}"})
    docs.append(at_cap[: MAX_BODY - 2].rsplit(" ", 1)[0] + ' }"}')  # at most the cap
    docs.append(at_cap + " " * (MAX_BODY + 1 - len(at_cap)))  # one byte over it
    return [d.encode() for d in docs]


def request(host: str, body: bytes, path: str = "/graphql") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def login(i: int) -> bytes:
    return json.dumps({"username": f"guess-{i}", "password": "not-the-password"}).encode()


async def read_status(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def client(host: str, port: int, deadline: float, stats: Counter[str], start: int) -> None:
    requests = [request(f"{host}:{port}", body) for body in payloads()]
    requests.append(request(f"{host}:{port}", login(start), "/auth/login"))
    cycle = itertools.islice(itertools.cycle(requests), start, None)
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["connect-error"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while time.monotonic() < deadline:
                writer.write(next(cycle))
                await writer.drain()
                stats[str(await read_status(reader))] += 1
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats["reset"] += 1
        finally:
            writer.close()


async def main(url: str, seconds: float, clients: int) -> Counter[str]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    deadline = time.monotonic() + seconds
    stats: Counter[str] = Counter()
    await asyncio.gather(
        *(client(parts.hostname, parts.port, deadline, stats, i) for i in range(clients))
    )
    return stats


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
    print(json.dumps(dict(result)))
