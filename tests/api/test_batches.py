"""The batch API end to end, through the real gateway (``aerofs serve``), no mocks.

- A launcher lands a three-file batch over HTTP with an API token: two small ``orders``
  CSVs (the product's registry) and one large file streamed from a generator with its
  BLAKE3 sent ahead (``X-Content-Blake3``), completes it, and follows it with
  ``GET /api/batches/{id}`` until the daemon's landing sensor has processed it; every
  file's outcome is in the answer, and the gateway process's resident memory stays
  bounded throughout. On the embedded default (SQLite instance, local landing zone and
  lake under a temporary folder), and on PostgreSQL with the landing zone and the lake
  on S3 (moto server, multipart, streamed without a length), a 200 MB file each; there
  refused and
  dropped uploads leave no object and no multipart upload, and a file is never replaced.
- Refusals, on one shared server (``AEROFS_MAX_UPLOAD_BYTES`` 16 MiB, no daemon), each
  leaving the landing zone as it was: roles (401/403, audited), traversal names, bodies
  over the cap (declared, announced with ``Expect: 100-continue``, streamed), writes to a
  complete batch, completions that do not match, conflicting content, digest mismatches,
  a second client, a dropped connection; CSRF for cookie writes; the listing's pages.

The product's code location and ``dagster.yaml`` (polling shortened), as
``tests/integration/test_lake_serve.py`` runs them.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
import pytest

from aerofs_pipelines.kernels import Blake3
from aerofs_pipelines.landing.uploads import STAGING_DIR, UPLOADS_DIR
from tests.support.live_server import LiveServer, product_server
from tests.support.processes import wait_until

MB = 1_000_000
MiB = 1024 * 1024
CAP = 16 * MiB
"""``AEROFS_MAX_UPLOAD_BYTES`` of the refusals' server (above the 10 MB the dropped
upload declares, which would otherwise be refused before it starts)."""
MAX_GATEWAY_RSS = 300 * MB
PROCESS_TIMEOUT = 150.0  # a sensor tick + a run worker on a busy 2-core machine
PASSWORD = "batch-api-test-password"
HEADER = "order_id,order_date,customer,amount,quantity,note\n"
SMALL = {
    "orders-a.csv": HEADER + "1,2026-03-01,Acme,10.50,2,\n2,2026-03-01,Zoë Ångström,7.25,1,gift\n",
    "orders-b.csv": HEADER + "3,2026-03-02,Smith,3.00,4,\n",
}
BIG = "readings.bin"  # not a table nor text: digested and skipped, so it processes fast


def blake3(data: bytes) -> str:
    h = Blake3()
    h.update(data)
    return h.hexdigest()


def csv_pieces(total: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    """``total`` bytes of CSV-like rows in pieces of ``piece``, made as they are asked for
    (each piece numbered, so the content does not simply repeat); never held whole."""
    rows = b"".join(
        b"s%03d,2026-03-01T12:%02d:%02d,%d.%03d\n" % (n % 997, n % 60, n % 59, n, n % 1000)
        for n in range(piece // 24)
    )
    sent, number = 0, 0
    while sent < total:
        chunk = (b"piece,%09d\n" % number + rows)[: min(piece, total - sent)]
        yield chunk
        sent += len(chunk)
        number += 1


def digest_of(pieces: Iterable[bytes]) -> str:
    h = Blake3()
    for p in pieces:
        h.update(p)
    return h.hexdigest()


class Hashing:
    """Pieces passed on while hashing them (what a client computes on the way)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces, self.hasher = pieces, Blake3()

    def __iter__(self) -> Iterator[bytes]:
        for p in self.pieces:
            self.hasher.update(p)
            yield p


def code_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


# ------------------------------------------------------------------ servers


@dataclass
class Api:
    """A running ``aerofs serve`` with a launcher and a viewer, and its landing zone."""

    server: LiveServer
    landing: str
    """The landing zone's URL (a folder or ``s3://bucket/prefix``)."""
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, user: str | None = "lars", **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=120, **kwargs)

    def gateway_pid(self) -> int:
        """The ``aerofs serve`` process itself (the gateway; the daemon is its child)."""
        for child in psutil.Process().children(recursive=True):
            try:
                sockets = child.net_connections("tcp")
            except psutil.Error:
                continue
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.server.port
                for c in sockets
            ):
                return int(child.pid)
        raise AssertionError(f"no process of this test listens on port {self.server.port}")


