#!/bin/sh
# Entry point of the mlflow image: make sure the backend database exists, then become the server.
# Everything comes from the environment (no credential on the command line, where `ps` would show it):
#   MLFLOW_BACKEND_STORE_URI      postgresql+psycopg://USER:PASSWORD@postgres:5432/mlflow (required)
#   MLFLOW_ARTIFACTS_DESTINATION  where proxied artifacts go (default /mlartifacts, a volume)
#   MLFLOW_SERVER_ALLOWED_HOSTS   Host headers accepted (e.g. mlflow:*,localhost:*)
#   PORT, MLFLOW_WORKERS          listen port (5000) and worker processes (2)
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI, e.g. postgresql+psycopg://USER:PASSWORD@postgres:5432/mlflow}"
export MLFLOW_ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-/mlartifacts}"
export MLFLOW_SERVE_ARTIFACTS=true
export MLFLOW_HOST=0.0.0.0
export MLFLOW_PORT="${PORT:-5000}"
export MLFLOW_WORKERS="${MLFLOW_WORKERS:-2}"
python "$(dirname "$0")/ensure_database.py"
exec mlflow server "$@"
