"""The one module of the UI that speaks HTTP: a typed client of the API contract in docs/api.md.

Pages never see httpx: every failure becomes an ``ApiError`` whose ``message`` is a sentence a
user can act on (start the API, wait, fix a field), so a page shows ``st.error(exc.message)``
instead of a traceback. The UI never imports ``rag`` or ``classic_ml``: it runs as well against
a deployed API as against a local one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from genaiops.settings import Settings, get_settings

SERVE_HINT = "start it with `genaiops serve` (or `genaiops up`), or point GENAIOPS_API_URL at it"


class ApiError(Exception):
    """Any failure talking to the API; ``message`` is what the page shows."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiUnreachableError(ApiError):
    """Nothing answers at the API URL (not started, wrong URL, network)."""


class ApiTimeoutError(ApiError):
    """The API accepted the call but did not answer in time."""


class EndpointMissingError(ApiError):
    """The API answers but has no such route (an older or partial deployment)."""


class ModelBusyError(ApiError):
    """429: the answering model is saturated; ``retry_after_s`` says when to ask again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


class ApiResponseError(ApiError):
    """The API answered with an error status; ``detail`` is its ``{"detail": ...}``."""

    def __init__(self, message: str, status: int, detail: Any = None) -> None:
        super().__init__(message, status)
        self.detail = detail


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event of ``/ask/stream``: ``token`` {text}, ``done`` (the /ask body) or ``error``."""

    event: str
    data: dict[str, Any]


