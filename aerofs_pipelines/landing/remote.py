"""Land a batch through a gateway's batch API (``aerofs ingest --url``), from anywhere
the gateway is reachable, with a token instead of landing-zone credentials.

The same batch as a local ``aerofs ingest``: every file, then the marker listing them
(``POST …/complete`` with the files' digests, so the batch holds exactly these). Each
file is hashed first (BLAKE3) and streamed with its digest: the gateway keeps nothing
that arrived damaged. The upload id sent with every request is derived from the user's
view of the batch (its files' names and digests): a re-run after an interruption resumes
(files already there are accepted as repeats), while another client landing other
content under the same id is refused (409) and nothing is merged.

Only the standard library is imported at module level (httpx when called).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["RemoteIngestError", "RemoteResult", "ingest_remote"]

CHUNK_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 60.0


class RemoteIngestError(ValueError):
    """The gateway refused the batch (its message and code), or could not be reached."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status = code, status


@dataclass(frozen=True)
class RemoteResult:
    batch_id: str
    url: str
    files: list[tuple[str, int, str]]
    """(name, size, digest), sorted by name."""
    created: bool
    """False: the batch was already complete with exactly these files."""

    @property
    def bytes(self) -> int:
        return sum(size for _, size, _ in self.files)


def _refusal(response: Any, what: str) -> RemoteIngestError:
    try:
        error = response.json()["errors"][0]
        message, code = str(error["message"]), error.get("extensions", {}).get("code")
    except (ValueError, KeyError, IndexError, TypeError):
        message, code = response.text.strip()[:200] or response.reason_phrase, None
    return RemoteIngestError(
        f"{what}: HTTP {response.status_code}: {message}", code, response.status_code
    )


def _chunks(path: Path, sent: Callable[[int], None]) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk
            sent(len(chunk))


def ingest_remote(
    paths: list[str],
    batch_id: str,
    url: str,
    token: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RemoteResult:
    """Upload ``paths`` as batch ``batch_id`` to the gateway at ``url`` and complete it.

    ``progress(bytes_sent, bytes_in_all)`` is called as the bytes go out. Raises
    :class:`RemoteIngestError` for a refusal (with the API's code) or a network failure.
    """
    import httpx

    from aerofs_pipelines.kernels import digest
    from aerofs_pipelines.landing.batches import check_batch_id
    from aerofs_pipelines.landing.ingest import collect_files

    check_batch_id(batch_id)
    files = collect_files(paths)
    for _, name in files:
        if "/" in name:
            raise ValueError(
                f"{name}: over HTTP a batch's files have plain names (no folders); "
                "give the files, or land the folder locally"
            )
    listed = [(src, name, src.stat().st_size, digest(src)) for src, name in files]
    upload_id = hashlib.sha256(
        "".join(f"{name}\t{d}\n" for _, name, _, d in listed).encode()
    ).hexdigest()[:32]
    base = url.rstrip("/") + f"/api/batches/{quote(batch_id, safe='')}"
    headers = {"authorization": f"Bearer {token}", "x-upload-id": upload_id}
    all_bytes = sum(s for _, _, s, _ in listed)
    total = 0

    def sent(n: int) -> None:
        nonlocal total
        total += n
        if progress is not None:
            progress(total, all_bytes)

    wanted = sorted((name, size, d) for _, name, size, d in listed)
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, headers=headers) as client:
            known = client.get(base)
            if known.status_code == 200 and known.json()["state"] != "uploading":
                # complete already: a re-run of the same batch is done; other files are not
                held = sorted((f["name"], f["size"], f["digest"]) for f in known.json()["files"])
                if held == wanted:
                    return RemoteResult(batch_id, url, wanted, created=False)
                raise RemoteIngestError(
                    f"batch {batch_id!r} is already complete with other files; choose a new "
                    "batch id",
                    "BATCH_COMPLETE",
                    409,
                )
            if known.status_code not in (200, 404):
                raise _refusal(known, f"batch {batch_id}")
            for src, name, size, hexdigest in listed:
                response = client.put(
                    f"{base}/files/{quote(name, safe='')}",
                    content=_chunks(src, sent),
                    headers={"x-content-blake3": hexdigest, "content-length": str(size)},
                )
                if response.status_code not in (200, 201):
                    raise _refusal(response, f"upload of {name}")
            response = client.post(
                f"{base}/complete", json={"files": {name: d for _, name, _, d in listed}}
            )
            if response.status_code not in (200, 201):
                raise _refusal(response, f"completing batch {batch_id}")
    except httpx.HTTPError as exc:
        raise RemoteIngestError(f"{url}: {exc.__class__.__name__}: {exc}") from exc
    done = response.json()
    return RemoteResult(
        batch_id,
        url,
        sorted((f["name"], int(f["size"]), f["digest"]) for f in done["files"]),
        bool(done["created"]),
    )
