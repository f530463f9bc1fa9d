# syntax=docker/dockerfile:1
# AeroFS Pipelines, gateway image: `aerofs serve --no-daemon`, the gateway (login, roles,
# API tokens, audit) around Dagster's webserver app, the only way in (deploy/k8s/ and the
# `gateway` service of deploy/compose.yaml). It loads the code location from the user-code
# gRPC server (`-w WORKSPACE`); the same image runs `dagster-daemon` in deploy/compose.yaml
# and the `aerofs users|tokens|audit` admin commands.
#
# Build from the repository root (the context is allow-listed by .dockerignore):
#   docker build -f deploy/docker/gateway.Dockerfile -t aerofs-pipelines-gateway:0.1.0 .
#
# Reproducible: base images pinned by exact tag (override PYTHON_IMAGE / RUST_IMAGE with
# `name@sha256:...` to pin by digest), Cargo.lock honoured (--locked), every Python package
# pinned by deploy/docker/constraints.txt (the closure of pyproject.toml's pins).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm

# ---- the Rust toolchain (only copied from) -------------------------------------------
FROM ${RUST_IMAGE} AS rust

# ---- build: the Rust kernels and the package as one wheel (maturin, release profile) --
FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A C toolchain links the extension (and builds zstd/blake3's C parts). Debian package
# versions are not pinned: the pinned base image fixes the release, and old point versions
# leave the archive; what they build is only the linker of a build stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo \
    RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# maturin: the pin of pyproject.toml's dev extra (build-system allows >=1.16,<2).
RUN pip install maturin==1.16.0
COPY pyproject.toml Cargo.toml Cargo.lock README.md ./
COPY rust_core rust_core
COPY aerofs_pipelines aerofs_pipelines
RUN maturin build --release --locked --compatibility linux --interpreter python3 --out /wheels

# ---- runtime: slim Python, the wheel and its pinned dependencies, a non-root user ------
FROM ${PYTHON_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    AEROFS_ENV=production
COPY deploy/docker/constraints.txt /tmp/constraints.txt
# The wheel without resolving, then exactly the pinned closure, then a consistency check.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-deps /wheels/aerofs_pipelines-*.whl \
    && pip install --requirement /tmp/constraints.txt \
    && pip check \
    && rm /tmp/constraints.txt \
    && groupadd --system --gid 10001 aerofs \
    && useradd --system --uid 10001 --gid aerofs --home-dir /opt/dagster --shell /usr/sbin/nologin aerofs \
    && mkdir -p /opt/dagster/dagster_home /opt/dagster/app \
    && chown -R aerofs:aerofs /opt/dagster
WORKDIR /opt/dagster/app
USER 10001:10001
EXPOSE 3000
# /healthz answers 200 without a session once the app is up (no database round trip).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"]
# The daemon runs on its own (the chart's dagster-daemon, compose's `daemon` service).
# deploy/compose.yaml and deploy/k8s/ add `-w WORKSPACE` to load code from the gRPC server.
CMD ["aerofs", "serve", "--host", "0.0.0.0", "--port", "3000", "--no-daemon"]
