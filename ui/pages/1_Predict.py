"""Predict page: a form generated from the served model's schema, and CSV batch scoring with a download.

The form follows whatever model the API serves (``GET /predict/schema``, else the record in
``/openapi.json``): numbers get number inputs, categories selectboxes. Batches are sent in chunks
no larger than the API's ``maxItems``; a 413 halves the chunk and retries.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import streamlit as st

from ui.client import ApiClient, ApiError, ApiResponseError, EndpointMissingError
from ui.common import fetch, page_setup, show_error
from ui.predict_form import chunks, fields_from_openapi, max_batch_from_openapi, records_from_frame, results_frame

DEFAULT_BATCH = 1000


def load_schema(api: ApiClient) -> dict[str, Any] | None:
    """The record schema (cached for the session once it loaded) with ``max_batch`` added."""
    cached = st.session_state.get("predict_schema")
    if cached is not None:
        return cached
    try:
        schema: dict[str, Any] | None = api.predict_schema()
    except EndpointMissingError:
        openapi = fetch(api.openapi)
        schema = fields_from_openapi(openapi) if openapi else None
        if openapi and schema is None:
            st.error(f"The API at {api.base_url} describes no /predict record: is the classic model served there?")
    except ApiError as exc:
        show_error(exc)
        return None
    if schema is None:
        return None
    try:
        schema["max_batch"] = max_batch_from_openapi(api.openapi()) or DEFAULT_BATCH
    except ApiError:
        schema["max_batch"] = DEFAULT_BATCH
    st.session_state["predict_schema"] = schema
    return schema


def field_input(field: dict[str, Any]) -> Any:
    name, low, high = field["name"], field.get("min"), field.get("max")
    if field["type"] == "number":
        default = round((low + high) / 2, 2) if low is not None and high is not None else 0.0
        hint = f"training range [{low:g}, {high:g}]" if low is not None and high is not None else None
        return st.number_input(name, value=float(default), help=hint, key=f"field_{name}")
    categories = list(field.get("categories") or [])
    if not categories:
        return st.text_input(name, key=f"field_{name}") or None
    options: list[Any] = categories + ([None] if field.get("nullable") else [])
    return st.selectbox(name, options, format_func=lambda v: "(missing)" if v is None else str(v), key=f"field_{name}")


def show_prediction(result: dict[str, Any]) -> None:
    prediction = result["predictions"][0]
    model = result.get("model") or {}
    st.metric("Prediction", str(prediction.get("prediction")))
    st.caption(f"model {model.get('name', '?')} v{model.get('version', '?')} · request {result.get('request_id', '')}")
    probabilities = prediction.get("probabilities") or {}
    if probabilities:
        frame = pd.DataFrame({"class": list(probabilities), "probability": list(probabilities.values())})
        st.bar_chart(frame, x="class", y="probability", horizontal=True)
    for warning in prediction.get("warnings", []):
        st.warning(warning)
    if prediction.get("unknown_categories"):
        st.warning("Categories never seen in training: " + ", ".join(prediction["unknown_categories"]))


def _batch_error(exc: ApiResponseError, offset: int) -> str:
    """A 422 on a chunk, with the CSV line numbers of the rows at fault (header = line 1)."""
    if exc.status != 422 or not isinstance(exc.detail, list):
        return exc.message
    parts = []
    for item in exc.detail[:5]:
        loc = [p for p in item.get("loc", []) if p != "body"]
        where = f"line {offset + loc[0] + 2}, {'.'.join(map(str, loc[1:]))}" if loc and isinstance(loc[0], int) else ""
        parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
    return "The API refused rows of the CSV: " + "; ".join(parts)


def score_batch(api: ApiClient, records: list[dict[str, Any]], size: int) -> list[dict[str, Any]] | None:
    predictions: list[dict[str, Any]] = []
    bar = st.progress(0.0, text=f"Scoring {len(records)} rows")
    while len(predictions) < len(records):
        offset = len(predictions)
        part = chunks(records[offset:], size)[0]
        try:
            predictions.extend(api.predict(part)["predictions"])
        except ApiResponseError as exc:
            if exc.status == 413 and size > 1:
                size = max(1, size // 2)
                continue
            st.error(_batch_error(exc, offset))
            return None
        except ApiError as exc:
            show_error(exc)
            return None
        bar.progress(len(predictions) / len(records), text=f"Scored {len(predictions)} of {len(records)} rows")
    return predictions


def batch_section(api: ApiClient, schema: dict[str, Any]) -> None:
    st.caption("A CSV with one column per field (a header row); empty cells are sent as missing values.")
    upload = st.file_uploader("CSV file", type=["csv"])
    if upload is None:
        return
    try:
        frame = pd.read_csv(io.BytesIO(upload.getvalue()))
    except (ValueError, UnicodeDecodeError) as exc:
        st.error(f"{upload.name} could not be read as CSV: {exc}")
        return
    records, problems = records_from_frame(frame, schema["fields"])
    for problem in problems:
        st.error(f"{upload.name}: {problem}")
    if problems or not records:
        return
    key = f"batch_{upload.file_id}"
    if st.button(f"Score {len(records)} rows", type="primary"):
        st.session_state[key] = score_batch(api, records, int(schema["max_batch"]))
    predictions = st.session_state.get(key)
    if predictions:
        results = results_frame(frame, predictions)
        st.dataframe(results, width="stretch")
        name = upload.name.rsplit(".", 1)[0] + "_predictions.csv"
        st.download_button("Download the predictions (CSV)", results.to_csv(index=False), name, "text/csv")


client = page_setup("Predict", "🐧")
st.title("Predict")
predict_schema = load_schema(client)
if predict_schema is None:
    st.stop()
model_ref = predict_schema.get("model") or {}
if model_ref:
    classes = ", ".join(predict_schema.get("classes") or [])
    st.caption(
        f"Model {model_ref.get('name')} v{model_ref.get('version')} predicts **{predict_schema.get('target')}**"
        + (f" ({classes})" if classes else "")
    )
if st.sidebar.button("Reload the schema", help="After `genaiops train` and a reload of the API's model"):
    st.session_state.pop("predict_schema", None)
    st.rerun()

one, batch = st.tabs(["One record", "Batch (CSV)"])
with one:
    with st.form("predict"):
        columns = st.columns(2)
        record = {}
        for i, spec in enumerate(predict_schema["fields"]):
            with columns[i % 2]:
                record[spec["name"]] = field_input(spec)
        submitted = st.form_submit_button("Predict", type="primary")
    if submitted:
        st.session_state["prediction"] = fetch(lambda: client.predict(record))
    if st.session_state.get("prediction"):
        show_prediction(st.session_state["prediction"])
with batch:
    batch_section(client, predict_schema)
