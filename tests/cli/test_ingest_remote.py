"""``aerofs ingest --url``: a batch landed through a real gateway's batch API, with a token
read from stdin, by the ``aerofs`` command as a user on another machine would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aerofs_pipelines.kernels import digest
from aerofs_pipelines.landing.batches import parse_marker
from tests.support.live_server import LiveServer, live_server

AEROFS = str(Path(sys.executable).with_name("aerofs"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("remote")
    env = {"AEROFS_LANDING": str(tmp / "landing"), "AEROFS_LAKE": str(tmp / "lake")}
    with live_server(tmp, daemon=False, extra_env=env) as live:
        live.add_user("lou", "launcher", "launcher-password-1")
        live.add_user("vic", "viewer", "viewer-password-1")
        yield live


def landing(server: LiveServer) -> Path:
    return Path(server.env["AEROFS_LANDING"])


def ingest(
    server: LiveServer, token: str, batch: str, *paths: Path, json_out: bool = True
) -> subprocess.CompletedProcess[str]:
    args = [AEROFS, "ingest", *map(str, paths), "--batch", batch, "--url", server.url]
    args += ["--token-stdin"] + (["--json"] if json_out else [])
    env = {k: v for k, v in server.env.items() if k not in ("AEROFS_LANDING", "AEROFS_TOKEN")}
    return subprocess.run(
        args, input=token + "\n", env=env, capture_output=True, text=True, timeout=120, check=False
    )


def files(tmp: Path, prefix: str, count: int) -> list[Path]:
    made = []
    for i in range(count):
        path = tmp / f"{prefix}-{i}.csv"
        path.write_text(f"id,name\n{i},{prefix}-{i}\n" * (1 + i))
        made.append(path)
    return made


def test_a_batch_lands_through_the_gateway_as_aerofs_ingest_lands_it(
    server: LiveServer, tmp_path: Path
) -> None:
    token = server.create_token("lou")
    sent = files(tmp_path, "orders", 2)
    done = ingest(server, token, "remote-1", *sent)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["created"] is True and doc["bytes"] == sum(p.stat().st_size for p in sent)
    folder = landing(server) / "remote-1"
    listed = parse_marker((folder / "_SUCCESS").read_bytes())
    assert listed == {p.name: (p.stat().st_size, digest(p)) for p in sent}
    for p in sent:
        assert (folder / p.name).read_bytes() == p.read_bytes()
    # the same command again: already complete with these files, nothing changes
    again = ingest(server, token, "remote-1", *sent, json_out=False)
    assert again.returncode == 0, again.stderr
    assert "already complete with these files" in again.stdout
    # other files under the same id: refused with the API's reason
    other = ingest(server, token, "remote-1", *files(tmp_path, "other", 1))
    assert other.returncode == 1 and "BATCH_COMPLETE" not in other.stdout
    assert "already complete with other files" in other.stderr, other.stderr
    assert parse_marker((folder / "_SUCCESS").read_bytes()) == listed


def test_a_viewer_token_is_refused_and_nothing_lands(server: LiveServer, tmp_path: Path) -> None:
    done = ingest(server, server.create_token("vic"), "remote-viewer", *files(tmp_path, "v", 1))
    assert done.returncode == 1
    assert "HTTP 403" in done.stderr and "needs launcher" in done.stderr, done.stderr
    assert not (landing(server) / "remote-viewer").exists()


def test_a_bad_token_or_no_token_is_refused(server: LiveServer, tmp_path: Path) -> None:
    done = ingest(server, "not-a-token", "remote-bad", *files(tmp_path, "b", 1))
    assert done.returncode == 1 and "HTTP 401" in done.stderr, done.stderr
    empty = ingest(server, "", "remote-bad", *files(tmp_path, "b", 1))
    assert empty.returncode == 2 and "needs a token" in empty.stderr, empty.stderr
    assert not (landing(server) / "remote-bad").exists()


def test_racing_clients_one_wins_nothing_merged(server: LiveServer, tmp_path: Path) -> None:
    token = server.create_token("lou")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mine = files(tmp_path / "a", "mine", 3)
    theirs = files(tmp_path / "b", "theirs", 3)
    args = ["--batch", "race-1", "--url", server.url, "--token-stdin", "--json"]
    env = {k: v for k, v in server.env.items() if k != "AEROFS_LANDING"}
    procs = [
        subprocess.Popen(
            [AEROFS, "ingest", *map(str, group), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for group in (mine, theirs)
    ]
    results = [p.communicate(token + "\n", timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], (codes, results)
    winner = mine if codes[0] == 0 else theirs
    loser_err = results[codes.index(1)][1]
    # refused while the winner uploads (409 BATCH_IN_FLIGHT) or once it completed
    assert "HTTP 409" in loser_err or "already complete with other files" in loser_err, loser_err
    folder = landing(server) / "race-1"
    listed = parse_marker((folder / "_SUCCESS").read_bytes())
    assert listed == {p.name: (p.stat().st_size, digest(p)) for p in winner}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(p.name for p in winner), "_SUCCESS"]
    )


def test_folders_inside_a_batch_are_refused_over_http(server: LiveServer, tmp_path: Path) -> None:
    nested = tmp_path / "batch" / "sub"
    nested.mkdir(parents=True)
    (nested / "x.csv").write_text("a\n1\n")
    done = ingest(server, server.create_token("lou"), "remote-nested", tmp_path / "batch")
    assert done.returncode == 1 and "no folders" in done.stderr, done.stderr


def test_progress_counts_every_byte_sent(server: LiveServer, tmp_path: Path) -> None:
    from aerofs_pipelines.cli.progress import ProgressBar
    from aerofs_pipelines.landing.remote import CHUNK_BYTES, ingest_remote

    big = tmp_path / "big.csv"
    big.write_bytes(b"id,name\n" + b"1,x\n" * (CHUNK_BYTES // 2))  # a few chunks
    small = files(tmp_path, "p", 1)[0]
    seen: list[int] = []
    totals: set[int] = set()
    done = ingest_remote(
        [str(big), str(small)], "remote-progress", server.url, server.create_token("lou"),
        progress=lambda sent, of: (seen.append(sent), totals.add(of)),
    )  # fmt: skip
    total = big.stat().st_size + small.stat().st_size
    assert done.created and done.bytes == total
    assert seen == sorted(seen) and seen[-1] == total and len(seen) >= 3
    assert totals == {total}
    line = ProgressBar(total, show_rows=False).render(total // 2, 0, 1.0)
    assert "50%" in line and "rows/s" not in line and "/s" in line