@contextmanager
def api_server(tmp: Path, settings: Mapping[str, str], *, daemon: bool = True) -> Iterator[Api]:
    """``aerofs serve`` on the product's code location and ``dagster.yaml`` (polling
    shortened) with ``settings``; users ``lars`` (launcher) and ``vera`` (viewer)."""
    with product_server(tmp, settings, daemon=daemon) as server:
        api = Api(server, settings["AEROFS_LANDING"])
        for user, role in (("lars", "launcher"), ("vera", "viewer")):
            server.add_user(user, role, PASSWORD)
            api.tokens[user] = server.create_token(user)
        yield api


class RssSampler:
    """The peak resident memory of a process, sampled every 20 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.samples += 1

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------ the flow


def wait_processed(api: Api, client: httpx.Client, batch_id: str) -> dict[str, Any]:
    """Poll the batch's status until ``processed`` (fail at once on ``failed``)."""

    def done() -> dict[str, Any] | None:
        response = client.get(f"/api/batches/{batch_id}")
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        if doc["state"] == "failed":
            raise AssertionError(f"{batch_id} failed: {doc}\n{api.server.log_tail()}")
        return doc if doc["state"] == "processed" else None

    doc: dict[str, Any] = wait_until(
        done,
        f"batch {batch_id} to be processed",
        timeout=PROCESS_TIMEOUT,
        interval=1.0,
        log=api.server.log,
        error=AssertionError,
    )
    return doc


def land_and_process(api: Api, batch_id: str, big_bytes: int, *, declare_length: bool) -> None:
    """Upload the three files, complete the batch, follow it until processed."""
    expected = {name: blake3(text.encode()) for name, text in SMALL.items()}
    expected[BIG] = digest_of(csv_pieces(big_bytes))  # ahead: a header precedes the body
    with api.client() as client:
        for name, text in SMALL.items():
            response = client.put(
                f"/api/batches/{batch_id}/files/{name}",
                content=text.encode(),
                headers={"x-content-blake3": expected[name]},
            )
            assert response.status_code == 201, response.text
        body = Hashing(csv_pieces(big_bytes))
        headers = {"x-content-blake3": expected[BIG]}
        if declare_length:  # else chunked
            headers["content-length"] = str(big_bytes)
        started = time.monotonic()
        response = client.put(f"/api/batches/{batch_id}/files/{BIG}", content=body, headers=headers)
        upload_seconds = time.monotonic() - started
        assert response.status_code == 201, response.text
        assert response.json() == {
            "batch_id": batch_id,
            "name": BIG,
            "size": big_bytes,
            "digest": expected[BIG],
            "created": True,
        }
        assert body.hasher.hexdigest() == expected[BIG] and body.hasher.length == big_bytes
        print(f"{big_bytes / MB:.0f} MB uploaded in {upload_seconds:.1f} s")

        uploading = client.get(f"/api/batches/{batch_id}").json()
        assert uploading["state"] == "uploading" and uploading["upload"]["owner"] == "lars"

        response = client.post(f"/api/batches/{batch_id}/complete", json={"files": expected})
        assert response.status_code == 201, response.text
        completed = response.json()
        assert {f["name"]: f["digest"] for f in completed["files"]} == expected
        again = client.post(f"/api/batches/{batch_id}/complete")  # a repeat
        assert again.status_code == 200 and again.json()["created"] is False

        doc = wait_processed(api, client, batch_id)
        files = {f["name"]: f for f in doc["files"]}
        assert set(files) == set(expected), doc
        for name, f in files.items():
            assert f["digest"] == expected[name], f
            assert "outcome" in f, f"{name} has no outcome in the manifest: {doc}"
        for name in SMALL:
            outcome = files[name]["outcome"]
            assert (outcome["kind"], outcome["dataset"], outcome["status"]) == (
                "table",
                "orders",
                "processed",
            ), outcome
            assert outcome["output"].startswith(f"tables/orders/batch={batch_id}/"), outcome
        assert files[BIG]["size"] == big_bytes
        assert (files[BIG]["outcome"]["kind"], files[BIG]["outcome"]["status"]) == (
            "other",
            "skipped",
        )
        assert doc["counts"]["processed"] == 2 and doc["counts"]["quarantined"] == 0, doc
        assert doc["runs"] and doc["runs"][0]["status"] == "SUCCESS", doc["runs"]

        listed = client.get("/api/batches", params={"status": "processed"}).json()
        assert batch_id in [b["batch_id"] for b in listed["batches"]], listed


