#!/bin/sh
# One-shot bootstrap of the stack (the compose `init` service, same image as the API):
# index the course into Chroma, train + register the classic model in MLflow, push the prompts.
# Runs once per data volume: a marker in $GENAIOPS_DATA_DIR skips it on later `docker compose up`.
#   INIT_MODE=once (default)  skip when the marker exists
#   INIT_MODE=always          run again (e.g. `docker compose run --rm -e INIT_MODE=always init`)
set -eu
data_dir="${GENAIOPS_DATA_DIR:-/data}"
marker="$data_dir/.init-done"
mode="${INIT_MODE:-once}"

case "$mode" in
  once | always) ;;
  *) echo "init: INIT_MODE must be 'once' or 'always', got '$mode'" >&2; exit 2 ;;
esac

if [ "$mode" = once ] && [ -f "$marker" ]; then
  echo "init: already done ($(cat "$marker")); INIT_MODE=always to run again"
  exit 0
fi

mkdir -p "$data_dir"
rm -f "$marker"
echo "init: ingest"
genaiops ingest
echo "init: train"
genaiops train
echo "init: prompts push"
genaiops prompts push
if [ -n "${GENAIOPS_UI__API_KEY:-}" ]; then
  echo "init: client key of the UI"
  genaiops keys create ui --from-env GENAIOPS_UI__API_KEY --exist-ok > /dev/null
fi
date -u +%Y-%m-%dT%H:%M:%SZ > "$marker"
echo "init: done"
