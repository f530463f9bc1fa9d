"""The gateway serves the batch API without the data stack: no pyarrow in its process
(40 MB of memory, measured in docs/capacity.md), whatever the API imports."""

from __future__ import annotations

import subprocess
import sys


def test_the_gateway_and_the_batch_api_load_no_pyarrow() -> None:
    code = (
        "import sys\n"
        "import aerofs_pipelines.api, aerofs_pipelines.gateway.app, aerofs_pipelines.cli.serve\n"
        "from aerofs_pipelines.landing.uploads import BatchUploads\n"
        "heavy = [m for m in ('pyarrow', 'pyiceberg', 'pandas', 'polars') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", f"the gateway process would load {done.stdout.strip()}"