def test_a_batch_lands_over_http_and_is_processed_embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    settings = {"AEROFS_LANDING": str(landing), "AEROFS_LAKE": str(lake)}
    with api_server(tmp_path, settings) as api:
        with RssSampler(api.gateway_pid()) as rss:
            land_and_process(api, "http-2026-03-01", 200 * MB, declare_length=True)
        print(
            f"gateway RSS: {rss.baseline / MB:.0f} MB before, peak {rss.peak / MB:.0f} MB "
            f"({rss.samples} samples)"
        )
        assert rss.samples > 10
        assert rss.peak < MAX_GATEWAY_RSS, f"gateway peak RSS {rss.peak / MB:.0f} MB"
    big = landing / "http-2026-03-01" / BIG
    assert big.stat().st_size == 200 * MB
    assert not list((landing / STAGING_DIR).iterdir())  # nothing staged is left behind
    assert not (landing / UPLOADS_DIR / "http-2026-03-01").exists()  # records released
    big.unlink()  # no 200 MB left in pytest's kept temporary folders


def test_a_batch_lands_over_http_and_is_processed_on_postgres_and_s3(
    s3_env: str, pg_url: str, tmp_path: Path
) -> None:
    settings = {
        "AEROFS_LANDING": f"s3://{s3_env}/landing",
        "AEROFS_LAKE": f"s3://{s3_env}/lake",
        "AEROFS_PG_URL": pg_url,
        "AEROFS_SECRET_KEY": "batch-api-test-secret-key-0123456789abcdef",
        "AEROFS_SWEEP_INTERVAL": "0",  # no SQS queue: the sensor lists the bucket each tick
    }
    with api_server(tmp_path, settings) as api:
        with RssSampler(api.gateway_pid()) as rss:
            land_and_process(api, "http-2026-03-02", 200 * MB, declare_length=False)
        print(f"gateway RSS on S3: {rss.baseline / MB:.0f} MB before, peak {rss.peak / MB:.0f} MB")
        assert rss.peak < MAX_GATEWAY_RSS, f"gateway peak RSS {rss.peak / MB:.0f} MB"
        s3_refusals(api, s3_env)
    s3 = boto3.client("s3")
    assert not s3.list_multipart_uploads(Bucket=s3_env).get("Uploads")
    batch = [k for k in s3_objects(s3, s3_env) if k.startswith("landing/http-2026-03-02/")]
    assert batch == [f"landing/http-2026-03-02/{n}" for n in sorted([*SMALL, BIG, "_SUCCESS"])]


