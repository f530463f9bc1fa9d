#!/usr/bin/env bash
# "Run the platform" with the embedded defaults: SQLite instance in ./dagster_home, local
# landing zone ./data/landing and lake ./data/lake. Ingests the sample batch, starts the
# gateway + Dagster webserver app + daemon (`aerofs serve`), waits until the sensor's run
# has processed the batch, shows the lake, then keeps serving until Ctrl-C.
# Expects the environment from scripts/setup.sh (`make run` runs that first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/aerofs ] || { echo "run: error: no .venv/bin/aerofs; run 'make setup' (or 'make run')" >&2; exit 1; }

export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
export AEROFS_LANDING="${AEROFS_LANDING:-data/landing}"
export AEROFS_LAKE="${AEROFS_LAKE:-data/lake}"
HOST="${AEROFS_HOST:-127.0.0.1}"
PORT="${AEROFS_PORT:-3000}"
BATCH="${AEROFS_SAMPLE_BATCH:-sample}"
WAIT_SECONDS="${AEROFS_RUN_WAIT:-300}"
AEROFS=.venv/bin/aerofs
PY=.venv/bin/python
mkdir -p "$DAGSTER_HOME"

echo "==> instance: $DAGSTER_HOME  landing: $AEROFS_LANDING  lake: $AEROFS_LAKE"

# The sample batch goes in through `aerofs ingest`, like any batch (marker written last).
case "$AEROFS_LANDING" in
*://*) complete=no ;;
*) if [ -f "$AEROFS_LANDING/$BATCH/_SUCCESS" ]; then complete=yes; else complete=no; fi ;;
esac
if [ "$complete" = yes ]; then
    echo "==> sample batch '$BATCH' already landed (delete $AEROFS_LANDING/$BATCH to land it again)"
else
    staging="$(mktemp -d)"
    trap 'rm -rf "$staging"' EXIT
    "$PY" -m aerofs_pipelines.sample_data "$staging" --batch files >/dev/null
    echo "==> aerofs ingest orders.csv notes.txt --batch $BATCH"
    "$AEROFS" ingest "$staging/files/orders.csv" "$staging/files/notes.txt" --batch "$BATCH"
fi

LOG="$DAGSTER_HOME/aerofs-serve.log"
echo "==> aerofs serve --host $HOST --port $PORT (gateway + webserver app + daemon); log: $LOG"
"$AEROFS" serve --host "$HOST" --port "$PORT" >"$LOG" 2>&1 &
server=$!
stop() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
trap 'stop; rm -rf "${staging:-}"' EXIT
trap 'exit 130' INT TERM

"$PY" - "$HOST" "$PORT" "$server" <<'PYEOF'
import os, sys, time, urllib.request
host, port, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("run: error: aerofs serve exited before it answered /healthz")
    if time.monotonic() > deadline:
        sys.exit("run: error: aerofs serve did not answer /healthz within 120 s")
    time.sleep(0.5)
PYEOF
echo "==> gateway up: http://$HOST:$PORT"
# The first start creates an admin and prints its one-time password: show it here.
sed -n '/aerofs: created the first admin/,/AEROFS_ADMIN_PASSWORD/p' "$LOG"

echo "==> waiting for the sensor to pick up '$BATCH' and its run to finish (up to ${WAIT_SECONDS}s)"
"$PY" -m aerofs_pipelines.demo_status "$BATCH" --wait "$WAIT_SECONDS"

echo
echo "Serving on http://$HOST:$PORT until Ctrl-C (server and run logs: $LOG)."
echo "Land another batch with: .venv/bin/aerofs ingest FILE... --batch ID"
wait "$server"
