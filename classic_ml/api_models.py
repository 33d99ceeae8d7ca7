"""Pydantic models of the /predict API; the request record is built at run time from the model's schema.

``build_request_model`` turns the saved feature schema into a model with one required field per
feature: numbers are strict, finite floats within the model's limits (``FieldSpec.limits``: an
impossible value is a 422 naming the field); categories are strings whose known values are listed
in the description (others are accepted and flagged); nullable only where training saw nulls;
unknown fields are refused. Field names that are not Python identifiers are kept as aliases.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from classic_ml.schema import FeatureSchema, FieldSpec


def _example(spec: FieldSpec) -> Any:
    if spec.kind == "number":
        if spec.min is None or spec.max is None:
            return 0.0
        return round((spec.min + spec.max) / 2, 2)
    return (spec.categories or ["a value"])[0]


def _field(spec: FieldSpec) -> tuple[Any, Any]:
    if spec.kind == "number":
        lo, hi = spec.limits()
        base: Any = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=lo, le=hi)]
        described = "number"
        if lo is not None or hi is not None:
            described += f" in [{_g(lo, '-inf')}, {_g(hi, 'inf')}] (beyond: refused as impossible)"
        if spec.min is not None and spec.max is not None:
            described += f"; training range [{spec.min:g}, {spec.max:g}] (values outside are accepted with a warning)"
    else:
        base = Annotated[str, Field(strict=True, max_length=200)]
        known = ", ".join(spec.categories or [])
        described = f"category, one of: {known} (other values are accepted and flagged as unknown)"
    if spec.nullable:
        base = base | None
        described += "; may be null (imputed)"
    return base, Field(..., alias=spec.name, description=described, examples=[_example(spec)])


def _g(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:g}"


def build_request_model(schema: FeatureSchema) -> type[BaseModel]:
    """One record of ``POST /predict`` for this schema (``model_dump(by_alias=True)`` gives the column names)."""
    example = {spec.name: _example(spec) for spec in schema.fields}
    fields = {f"f_{i}": _field(spec) for i, spec in enumerate(schema.fields)}
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})
    return create_model("PredictRecord", __config__=config, **fields)  # type: ignore[call-overload]


class ModelRef(BaseModel):
    name: str
    version: str
    source: str = Field(description="'registry' or 'local' (the registry was unreachable at load time).")


class PredictionOut(BaseModel):
    prediction: str | int | float
    probabilities: dict[str, float] | None = Field(None, description="Class -> probability (classifiers).")
    unknown_categories: list[str] = Field(default_factory=list, description="Fields whose category was not seen.")
    warnings: list[str] = Field(default_factory=list, description="Numbers outside the training range.")


class PredictResponse(BaseModel):
    request_id: str
    model: ModelRef
    predictions: list[PredictionOut]


class FieldOut(BaseModel):
    name: str
    type: str
    nullable: bool
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    limit_min: float | None = Field(None, description="Numbers: below this /predict refuses the value (422).")
    limit_max: float | None = Field(None, description="Numbers: above this /predict refuses the value (422).")


class SchemaResponse(BaseModel):
    model: ModelRef
    fields: list[FieldOut]
    target: str
    task: str
    classes: list[str] | None


class ReloadResponse(BaseModel):
    model: ModelRef
    previous: ModelRef | None
    changed: bool


def schema_response(schema: FeatureSchema, model: ModelRef) -> SchemaResponse:
    fields = []
    for f in schema.fields:
        lo, hi = f.limits() if f.kind == "number" else (None, None)
        fields.append(
            FieldOut(
                name=f.name,
                type=f.kind,
                nullable=f.nullable,
                min=f.min,
                max=f.max,
                categories=f.categories,
                limit_min=lo,
                limit_max=hi,
            )  # fmt: skip
        )
    return SchemaResponse(model=model, fields=fields, target=schema.target, task=schema.task, classes=schema.classes)