def s3_objects(s3: Any, bucket: str) -> dict[str, int]:
    """Every object of the bucket's landing zone (but upload records) and its size."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="landing/")
    return {
        o["Key"]: o["Size"]
        for page in pages
        for o in page.get("Contents", [])
        if not o["Key"].startswith(f"landing/{UPLOADS_DIR}/")
    }


def s3_refusals(api: Api, bucket: str) -> None:
    """Refused uploads on S3 leave no object and no multipart upload (parts are billed)."""
    s3 = boto3.client("s3")
    before = s3_objects(s3, bucket)
    batch = new_batch()
    path = f"/api/batches/{batch}/files/big.csv"

    def pending() -> list[str]:
        listed = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return [u["Key"] for u in listed]

    with api.client() as client:
        wrong = {"x-content-blake3": blake3(b"not this")}
        response = client.put(path, content=csv_pieces(20 * MB), headers=wrong)  # 2 parts
        assert response.status_code == 400 and code_of(response) == "DIGEST_MISMATCH"
        assert not pending() and s3_objects(s3, bucket) == before
    dropped_upload(api, path, declared=30 * MB, send=10 * MB, under_way=pending)
    wait_until(lambda: not pending(), "the multipart upload to be aborted", timeout=30)
    assert s3_objects(s3, bucket) == before
    with api.client() as client:
        doc = client.get(f"/api/batches/{batch}").json()
        assert doc["state"] == "uploading" and doc["files"] == [], doc

        # never replaced, whether one PutObject or a multipart upload made it
        for name, size in (("small.csv", 1000), ("multi.csv", 9 * MB)):
            url = f"/api/batches/{batch}/files/{name}"
            assert client.put(url, content=csv_pieces(size)).status_code == 201
            kept = s3_objects(s3, bucket)
            other = client.put(url, content=csv_pieces(size + 1))
            assert other.status_code == 409 and code_of(other) == "CONTENT_CONFLICT", other.text
            same = client.put(url, content=csv_pieces(size))
            assert same.status_code == 200 and same.json()["created"] is False, same.text
            assert s3_objects(s3, bucket) == kept and not pending()
            landed = s3.get_object(Bucket=bucket, Key=f"landing/{batch}/{name}")["Body"].read()
            assert blake3(landed) == digest_of(csv_pieces(size))


def dropped_upload(
    api: Api, path: str, *, declared: int, send: int, under_way: Callable[[], object]
) -> None:
    """A PUT declaring ``declared`` bytes whose client sends ``send`` of them, waits until
    ``under_way()`` says the server is writing them, and drops the connection."""
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{api.server.port}\r\n"
        f"Authorization: Bearer {api.tokens['lars']}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        sock.sendall(head)
        for piece in csv_pieces(send):
            sock.sendall(piece)
        wait_until(under_way, "the upload to be under way", timeout=30, error=AssertionError)


# ------------------------------------------------------------------ refusals


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for the refusals: a local landing zone, uploads capped at 16 MiB."""
    tmp = tmp_path_factory.mktemp("batch-api")
    settings = {
        "AEROFS_LANDING": str(tmp / "landing"),
        "AEROFS_LAKE": str(tmp / "lake"),
        "AEROFS_MAX_UPLOAD_BYTES": str(CAP),
    }
    with api_server(tmp, settings, daemon=False) as server:
        yield server


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: size and digest (one removed while listed is not)."""
    if not root.exists():
        return {}
    found = {}
    for p in sorted(root.rglob("*")):
        try:
            if p.is_file():
                found[str(p.relative_to(root))] = (p.stat().st_size, blake3(p.read_bytes()))
        except FileNotFoundError:  # e.g. a dropped upload's staged file, as it goes
            continue
    return found


def visible_of(snapshot: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """What readers of the landing zone see, and staged files: all but upload records
    (a claim stays with its client after a refused file)."""
    return {
        k: v
        for k, v in snapshot.items()
        if not k.startswith(f"{UPLOADS_DIR}/") or k.startswith(f"{STAGING_DIR}/")
    }


def visible(root: Path) -> dict[str, tuple[int, str]]:
    return visible_of(tree(root))


def new_batch() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def raw(api: Api, method: str, target: str, body: bytes = b"", user: str | None = "lars") -> int:
    """A request with ``target`` sent exactly as written (no client normalizes it)."""
    conn = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=30)
    headers = {"content-length": str(len(body))}
    if user:
        headers["authorization"] = f"Bearer {api.tokens[user]}"
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def audit(api: Api) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(
        api.server.aerofs("audit", "--json", "--limit", "500")
    )["events"]
    return events


def test_roles_are_enforced_and_audited(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    before = tree(landing)
    put, complete = f"/api/batches/{batch}/files/orders.csv", f"/api/batches/{batch}/complete"
    with api.client("vera") as viewer, api.client(None) as anonymous:
        response = viewer.put(put, content=SMALL["orders-a.csv"].encode())
        assert response.status_code == 403 and code_of(response) == "FORBIDDEN", response.text
        response = viewer.post(complete)
        assert response.status_code == 403 and code_of(response) == "FORBIDDEN", response.text
        response = anonymous.put(put, content=b"x")
        assert response.status_code == 401 and code_of(response) == "UNAUTHENTICATED"
        assert anonymous.post(complete).status_code == 401
        assert anonymous.get(f"/api/batches/{batch}").status_code == 401
        assert anonymous.get("/api/batches").status_code == 401
        assert viewer.get(f"/api/batches/{batch}").status_code == 404  # may read; none yet
    assert tree(landing) == before

    with api.client() as launcher:
        response = launcher.put(put, content=SMALL["orders-a.csv"].encode())
        assert response.status_code == 201, response.text
        assert launcher.post(complete).status_code == 201
    with api.client("vera") as viewer:
        doc = viewer.get(f"/api/batches/{batch}").json()
        assert doc["state"] == "landed" and [f["name"] for f in doc["files"]] == ["orders.csv"]

    mutations = [
        (e["username"], e["outcome"], e["operation"], tuple(e["fields"] or ()))
        for e in audit(api)
        if e["event"] == "mutation"
    ]
    assert ("vera", "denied", "uploadBatchFile", (put,)) in mutations, mutations
    assert ("vera", "denied", "completeBatch", (complete,)) in mutations, mutations
    assert ("lars", "allowed", "uploadBatchFile", (put,)) in mutations, mutations
    assert ("lars", "allowed", "completeBatch", (complete,)) in mutations, mutations
    anonymous_events = [e["operation"] for e in audit(api) if e["event"] == "anonymous"]
    assert f"PUT {put}" in anonymous_events and f"POST {complete}" in anonymous_events


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/api/batches/b/files/%2e%2e", 400),
        ("/api/batches/b/files/..", 400),
        ("/api/batches/b/files/.", 400),
        ("/api/batches/b/files/a%2Fb", 404),
        ("/api/batches/b/files/..%2F..%2Fx", 404),
        ("/api/batches/b/files/%2e%2e%2f%2e%2e%2fescaped.csv", 404),
        ("/api/batches/b/files/..%5C..%5Cx", 400),
        ("/api/batches/b/files/.hidden", 400),
        ("/api/batches/b/files/_SUCCESS", 400),
        ("/api/batches/%2e%2e/files/x.csv", 400),
        ("/api/batches/..%2F..%2Fetc/files/x.csv", 404),
        ("/api/batches/_aerofs/files/x.csv", 400),
    ],
)
def test_traversal_names_are_refused(api: Api, target: str, status: int) -> None:
    landing = Path(api.landing)
    before, outside = tree(landing), around(landing)
    assert raw(api, "PUT", target, b"order_id\n1\n") == status
    assert tree(landing) == before
    assert around(landing) == outside  # nothing next to the landing zone either


def around(landing: Path) -> set[str]:
    """The files next to the landing zone (but the server's own: instance, log)."""
    root = landing.parent
    found = (p.relative_to(root) for p in root.rglob("*"))
    return {str(p) for p in found if p.parts[0] not in ("serve", "landing")}


def test_a_body_over_the_cap_is_refused_and_nothing_kept(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    before = tree(landing)
    with api.client() as client:
        declared = client.put(
            f"/api/batches/{batch}/files/big.csv",
            content=csv_pieces(CAP + 1),
            headers={"content-length": str(CAP + 1)},
        )
        assert declared.status_code == 413 and code_of(declared) == "PAYLOAD_TOO_LARGE"
        assert tree(landing) == before  # refused before anything was claimed or staged
    # a client that waits for "100 Continue" (curl, for bodies over 1 MiB) is refused
    # before it sends a byte of the body
    path = f"/api/batches/{batch}/files/big.csv"
    assert answers_to_expect(api, path, CAP + 1).startswith(b"HTTP/1.1 413 ")
    assert tree(landing) == before
    with api.client() as client:
        streamed = client.put(f"/api/batches/{batch}/files/big.csv", content=csv_pieces(3 * CAP))
        assert streamed.status_code == 413 and code_of(streamed) == "PAYLOAD_TOO_LARGE"
        assert visible(landing) == visible_of(before)  # only its claim was recorded
        assert not (landing / batch).exists()
        assert client.get(f"/api/batches/{batch}").json()["files"] == []

        # exactly the cap is fine, for the same client
        exact = client.put(f"/api/batches/{batch}/files/big.csv", content=csv_pieces(CAP))
        assert exact.status_code == 201, exact.text
        assert (landing / batch / "big.csv").stat().st_size == CAP


def answers_to_expect(api: Api, path: str, length: int) -> bytes:
    """The status line a PUT declaring ``length`` bytes with ``Expect: 100-continue``
    gets before it sends its body (the connection is closed then)."""
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{api.server.port}\r\n"
        f"Authorization: Bearer {api.tokens['lars']}\r\nContent-Length: {length}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        sock.sendall(head)
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_a_complete_batch_takes_no_more_files(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    data = SMALL["orders-a.csv"].encode()
    with api.client() as client:
        assert client.put(f"/api/batches/{batch}/files/orders.csv", content=data).status_code == 201
        assert client.post(f"/api/batches/{batch}/complete").status_code == 201
        before = tree(landing)
        for name, body in (("more.csv", data), ("orders.csv", data), ("orders.csv", b"other")):
            response = client.put(f"/api/batches/{batch}/files/{name}", content=body)
            assert response.status_code == 409 and code_of(response) == "BATCH_COMPLETE", name
        other = {"files": {"orders.csv": blake3(b"other")}}
        response = client.post(f"/api/batches/{batch}/complete", json=other)
        assert response.status_code == 409 and code_of(response) == "BATCH_COMPLETE"
    assert tree(landing) == before


def test_a_completion_must_match_what_was_landed(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    data = SMALL["orders-a.csv"].encode()
    complete = f"/api/batches/{batch}/complete"
    with api.client() as client:
        before = tree(landing)
        response = client.post(complete)
        assert response.status_code == 409 and code_of(response) == "NOTHING_UPLOADED"
        assert tree(landing) == before
        assert client.put(f"/api/batches/{batch}/files/a.csv", content=data).status_code == 201
        before = tree(landing)
        for body, status, code in (
            ({"files": {"a.csv": blake3(b"other")}}, 409, "FILE_LIST_MISMATCH"),
            ({"files": {"a.csv": blake3(data), "b.csv": blake3(data)}}, 409, "FILE_LIST_MISMATCH"),
            ({"files": {"a.csv": "not hex"}}, 400, "BAD_REQUEST"),
            ({"files": ["a.csv"]}, 400, "BAD_REQUEST"),
        ):
            response = client.post(complete, json=body)
            assert (response.status_code, code_of(response)) == (status, code), body
        response = client.post(complete, content=b"{not json", headers={"content-type": "x"})
        assert response.status_code == 400 and code_of(response) == "BAD_REQUEST"
        assert tree(landing) == before  # no marker, nothing else
        assert client.get(f"/api/batches/{batch}").json()["state"] == "uploading"
        response = client.post(complete, json={"files": {"a.csv": blake3(data)}})
        assert response.status_code == 201, response.text
        assert (landing / batch / "_SUCCESS").is_file()


def test_batches_are_listed_newest_first_page_by_page(api: Api) -> None:
    ids = [f"list-2026-04-0{n}" for n in (1, 2, 3)]
    with api.client() as client:
        for batch in ids:
            url = f"/api/batches/{batch}/files/a.csv"
            assert client.put(url, content=b"a\n").status_code == 201
        client.post(f"/api/batches/{ids[0]}/complete").raise_for_status()
        first = client.get("/api/batches", params={"limit": 2, "before": "list-2026-05"}).json()
        assert [b["batch_id"] for b in first["batches"]] == ids[:0:-1]
        assert first["next_before"] == ids[1]
        rest = client.get("/api/batches", params={"limit": 2, "before": ids[1]}).json()
        assert [b["batch_id"] for b in rest["batches"]][:1] == [ids[0]]
        assert rest["batches"][0]["state"] == "landed" and rest["batches"][0]["files"] == 1
        landed = client.get("/api/batches", params={"status": "landed", "limit": 500}).json()
        assert ids[0] in [b["batch_id"] for b in landed["batches"]]
        assert not {ids[1], ids[2]} & {b["batch_id"] for b in landed["batches"]}
        for params in ({"status": "bogus"}, {"limit": 0}, {"limit": 501}, {"limit": "x"}):
            response = client.get("/api/batches", params=params)
            assert response.status_code == 400 and code_of(response) == "BAD_REQUEST", params
        assert client.get("/api/batches/no-such-batch").status_code == 404
        assert raw(api, "GET", "/api/batches/%2e%2e") == 404


def test_a_file_is_never_replaced(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    url = f"/api/batches/{batch}/files/orders.csv"
    first, second = SMALL["orders-a.csv"].encode(), SMALL["orders-b.csv"].encode()
    with api.client() as client:
        assert client.put(url, content=first).status_code == 201
        before = tree(landing)
        response = client.put(url, content=second)
        assert response.status_code == 409 and code_of(response) == "CONTENT_CONFLICT"
        assert visible(landing) == visible_of(before)
        assert (landing / batch / "orders.csv").read_bytes() == first
        again = client.put(url, content=first)
        assert again.status_code == 200, again.text
        assert again.json()["created"] is False and again.json()["digest"] == blake3(first)
    assert visible(landing) == visible_of(before)


def test_a_digest_mismatch_keeps_nothing(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    data = SMALL["orders-a.csv"].encode()
    wrong = blake3(b"something else")
    before = visible(landing)
    with api.client() as client:
        url = f"/api/batches/{batch}/files/orders.csv"
        for headers in (
            {"x-content-blake3": wrong},
            {"content-digest": f"blake3=:{base64.b64encode(bytes.fromhex(wrong)).decode()}:"},
        ):
            response = client.put(url, content=data, headers=headers)
            assert response.status_code == 400 and code_of(response) == "DIGEST_MISMATCH"
            assert visible(landing) == before
        for headers in ({"x-content-blake3": "abc"}, {"content-digest": "blake3=:AAAA:"}):
            response = client.put(url, content=data, headers=headers)
            assert response.status_code == 400 and code_of(response) == "BAD_REQUEST"
            assert visible(landing) == before
        right = base64.b64encode(bytes.fromhex(blake3(data))).decode()
        response = client.put(url, content=data, headers={"content-digest": f"blake3=:{right}:"})
        assert response.status_code == 201, response.text


def test_a_second_client_cannot_join_a_claimed_batch(api: Api) -> None:
    landing = Path(api.landing)
    batch = new_batch()
    data = SMALL["orders-a.csv"].encode()
    with api.client() as client:
        first = {"x-upload-id": "client-one"}
        response = client.put(f"/api/batches/{batch}/files/a.csv", content=data, headers=first)
        assert response.status_code == 201, response.text
        before = tree(landing)
        second = {"x-upload-id": "client-two"}
        response = client.put(f"/api/batches/{batch}/files/b.csv", content=data, headers=second)
        assert response.status_code == 409 and code_of(response) == "BATCH_IN_FLIGHT"
        response = client.post(f"/api/batches/{batch}/complete", headers=second)
        assert response.status_code == 409 and code_of(response) == "BATCH_IN_FLIGHT"
        response = client.put(f"/api/batches/{batch}/files/b.csv", content=data)  # no id: user
        assert response.status_code == 409 and code_of(response) == "BATCH_IN_FLIGHT"
        bad = {"x-upload-id": "../client-one"}
        response = client.put(f"/api/batches/{batch}/files/b.csv", content=data, headers=bad)
        assert response.status_code == 400 and code_of(response) == "BAD_REQUEST"
        assert tree(landing) == before
        doc = client.get(f"/api/batches/{batch}").json()
        assert doc["state"] == "uploading" and doc["upload"]["owner"] == "lars/client-one"
        response = client.post(f"/api/batches/{batch}/complete", headers=first)
        assert response.status_code == 201, response.text


def test_a_dropped_connection_leaves_nothing(api: Api) -> None:
    landing = Path(api.landing)
    staging = landing / STAGING_DIR
    batch = new_batch()
    path = f"/api/batches/{batch}/files/dropped.csv"
    before = visible(landing)
    dropped_upload(
        api,
        path,
        declared=10 * MB,
        send=MB,
        under_way=lambda: staging.exists() and any(p.suffix == ".part" for p in staging.iterdir()),
    )
    wait_until(
        lambda: visible(landing) == before,
        "the staged file of the dropped upload to go",
        timeout=30,
        error=AssertionError,
    )
    assert not (landing / batch).exists()
    with api.client() as client:
        doc = client.get(f"/api/batches/{batch}").json()
        assert doc["state"] == "uploading" and doc["files"] == []
        # the same client lands the file after all
        response = client.put(path, content=SMALL["orders-a.csv"].encode())
        assert response.status_code == 201, response.text


def test_cookie_writes_need_our_origin(api: Api) -> None:
    batch = new_batch()
    url = f"/api/batches/{batch}/files/orders.csv"
    data = SMALL["orders-a.csv"].encode()
    landing = Path(api.landing)
    with api.client(None) as browser:
        login = browser.post("/auth/login", json={"username": "lars", "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert "aerofs_session" in browser.cookies
        before = tree(landing)
        foreign = browser.put(url, content=data, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403 and code_of(foreign) == "CSRF", foreign.text
        bare = browser.put(url, content=data)  # neither Origin nor the CSRF token
        assert bare.status_code == 403 and code_of(bare) == "CSRF", bare.text
        assert tree(landing) == before
        ours = browser.put(url, content=data, headers={"origin": api.server.url})
        assert ours.status_code == 201, ours.text
        token = browser.get("/auth/me").json()["csrf_token"]
        response = browser.post(f"/api/batches/{batch}/complete", headers={"x-csrf-token": token})
        assert response.status_code == 201, response.text
    denied = [
        e
        for e in audit(api)
        if e["event"] == "mutation" and e["username"] == "lars" and e["outcome"] == "denied"
    ]
    assert any(e["operation"] == "uploadBatchFile" and e["fields"] == [url] for e in denied)
