# syntax=docker/dockerfile:1
# AeroFS Pipelines, user-code image: the code location's gRPC server (`dagster api grpc`,
# the dagster-user-deployments Deployment of the Helm chart, the `usercode` service of
# deploy/compose.yaml) and, under the K8sRunLauncher, the image of every run's pod.
#
# Build from the repository root (the context is allow-listed by .dockerignore):
#   docker build -f deploy/docker/usercode.Dockerfile -t aerofs-pipelines-usercode:0.1.0 .
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
    DAGSTER_HOME=/opt/dagster/dagster_home
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
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
# No ENTRYPOINT: the Helm chart passes `dagster api grpc ...` (and the run launcher
# `dagster api execute_run ...`) as the container's arguments.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "aerofs_pipelines.definitions", "-a", "defs"]
