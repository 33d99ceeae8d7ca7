"""What the Predict page needs besides HTTP: the fields of a record, CSV rows as records, results as a table.

The field list normally comes from ``GET /predict/schema``. An API without that route still
publishes the record in ``/openapi.json``; ``fields_from_openapi`` reads the same information
(types, nullability, categories, training ranges) from there.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

_ONE_OF = re.compile(r"one of: (.*?)(?: \(|;|$)")
_RANGE = re.compile(r"range \[(-?[\d.e+-]+), (-?[\d.e+-]+)\]")


def _resolve(schema: dict[str, Any], openapi: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = openapi
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part, {})
    return node


def _record_schema(openapi: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
    """The record object of POST /predict and the most records one call takes (``maxItems``)."""
    body = openapi.get("paths", {}).get("/predict", {}).get("post", {}).get("requestBody", {})
    schema = body.get("content", {}).get("application/json", {}).get("schema", {})
    record, limit = None, None
    for option in schema.get("anyOf", [schema]):
        option = _resolve(option, openapi)
        if option.get("type") == "array":
            limit = option.get("maxItems")
            record = record or _resolve(option.get("items", {}), openapi)
        elif option.get("properties"):
            record = option
    return record, limit


def max_batch_from_openapi(openapi: dict[str, Any]) -> int | None:
    return _record_schema(openapi)[1]


def _field(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    options = prop.get("anyOf", [prop])
    types = {o.get("type") for o in options}
    description = prop.get("description", "")
    field: dict[str, Any] = {"name": name, "nullable": "null" in types, "min": None, "max": None, "categories": None}
    if types & {"number", "integer"}:
        field["type"] = "number"
        # the schema's minimum / maximum are the limits /predict enforces; the training range is in the description
        field["limit_min"] = next((o["minimum"] for o in options if "minimum" in o), None)
        field["limit_max"] = next((o["maximum"] for o in options if "maximum" in o), None)
        if found := _RANGE.search(description):
            field["min"], field["max"] = float(found.group(1)), float(found.group(2))
    else:
        field["type"] = "category"
        enum = next((o["enum"] for o in options if "enum" in o), None)
        if enum is None and (found := _ONE_OF.search(description)):
            enum = [v.strip() for v in found.group(1).split(",") if v.strip()]
        field["categories"] = enum
    return field


def fields_from_openapi(openapi: dict[str, Any]) -> dict[str, Any] | None:
    """A ``/predict/schema``-shaped dict read from the OpenAPI document, or None if it has no record."""
    record, _ = _record_schema(openapi)
    if not record or not record.get("properties"):
        return None
    fields = [_field(name, prop) for name, prop in record["properties"].items()]
    return {"fields": fields, "target": None, "classes": None, "model": None}


def records_from_frame(frame: pd.DataFrame, fields: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """CSV rows as /predict records (numbers as floats, categories as text, blanks as null) and the problems."""
    missing = [f["name"] for f in fields if f["name"] not in frame.columns]
    if missing:
        return [], [f"the CSV has no column {', '.join(missing)} (expected: {', '.join(f['name'] for f in fields)})"]
    problems: list[str] = []
    columns: dict[str, list[Any]] = {}
    for field in fields:
        name, values = field["name"], frame[field["name"]]
        if field["type"] == "number":
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & numbers.isna()
            if bad.any():
                line = int(bad.idxmax()) + 2  # the header is line 1
                problems.append(f"column {name}: {int(bad.sum())} value(s) are not numbers (line {line})")
            columns[name] = [None if _missing(v) else float(v) for v in numbers]
        else:
            columns[name] = [None if _missing(v) else str(v) for v in values]
    records = [{name: columns[name][i] for name in columns} for i in range(len(frame))]
    return records, problems


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def results_frame(frame: pd.DataFrame, predictions: list[dict[str, Any]]) -> pd.DataFrame:
    """The uploaded rows with the prediction and one ``p_<class>`` column per class appended."""
    out = frame.reset_index(drop=True).copy()
    out["prediction"] = [p.get("prediction") for p in predictions]
    classes = sorted({c for p in predictions for c in (p.get("probabilities") or {})})
    for cls in classes:
        out[f"p_{cls}"] = [(p.get("probabilities") or {}).get(cls) for p in predictions]
    out["warnings"] = [
        "; ".join([*p.get("warnings", []), *(f"unknown {f}" for f in p.get("unknown_categories", []))])
        for p in predictions
    ]
    return out


def chunks(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [records[i : i + size] for i in range(0, len(records), max(1, size))]
