"""Create the S3 buckets of the landing zone and the lake if they do not exist.

Used by the `createbuckets` service of deploy/compose.yaml (MinIO) before the platform
starts; works against any S3 API (``AWS_ENDPOINT_URL``, ``AWS_*`` credentials):

    python create_buckets.py s3://aerofs-landing/landing s3://aerofs-lake/lake
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlsplit


def bucket_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise SystemExit(f"create_buckets: not an s3:// URL: {url!r}")
    return parts.netloc


def main(argv: list[str]) -> int:
    import boto3
    from botocore.exceptions import ClientError, EndpointConnectionError

    buckets = sorted({bucket_of(u) for u in argv})
    if not buckets:
        raise SystemExit("usage: create_buckets.py s3://BUCKET[/PREFIX]...")
    s3 = boto3.client("s3")
    deadline = time.monotonic() + 120
    for bucket in buckets:
        while True:
            try:
                s3.head_bucket(Bucket=bucket)
                print(f"bucket {bucket}: exists")
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
                s3.create_bucket(Bucket=bucket)
                print(f"bucket {bucket}: created")
                break
            except EndpointConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