def parse_sse(lines: Iterable[str]) -> Iterator[StreamEvent]:
    """Server-sent events from text lines (``event:``/``data:`` fields, a blank line ends an event)."""
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield _event(event, "\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue  # comment / keep-alive
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield _event(event, "\n".join(data))


def _event(event: str, payload: str) -> StreamEvent:
    try:
        data = json.loads(payload)
    except ValueError:
        data = {"text": payload}
    return StreamEvent(event, data if isinstance(data, dict) else {"value": data})


def describe_detail(detail: Any) -> str:
    """FastAPI's ``detail`` as one line: a 422 list becomes 'field: message; ...'."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        return str(detail.get("detail") or detail.get("message") or json.dumps(detail))
    return str(detail)


class ApiClient:
    """Calls of the API; one per UI session (``session_client``), closed with the session."""

    def __init__(
        self, base_url: str, timeout_s: float = 10.0, ask_timeout_s: float = 180.0, api_key: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.ask_timeout_s = ask_timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None  # the client key (ui.api_key)
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5))
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiClient:
        ui = settings.ui
        key = ui.api_key.get_secret_value() if ui.api_key is not None else None
        return cls(ui.api_url, ui.timeout_s, ui.ask_timeout_s, key)

    def close(self) -> None:
        self._http.close()

    # -- plumbing ----------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, timeout=timeout or httpx.USE_CLIENT_DEFAULT, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, method, path, timeout or self.timeout_s) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, **kwargs)
        self._raise_for_status(response, method, path)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"The API answered {method} {path} with something that is not JSON.") from exc

    def _transport_error(self, exc: httpx.TransportError, method: str, path: str, timeout: float) -> ApiError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return ApiUnreachableError(f"The API at {self.base_url} is not reachable: {SERVE_HINT}.")
        if isinstance(exc, httpx.TimeoutException):
            return ApiTimeoutError(
                f"The API at {self.base_url} did not answer {method} {path} within {timeout:g} s: "
                "it may be busy or stuck; try again in a moment."
            )
        return ApiUnreachableError(f"The connection to the API at {self.base_url} failed ({type(exc).__name__}).")

    def _raise_for_status(self, response: httpx.Response, method: str, path: str) -> None:
        if response.is_success:
            return
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = response.text[:300]
        status = response.status_code
        if status in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
            raise EndpointMissingError(
                f"The API at {self.base_url} has no {method} {path} endpoint (an older or partial deployment).",
                status,
            )
        text = describe_detail(detail) or response.reason_phrase
        if status == 429:
            retry_after = int(response.headers.get("Retry-After", "5") or 5)
            raise ModelBusyError(f"The model is busy: retrying in {retry_after} s", max(1, retry_after))
        if status == 401 and path != "/documents" and not path.startswith("/documents/"):
            message = f"The API needs a client key: set GENAIOPS_UI__API_KEY ({text})"
        elif status == 503:
            message = f"The API cannot serve {path} right now: {text}"
        elif status >= 500:
            message = f"The API failed on {method} {path} (HTTP {status}): {text}"
        else:
            message = f"The API refused the request (HTTP {status}): {text}"
        raise ApiResponseError(message, status, detail)

    # -- health ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def ready(self) -> dict[str, Any]:
        """The readiness body, whether the API is ready (200) or not (503, with the reasons)."""
        response = self._send("GET", "/ready")
        if response.status_code == 503:
            try:
                return response.json()
            except ValueError:
                pass
        self._raise_for_status(response, "GET", "/ready")
        return response.json()

    # -- RAG ---------------------------------------------------------------------------------
    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> dict[str, Any]:
        body = {"question": question, "history": history or []}
        return self._json("POST", "/ask", json=body, timeout=self.ask_timeout_s)

    def ask_stream(
        self, question: str, history: list[dict[str, str]] | None = None, conversation_id: str | None = None
    ) -> Iterator[StreamEvent]:
        """Events of ``POST /ask/stream``; raises ``ApiError`` before the first event or mid-stream.

        With ``conversation_id`` the server continues that conversation from its own turns.
        """
        body: dict[str, Any] = {"question": question, "history": history or []}
        if conversation_id:
            body["conversation_id"] = conversation_id
        path = "/ask/stream"
        try:
            with self._http.stream("POST", path, json=body, timeout=self.ask_timeout_s) as response:
                if not response.is_success:
                    response.read()
                    self._raise_for_status(response, "POST", path)
                yield from parse_sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._transport_error(exc, "POST", path, self.ask_timeout_s) from exc

    def feedback(self, request_id: str, rating: str, comment: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"request_id": request_id, "rating": rating}
        if comment:
            body["comment"] = comment
        return self._json("POST", "/feedback", json=body)

    # -- conversations -----------------------------------------------------------------------
    def conversations(self) -> list[dict[str, Any]]:
        return self._json("GET", "/conversations")

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return self._json("GET", f"/conversations/{conversation_id}")

    def delete_conversation(self, conversation_id: str) -> None:
        self._request("DELETE", f"/conversations/{conversation_id}")

    # -- documents (admin key) ---------------------------------------------------------------
    def documents(self, admin_key: str) -> list[dict[str, Any]]:
        return self._json("GET", "/documents", headers={"X-API-Key": admin_key})

    def upload_document(self, admin_key: str, name: str, data: bytes) -> dict[str, Any]:
        return self._json(
            "POST", "/documents", files={"file": (name, data)}, headers={"X-API-Key": admin_key}, timeout=300.0
        )

    def delete_document(self, admin_key: str, document_id: str) -> None:
        self._request("DELETE", f"/documents/{document_id}", headers={"X-API-Key": admin_key})

    # -- classic model -----------------------------------------------------------------------
    def predict_schema(self) -> dict[str, Any]:
        return self._json("GET", "/predict/schema")

    def openapi(self) -> dict[str, Any]:
        return self._json("GET", "/openapi.json")

    def predict(self, records: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        return self._json("POST", "/predict", json=records, timeout=max(self.timeout_s, 60.0))

    # -- monitoring, prompts, evaluation -----------------------------------------------------
    def monitoring_classic(self, window: int | None = None) -> dict[str, Any]:
        return self._json("GET", "/monitoring/classic", params=_params(window=window))

    def monitoring_rag(self, window: int | None = None) -> dict[str, Any]:
        return self._json("GET", "/monitoring/rag", params=_params(window=window))

    def prompts(self) -> list[dict[str, Any]]:
        return self._json("GET", "/prompts")

    def prompt_diff(self, name: str, v1: str, v2: str) -> dict[str, Any]:
        return self._json("GET", f"/prompts/{name}/diff", params={"v1": v1, "v2": v2})

    def eval_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._json("GET", "/eval/runs", params={"limit": limit})


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def session_client() -> ApiClient:
    """The client of this browser session, built from the settings once per session."""
    import streamlit as st

    client = st.session_state.get("_api_client")
    if client is None:
        client = ApiClient.from_settings(get_settings())
        st.session_state["_api_client"] = client
    return client
