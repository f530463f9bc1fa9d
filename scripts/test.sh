#!/usr/bin/env bash
# Run every test: the Rust unit tests (no Python needed), then pytest.
# Arguments are passed to pytest, e.g. `scripts/test.sh -k cli -x`.
# Expects the environment from scripts/setup.sh (`make test` runs that first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aerofs/target}"
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
[ -x .venv/bin/python ] || { echo "test: error: no .venv here; run 'make setup' (or 'make test')" >&2; exit 1; }

echo "==> cargo test --workspace"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Rust tests run without the `python` feature, so they need no libpython.
cargo test --workspace --color never 2>&1 | tee "$log"
rust_passed="$(sed -n 's/^test result: ok\. \([0-9][0-9]*\) passed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')"
if [ "$rust_passed" -eq 0 ]; then
    echo "test: error: cargo test ran no tests" >&2
    exit 1
fi
echo "==> $rust_passed Rust tests passed"

# The browser test drives Debian's Chromium (Playwright cannot download its own here).
CHROMIUM="${AEROFS_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Chromium for the browser test (apt-get install chromium)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q chromium >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
    else
        echo "test: warning: no Chromium at $CHROMIUM; the browser test will fail" \
            "(install Debian's chromium package or set AEROFS_CHROMIUM)" >&2
    fi
fi

echo "==> pytest"
# pytest itself exits non-zero (5) when it collects no tests.
.venv/bin/python -m pytest "$@"
