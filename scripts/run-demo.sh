#!/usr/bin/env bash
# "Run the platform", for now: until the Dagster pipeline lands, process the sample batch
# with the `aerofs` CLI the way the pipeline will — CSV → Parquet table (bad rows
# quarantined), text → statistics — and show what was written.
# Expects the environment from scripts/setup.sh (`make run` runs that first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x .venv/bin/aerofs ] || { echo "run-demo: error: no .venv/bin/aerofs; run 'make setup' (or 'make run')" >&2; exit 1; }

LANDING="${AEROFS_LANDING:-data/landing}"
LAKE="${AEROFS_LAKE:-data/lake}"
for location in "$LANDING" "$LAKE"; do
    case "$location" in
    *://*)
        echo "run-demo: error: the demo works on local folders only (got $location); unset AEROFS_LANDING/AEROFS_LAKE" >&2
        exit 1
        ;;
    esac
done
BATCH=sample
DATASET=sample
AEROFS=.venv/bin/aerofs
BATCH_DIR="$LANDING/$BATCH"

echo "==> sample batch: $BATCH_DIR"
if [ -f "$BATCH_DIR/_SUCCESS" ]; then
    echo "    (already there; delete it to regenerate)"
else
    .venv/bin/python -m aerofs_pipelines.sample_data "$LANDING" --batch "$BATCH" >/dev/null
fi
ls -l "$BATCH_DIR"

TABLES="$LAKE/tables/$DATASET/batch=$BATCH"
REJECTS="$LAKE/rejects/$DATASET/batch=$BATCH"
TEXT_STATS="$LAKE/text_stats/batch=$BATCH"
mkdir -p "$TABLES" "$REJECTS" "$TEXT_STATS"

shopt -s nullglob
for src in "$BATCH_DIR"/*.csv "$BATCH_DIR"/*.tsv; do
    name="$(basename "$src")"
    stem="${name%.*}"
    echo
    echo "==> aerofs convert $src (bad rows quarantined)"
    "$AEROFS" convert "$src" "$TABLES/$stem.parquet" \
        --on-error quarantine --rejects "$REJECTS/$stem.rejects.csv"
    echo "    digest: $("$AEROFS" digest "$src" | cut -d' ' -f1)"
done

for src in "$BATCH_DIR"/*.txt "$BATCH_DIR"/*.md "$BATCH_DIR"/*.log; do
    name="$(basename "$src")"
    stem="${name%.*}"
    out="$TEXT_STATS/$stem.json"
    echo
    echo "==> aerofs analyze $src --top-k 5"
    # Written to a temporary name, then renamed: readers never see a partial file.
    "$AEROFS" analyze "$src" --top-k 20 --json >"$out.tmp"
    mv -f "$out.tmp" "$out"
    "$AEROFS" analyze "$src" --top-k 5
    echo "    digest: $("$AEROFS" digest "$src" | cut -d' ' -f1)"
done

echo
echo "==> lake: $LAKE"
find "$LAKE" -type f | sort | while read -r f; do
    printf '    %8s  %s\n' "$(wc -c <"$f" | tr -d ' ')" "$f"
done
echo
echo "Read the table back with:"
echo "  .venv/bin/python -c \"import pyarrow.parquet as pq; print(pq.read_table('$TABLES/orders.parquet'))\""
