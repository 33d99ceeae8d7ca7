"""The classic-model service the API holds: the champion, its request model, and the prediction log.

Built once in the lifespan (``build_classic_service``). A missing model does not stop the API:
``predict`` raises ``ModelUnavailableError`` (503 naming the command that trains one) until a
model is trained and ``reload`` is called. ``reload`` swaps the whole serving state in one
assignment, so a request in flight finishes on the model it started with.

When the registry also has a ``challenger`` (another version than the champion) and ``classic.shadow`` is
on, the state carries a ``ShadowScorer``: each request's records are handed to it after the champion
answered, and scored off the request path (``classic_ml.shadow``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from classic_ml.api_models import ModelRef, build_request_model
from classic_ml.prediction_log import PredictionLog, build_prediction_log, log_rows
from classic_ml.registry import (
    TRAIN_COMMAND,
    LoadedModel,
    NoModelError,
    RegistryUnavailableError,
    load_for_serving,
    load_registered,
)
from classic_ml.scoring import Scorer
from classic_ml.shadow import ShadowScorer, build_shadow
from genaiops.settings import Settings

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """No model to serve; the message says how to get one."""


class BatchTooLargeError(ValueError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} records in one request; the limit is {limit} (settings classic.max_batch)")


class RecordsInvalidError(ValueError):
    """The body does not match the model's schema; ``errors`` are pydantic-style with ``loc`` from the body."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid records")
        self.errors = errors


@dataclass(frozen=True)
class ServingState:
    model: LoadedModel
    scorer: Scorer
    request_model: type[BaseModel]
    one: TypeAdapter
    many: TypeAdapter
    shadow: ShadowScorer | None = None  # the challenger scoring the same traffic off the request path

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.model.name, version=self.model.version, source=self.model.source)


def _state(model: LoadedModel, shadow: ShadowScorer | None = None) -> ServingState:
    record = build_request_model(model.schema)
    return ServingState(model, Scorer(model), record, TypeAdapter(record), TypeAdapter(list[record]), shadow)  # type: ignore[valid-type]


class ClassicService:
    def __init__(self, settings: Settings, prediction_log: PredictionLog | None) -> None:
        self.settings = settings
        self.prediction_log = prediction_log
        self._state: ServingState | None = None
        self._reload_lock = threading.Lock()
        self._shadow_dirs: dict[int, str] = {}  # shadow scorer -> the folder its challenger was downloaded to

    @property
    def state(self) -> ServingState:
        state = self._state
        if state is None:
            raise ModelUnavailableError(f"no classic model is available: {TRAIN_COMMAND}, then POST /admin/reload")
        return state

    @property
    def request_model(self) -> type[BaseModel] | None:
        return self._state.request_model if self._state else None

    def readiness(self) -> str:
        return "ready" if self._state is not None else f"no model: {TRAIN_COMMAND}"

    def reload(self) -> tuple[ModelRef | None, ModelRef]:
        """Load the champion again (registry, else local copy); returns (previous, current)."""
        with self._reload_lock:
            previous = self._state.ref if self._state else None
            model = load_for_serving(self.settings)
            if model is None:
                raise ModelUnavailableError(f"no champion could be loaded: {TRAIN_COMMAND}")
            old = self._state
            self._state = _state(model, self._load_shadow(model))
            if old is not None and old.shadow is not None:
                old.shadow.close()
                shutil.rmtree(self._shadow_dirs.pop(id(old.shadow), ""), ignore_errors=True)
            return previous, self._state.ref

    def _load_shadow(self, champion: LoadedModel) -> ShadowScorer | None:
        """The registry's challenger behind a shadow scorer, when there is one other than the champion."""
        if not self.settings.classic.shadow or champion.source != "registry":
            return None
        target = Path(tempfile.mkdtemp(prefix="classic-challenger-"))  # removed when this shadow is replaced
        try:
            challenger = load_registered(self.settings, "challenger", target)
        except (NoModelError, RegistryUnavailableError) as exc:
            log.info("no shadow challenger: %s", exc)
            challenger = None
        if challenger is None or challenger.version == champion.version:
            shutil.rmtree(target, ignore_errors=True)
            return None
        log.info("shadow: challenger v%s scores /predict traffic off the request path", challenger.version)
        shadow = build_shadow(self.settings, challenger)
        self._shadow_dirs[id(shadow)] = str(target)
        return shadow

    def parse(self, body: Any) -> list[dict[str, Any]]:
        """A decoded JSON body (one record or a list) -> validated records keyed by column name."""
        state = self.state
        if isinstance(body, list):
            if not body:
                raise RecordsInvalidError([_error(("body",), "the batch is empty: send at least one record")])
            if len(body) > self.settings.classic.max_batch:
                raise BatchTooLargeError(len(body), self.settings.classic.max_batch)
            adapter, prefix = state.many, ("body",)
        elif isinstance(body, dict):
            adapter, prefix = state.one, ("body",)
        else:
            raise RecordsInvalidError([_error(("body",), "expected a record (JSON object) or a list of records")])
        try:
            parsed = adapter.validate_python(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            raise RecordsInvalidError([{**e, "loc": (*prefix, *e["loc"])} for e in errors]) from exc
        items = parsed if isinstance(parsed, list) else [parsed]
        return [item.model_dump(by_alias=True) for item in items]

    def predict(self, records: list[dict[str, Any]], request_id: str | None = None) -> dict[str, Any]:
        """Predictions for validated records, logged in the background; a JSON-ready response dict."""
        state = self.state
        request_id = request_id or uuid.uuid4().hex
        results = state.scorer.predict_records(records)
        if self.prediction_log is not None:
            self.prediction_log.append(log_rows(request_id, state.model.name, state.model.version, records, results))
        if state.shadow is not None:
            state.shadow.submit(request_id, state.model.version, records, results)
        return {"request_id": request_id, "model": state.ref.model_dump(), "predictions": results}

    @property
    def shadow(self) -> ShadowScorer | None:
        return self._state.shadow if self._state is not None else None

    def close(self) -> None:
        shadow = self.shadow
        if shadow is not None:
            shadow.close()
            shutil.rmtree(self._shadow_dirs.pop(id(shadow), ""), ignore_errors=True)
        if self.prediction_log is not None:
            self.prediction_log.close()


def _error(loc: tuple[Any, ...], msg: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": msg}


def build_classic_service(settings: Settings) -> ClassicService:
    """The service with the champion loaded when there is one (a missing model is reported, not fatal)."""
    settings.ensure_dirs()
    service = ClassicService(settings, build_prediction_log(settings))
    try:
        service.reload()
    except ModelUnavailableError as exc:
        log.warning("classic service started without a model: %s", exc)
    return service
