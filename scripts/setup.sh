#!/usr/bin/env bash
# Set up (or bring up to date) the development environment of this clone:
#   .venv/ with the package installed editable (Rust extension built in release) and
#   the dev + bench extras.
# Idempotent and fast when nothing changed. Caches live outside the clone, under
# ~/.cache/aerofs/, so a fresh clone (CI) reuses compiled crates and downloaded wheels.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aerofs/target}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/aerofs/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
VENV="$ROOT/.venv"
STAMP="$VENV/.aerofs-setup"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- requirements -------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

missing=()
command -v cargo >/dev/null 2>&1 || missing+=("cargo (the Rust toolchain: https://rustup.rs)")
PY="$(find_python || true)"
if [ -z "$PY" ]; then
    found="none found"
    if command -v python3 >/dev/null 2>&1; then
        found="python3 is $(python3 -c 'import platform; print(platform.python_version())')"
    fi
    missing+=("Python >= 3.11 ($found; set PYTHON=/path/to/python3.11 to pick one)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    printf 'setup: error: missing requirements:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
mkdir -p "$CARGO_TARGET_DIR" "$PIP_CACHE_DIR"

# One set-up at a time (e.g. `make run` and `make test` started together), where flock exists.
LOCK="${AEROFS_SETUP_LOCK:-$HOME/.cache/aerofs/setup.lock}"
if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$LOCK")"
    exec 9>"$LOCK"
    flock 9
fi

# --- what the environment should reflect --------------------------------------------
# deps: anything that changes what pip installs; rust: anything that changes the extension.
fingerprint() {
    "$PY" - "$@" <<'EOF'
import hashlib
import pathlib
import sys

h = hashlib.sha256()
for pattern in sys.argv[1:]:
    for path in sorted(pathlib.Path(".").glob(pattern)):
        if path.is_file():
            h.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
print(h.hexdigest())
EOF
}
DEPS_HASH="$(fingerprint pyproject.toml Cargo.lock)"
RUST_HASH="$(fingerprint Cargo.toml Cargo.lock 'rust_core/Cargo.toml' 'rust_core/build.rs' \
    'rust_core/src/**/*.rs')"

stamp_get() { [ -f "$STAMP" ] && sed -n "s/^$1=//p" "$STAMP" || true; }
stamp_write() { printf 'deps=%s\nrust=%s\n' "$DEPS_HASH" "$RUST_HASH" >"$STAMP"; }

# The venv must exist, run, and be this clone's (a moved/copied clone has stale paths).
venv_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}
installed_ok() {
    # The package resolves to this clone and its extension loads.
    "$VENV/bin/python" -I - "$ROOT" <<'EOF' >/dev/null 2>&1
import os, sys
import aerofs_pipelines, aerofs_pipelines._rust_core  # noqa: E401
here = os.path.realpath(os.path.dirname(aerofs_pipelines.__file__))
sys.exit(here != os.path.realpath(os.path.join(sys.argv[1], "aerofs_pipelines")))
EOF
}

if ! venv_ok; then
    say "creating .venv with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" ||
        die "could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)"
fi

if [ "$(stamp_get deps)" = "$DEPS_HASH" ] && [ "$(stamp_get rust)" = "$RUST_HASH" ] &&
    installed_ok; then
    say "up to date (.venv, Rust extension)"
    exit 0
fi

# Nothing is recorded until the work succeeds: an interrupted or failed run redoes it.
full_install() {
    say "installing Python dependencies and building the Rust extension (release)..."
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[dev,bench]'
}

rebuild_extension() {
    say "Rust sources changed: rebuilding the extension (maturin develop --release)..."
    VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --release --skip-install
}

package_installed() {
    # Installed editable from this clone, with the build tool at hand.
    [ -x "$VENV/bin/maturin" ] && "$VENV/bin/python" -I - "$ROOT" <<'EOF' >/dev/null 2>&1
import importlib.util, os, sys
spec = importlib.util.find_spec("aerofs_pipelines")
here = os.path.realpath(os.path.dirname(spec.origin)) if spec and spec.origin else ""
sys.exit(here != os.path.realpath(os.path.join(sys.argv[1], "aerofs_pipelines")))
EOF
}

if [ "$(stamp_get deps)" = "$DEPS_HASH" ] && package_installed; then
    rebuild_extension
else
    full_install
fi

installed_ok || die "the package or its Rust extension does not import from .venv after setup"
stamp_write
say "done: .venv ready ($("$VENV/bin/python" -c 'import platform; print(platform.python_version())'))"
