"""``GET /prompts``, ``GET /prompts/{name}/diff`` and ``GET /eval/runs`` (shapes in docs/api.md).

Thin: what the UI's Prompts & eval page reads. The listing comes from ``prompts.catalog`` (the
registry, else the files), the runs from ``eval.tracking``; MLflow calls run in the thread pool.
A tracking store that does not exist yet means "nothing registered / evaluated", not an error.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from app.deps import MlflowDep, SettingsDep

router = APIRouter(tags=["prompts"])


@router.get("/prompts", responses={200: {"description": "[{name, source, versions: [...]}]"}})
async def prompts(settings: SettingsDep) -> list[dict[str, Any]]:
    """Every prompt with its versions (newest first) and the aliases on each; file-only prompts last."""
    from prompts.catalog import catalog

    return await run_in_threadpool(catalog, settings)


@router.get("/prompts/{name}/diff", responses={404: {}, 503: {"description": "registry unreachable"}})
async def prompt_diff(
    name: str,
    settings: SettingsDep,
    v1: int = Query(..., ge=1, description="From this registered version."),
    v2: int = Query(..., ge=1, description="To this registered version."),
) -> dict[str, Any]:
    """Unified diff of two registered versions of a prompt."""
    from prompts.catalog import version_diff

    text = await run_in_threadpool(version_diff, settings, name, v1, v2)
    return {"name": name, "v1": str(v1), "v2": str(v2), "diff": text}


@router.get("/eval/runs", responses={503: {"description": "tracking store unreachable"}})
async def eval_runs(
    settings: SettingsDep,
    store: MlflowDep,
    limit: int = Query(50, ge=1, le=500, description="Newest runs first, at most this many."),
) -> list[dict[str, Any]]:
    """The offline RAG evaluations (experiment ``rag-eval``), newest first, with the prompt version each scored."""
    from eval.tracking import eval_runs as read_runs

    state = await run_in_threadpool(store.state, 1.0)
    if state == "empty":
        return []  # no store yet: nothing was evaluated
    if state == "unreachable":
        raise HTTPException(503, detail=f"tracking store at {store.uri} unreachable: eval runs cannot be read")
    return await run_in_threadpool(read_runs, settings, limit)
