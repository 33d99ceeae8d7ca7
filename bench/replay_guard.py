"""Tune the answer guard on the dev split without paying for the model twice: record, then replay.

``record`` asks every in-scope question of a split once through the real model and keeps each raw
generation (JSONL under ``var/bench/``). ``replay`` runs the same retrieval again (no model) and hands
each recorded generation to the service's own answer decision (grounding check, table lookup,
extractive fallback), then reports generative rate and answer fact recall, overall and per category,
and which questions changed since the previous replay. A change to ``rag.answer`` / ``rag.grounding``
/ ``rag.lookup`` is measured in seconds instead of a 12-minute eval; the eval (and bench_answers on
the test split) stays the judge of a change that alters what the model is asked.

    python -m bench.replay_guard record [--split dev] [--model qwen2.5-coder-1.5b-instruct-q4_k_m]
    python -m bench.replay_guard replay [--split dev] [--model ...] [--show-misses]
    python -m bench.replay_guard context [--rag top_k=3 --rag context_chars=1000]  # no model: facts lost before it
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from bench.bench_answers import LARGE, bench_settings
from genaiops.settings import REPO_ROOT, Settings

OUT_DIR = REPO_ROOT / "var" / "bench"

cli = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


def _settings(model: str, data_dir: Path, rag: list[str] | None = None) -> Settings:
    """The bench's settings; ``rag``: ``key=value`` overrides of ``settings.rag`` (e.g. ``top_k=3``)."""
    overrides = dict(pair.split("=", 1) for pair in rag or [])
    return bench_settings(data_dir, {"llm": {"model": model}, "rag": overrides})


RAG_OPTION = typer.Option([], "--rag", help="key=value override of settings.rag, repeatable (e.g. top_k=3).")


def _service(settings: Settings, real_model: bool) -> Any:
    from rag.fake_llm import FakeChatModel
    from rag.ingest import ingest
    from rag.service import build_rag_service
    from rag.tracing import NullTracer

    ingest(settings, progress=False)
    return build_rag_service(settings, chat_model=None if real_model else FakeChatModel(), tracer=NullTracer())


def _items(split: str, kinds: tuple[str, ...] = ("in_scope", "out_of_scope")) -> list[Any]:
    from eval.golden import load_golden

    return [i for i in load_golden(split=split) if i.kind in kinds]  # type: ignore[arg-type]


def _paths(split: str, model: str, tag: str = "") -> tuple[Path, Path]:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    name = f"{split}-{model}" + (f"-{tag}" if tag else "")
    return OUT_DIR / f"generations-{name}.jsonl", OUT_DIR / f"replay-{name}.json"


@cli.command()
def record(
    split: str = "dev",
    model: str = LARGE,
    data_dir: Path = OUT_DIR / "replay-data",
    kind: str = "in_scope",
    tag: str = typer.Option("", help="Names this recording (e.g. the prompt variant it was made with)."),
    rag: list[str] = RAG_OPTION,
) -> None:
    """Ask the split's questions of one kind once through the real model and keep the raw generations
    (added to what was recorded for the other kinds)."""
    from rich.progress import track

    generations, _ = _paths(split, model, tag)
    service = _service(_settings(model, data_dir, rag), real_model=True)
    old = generations.read_text(encoding="utf-8").splitlines() if generations.exists() else []
    rows = [r for r in map(json.loads, old) if r.get("kind", "in_scope") != kind]
    for item in track(_items(split, (kind,)), description=f"recording {split}"):
        plan = service.prepare(item.question, history=item.history or None)
        if plan.final is not None:
            rows.append({"id": item.id, "kind": kind, "final": True})
            continue
        pieces = list(service.tokens(plan))
        generated = "".join(pieces)
        rows.append(
            {"id": item.id, "kind": kind, "generated": generated, "pieces": len(pieces), "stopped": plan.stopped}
        )
    generations.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    typer.echo(f"{len(rows)} generations -> {generations}")


@cli.command()
def context(
    split: str = "dev", model: str = LARGE, data_dir: Path = OUT_DIR / "replay-data", rag: list[str] = RAG_OPTION
) -> None:
    """Where the expected facts are lost before the model (no model): in the retrieved passages, in the focused
    context the model reads, and how long that prompt is (tokens after the cached system prompt)."""
    import statistics

    from llama_cpp import Llama

    from eval.golden import missing_facts
    from rag.llm_weights import model_path

    settings = _settings(model, data_dir, rag)
    service = _service(settings, real_model=False)
    vocab = Llama(model_path=str(model_path(settings)), vocab_only=True, verbose=False)
    rows: list[tuple[set[str], float, float]] = []
    tokens: list[int] = []
    for item in _items(split, ("in_scope",)):
        if not item.expected_facts:
            continue
        plan = service.prepare(item.question, history=item.history or None)
        shown = full = ""
        if plan.final is None and plan.prompt is not None:
            user = plan.prompt.messages[-1][1]
            shown = user.split("<context>", 1)[1].split("</context>", 1)[0]
            full = "\n".join(f"{p.chunk.path}\n{p.chunk.text}" for p in plan.prompt.passages)
            text = "".join(content for _, content in plan.prompt.messages[1:])
            tokens.append(len(vocab.tokenize(text.encode(), add_bos=False)))
        facts = len(item.expected_facts)
        share = [1 - len(missing_facts(t, item.expected_facts)) / facts for t in (full, shown)]
        rows.append((set(item.categories), share[0], share[1]))
    typer.echo(
        f"{len(rows)} questions: facts in the retrieved passages {statistics.fmean(r[1] for r in rows):.3f}, "
        f"in the focused context {statistics.fmean(r[2] for r in rows):.3f}; "
        f"new prompt tokens p50 {statistics.median(tokens) if tokens else 0:.0f}"
    )
    for category in sorted(set().union(*(r[0] for r in rows))):
        members = [r for r in rows if category in r[0]]
        typer.echo(
            f"  {category:12s} n={len(members):3d} passages {statistics.fmean(r[1] for r in members):.2f} "
            f"context {statistics.fmean(r[2] for r in members):.2f}"
        )


