#!/usr/bin/env bash
# The code location loads as Dagster's own tools load it: `dg check defs` (the project of
# pyproject.toml's [tool.dg]) and `dagster definitions validate -w workspace.yaml`, on a
# throwaway instance with the product's dagster.yaml.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
cp dagster_home/dagster.yaml "$home/"
export DAGSTER_HOME="$home" VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
dg check defs
dagster definitions validate -w workspace.yaml