@cli.command()
def replay(
    split: str = "dev",
    model: str = LARGE,
    data_dir: Path = OUT_DIR / "replay-data",
    show_misses: bool = False,
    tag: str = typer.Option("", help="Which recording to replay (its record --tag)."),
    rag: list[str] = RAG_OPTION,
) -> None:
    """Decide every recorded generation again with today's guard; report and compare with the last replay."""
    from eval.golden import missing_facts
    from eval.rag_eval import fact_recall

    generations, previous_path = _paths(split, model, tag)
    recorded = {r["id"]: r for r in map(json.loads, generations.read_text(encoding="utf-8").splitlines())}
    service = _service(_settings(model, data_dir, rag), real_model=False)
    previous = json.loads(previous_path.read_text(encoding="utf-8")) if previous_path.exists() else {}
    results: dict[str, dict[str, Any]] = {}
    for item in _items(split):
        row = recorded.get(item.id)
        if row is None:
            continue
        plan = service.prepare(item.question, history=item.history or None)
        if plan.final is not None or row.get("final"):
            answer = service.complete_fixed(plan) if plan.final is not None else None
            text, mode = (answer.answer, answer.mode) if answer else ("(retrieval changed since recording)", "?")
        else:
            plan.stopped = row["stopped"]
            answer = service.complete(plan, row["generated"], row["pieces"])
            text, mode = answer.answer, answer.mode
        missing, recall = missing_facts(text, item.expected_facts), fact_recall(item, text)
        raw = fact_recall(item, row.get("generated", "")) if "generated" in row else None
        results[item.id] = {"kind": item.kind, "mode": mode, "recall": recall, "missing": [str(m) for m in missing],
                            "raw_recall": raw,
                            "answer": text, "categories": item.categories,
                            "reason": getattr(answer, "guard_reason", None)}  # fmt: skip
    _report(results, previous, show_misses)
    previous_path.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


def _summary(results: dict[str, dict[str, Any]]) -> tuple[float, float]:
    results = {k: v for k, v in results.items() if v.get("kind", "in_scope") == "in_scope"}
    recalls = [r["recall"] for r in results.values() if r["recall"] is not None]
    generative = sum(r["mode"] == "generative" for r in results.values()) / max(1, len(results))
    return generative, sum(recalls) / max(1, len(recalls))


def _guard_report(results: dict[str, dict[str, Any]]) -> None:
    """What the guard did to the model's own words: kept, replaced while they held every fact, etc."""
    rows = [r for r in results.values() if r.get("raw_recall") is not None]
    if not rows:
        return
    raw = sum(r["raw_recall"] for r in rows) / len(rows)
    kept = [r for r in rows if r["mode"] == "generative"]
    replaced = [r for r in rows if r["mode"] != "generative"]
    lost = sum(r["raw_recall"] == 1 and (r["recall"] or 0) < 1 for r in replaced)
    gained = sum((r["recall"] or 0) > r["raw_recall"] for r in replaced)
    typer.echo(
        f"  raw generations: fact recall {raw:.3f} over {len(rows)}; guard kept {len(kept)}, replaced "
        f"{len(replaced)} (of which {lost} held every fact and lost some, {gained} gained facts)"
    )


def _report(results: dict[str, dict[str, Any]], previous: dict[str, dict[str, Any]], show_misses: bool) -> None:
    generative, recall = _summary(results)
    in_scope = sum(r.get("kind", "in_scope") == "in_scope" for r in results.values())
    typer.echo(f"{in_scope} in-scope questions: generative {generative:.3f}, fact recall {recall:.3f}")
    outside = [r for r in results.values() if r.get("kind") == "out_of_scope"]
    if outside:
        refused = sum(r["mode"] == "refusal" for r in outside) / len(outside)
        typer.echo(f"{len(outside)} out-of-scope questions: refusal accuracy {refused:.3f}")
    _guard_report(results)
    if previous:
        before = _summary({k: v for k, v in previous.items() if k in results})
        typer.echo(f"  last replay: generative {before[0]:.3f}, fact recall {before[1]:.3f}")
    categories = sorted({c for r in results.values() for c in r["categories"]})
    for category in categories:
        members = {k: v for k, v in results.items() if category in v["categories"]}
        g, r = _summary(members)
        typer.echo(f"  {category:12s} n={len(members):3d} generative {g:.2f} fact recall {r:.2f}")
    for key, now in results.items():
        was = previous.get(key)
        if was and (was["mode"], was["recall"]) != (now["mode"], now["recall"]):
            typer.echo(f"changed {key}: {was['mode']} {was['recall']} -> {now['mode']} {now['recall']}")
            typer.echo(f"    was: {was['answer'][:160]!r}\n    now: {now['answer'][:160]!r}")
    if show_misses:
        for key, now in results.items():
            if now["recall"] is not None and now["recall"] < 1:
                typer.echo(
                    f"miss {key} [{now['mode']}; {now['reason']}] missing {now['missing']}: {now['answer'][:200]!r}"
                )


if __name__ == "__main__":
    cli()
