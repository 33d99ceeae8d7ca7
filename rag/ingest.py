"""Ingestion: a folder of .md/.txt/.pdf becomes heading-aware chunks in the vector store, incrementally.

Chunk ids are content hashes, so the store is a function of the files: re-ingesting unchanged files
embeds nothing, a changed file gets its new chunks and loses its stale ones, a deleted file's chunks go.
Crash safety follows from the order of writes: a file's new chunks are upserted *before* its stale ones
are deleted, and sources that disappeared are removed last. A run killed anywhere leaves only valid
chunks (at worst both versions of the file being processed) and the next run converges to the same
store as a clean ingest, because it recomputes the same ids.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genaiops.settings import Settings
from rag.chunking import chunk_document, contextual_text, passage_units
from rag.types import Chunk, Embedder, SupportsUnits, VectorStore

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".txt", ".pdf")


class IngestError(ValueError):
    """The ingestion cannot start (missing folder, nothing ingestible); the message says what to fix."""


class SkipFile(Exception):
    """This file is left out of the index; ``str(exc)`` is the reason shown to the user."""


@dataclass
class IngestReport:
    files_seen: int = 0
    files_indexed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    units_added: int = 0  # passage lines embedded on their own (rag/retrieval.py scores a passage by its best)
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    seconds: float = 0.0
    root: str = ""
    collection: str = ""

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        return data


# ---------------------------------------------------------------- files


def discover(root: Path, exclude: list[str]) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """Supported files under ``root`` as (source, path), plus the ones refused with a reason.

    Hidden entries are ignored. A symlink is accepted only if it resolves inside ``root``: a link out of
    the corpus would index (and later cite) files the user never pointed us at.
    """
    real_root = root.resolve()
    found: list[tuple[str, Path]] = []
    refused: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:
            if (here / name).is_symlink():
                refused.append(((here / name).relative_to(root).as_posix(), "symlinked folder not followed"))
        for name in sorted(filenames):
            path = here / name
            source = path.relative_to(root).as_posix()
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if any(fnmatch.fnmatch(name, pattern) for pattern in exclude):
                continue
            if not path.resolve().is_relative_to(real_root):
                refused.append((source, "outside the ingested root (symlink escape)"))
                continue
            found.append((source, path))
    return found, refused


def load_text(path: Path) -> str:
    """The text of one file; raises ``SkipFile`` with a user-readable reason instead of crashing."""
    if path.suffix.lower() == ".pdf":
        text = _load_pdf(path)
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SkipFile(f"unreadable: {exc.strerror or exc}") from exc
        if b"\x00" in data:
            raise SkipFile("binary content, not text")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SkipFile(f"not valid UTF-8 (byte {exc.start}): convert it to UTF-8") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SkipFile("empty")
    return text


def _load_pdf(path: Path) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except OSError as exc:
        raise SkipFile(f"unreadable: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a corrupt PDF can fail anywhere inside pypdf
        raise SkipFile(f"unreadable PDF: {exc}") from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise SkipFile("PDF has no extractable text (scanned images?)")
    return text


# ---------------------------------------------------------------- chunks


def chunk_id(source: str, heading: str, index: int, text: str, title: str = "") -> str:
    """Content hash. The position is part of it so that ``chunk_index`` metadata can never go stale."""
    digest = hashlib.sha256("\x1f".join((source, title, heading, str(index), text)).encode("utf-8"))
    return digest.hexdigest()[:32]


def split_document(text: str, source: str, chunk_size: int, min_section: int = 250) -> list[Chunk]:
    """Structure-aware passages (rag/chunking.py): tables keep their header, lists their heading."""
    title, passages = chunk_document(text, Path(source).stem, chunk_size, min_section)
    return [
        Chunk(chunk_id(source, p.heading, index, p.text, title), p.text, source, p.heading, index, title)
        for index, p in enumerate(passages)
    ]


def embedding_text(chunk: Chunk) -> str:
    """What is embedded and BM25-indexed: title and heading path give a short passage its topic."""
    return contextual_text(chunk.title, chunk.heading, chunk.text)


def unit_texts(chunk: Chunk) -> list[tuple[str, str]]:
    """(unit id, text to embed) for each line of a passage, under the titles it sits beneath.

    A question that matches one row or item of a long passage is closer to that line than to the
    whole passage; the retriever scores a passage by its best line too.
    """
    out = []
    for index, (subtitle, line) in enumerate(passage_units(chunk.text)):
        path = " > ".join(p for p in (chunk.path, subtitle) if p)
        out.append((f"{chunk.id}-{index}", f"{path}\n{line}" if path else line))
    return out


# ---------------------------------------------------------------- the run


@dataclass
class _Pending:
    """New chunks waiting to be embedded, and the stale ids each file loses once they are stored."""

    chunks: list[Chunk] = field(default_factory=list)
    stale: list[tuple[str, set[str]]] = field(default_factory=list)


def _flush(pending: _Pending, embedder: Embedder, store: VectorStore, report: IngestReport) -> None:
    units: list[tuple[str, str, str, str]] = []  # (unit id, parent chunk id, source, text to embed)
    if pending.chunks:
        if isinstance(store, SupportsUnits):
            units = [(uid, c.id, c.source, text) for c in pending.chunks for uid, text in unit_texts(c)]
        vectors = embedder.embed_documents([embedding_text(c) for c in pending.chunks] + [u[3] for u in units])
        n = len(pending.chunks)
        if units:  # lines first: a passage is only ever stored with its lines already there
            store.upsert_units([u[:3] for u in units], vectors[n:])  # type: ignore[attr-defined]
        store.upsert(pending.chunks, vectors[:n])
    # Only now that every new chunk of these files is stored may their old chunks go.
    for _source, stale in pending.stale:
        if stale:
            store.delete(sorted(stale))
        report.chunks_removed += len(stale)
        report.files_indexed += 1
    report.chunks_added += len(pending.chunks)
    report.units_added += len(units)
    pending.chunks, pending.stale = [], []


def _stage(settings: Settings, source: str, file: Path, old: set[str], pending: _Pending, report: IngestReport) -> bool:
    """Chunk one file and queue what is new; False (and listed in the report) when the file is skipped."""
    rag = settings.rag
    try:
        chunks = split_document(load_text(file), source, rag.chunk_size, rag.chunk_min_section)
    except SkipFile as exc:
        log.warning("skipped %s: %s", source, exc)
        report.skipped.append((source, str(exc)))
        return False
    new = [c for c in chunks if c.id not in old]
    report.chunks_unchanged += len(chunks) - len(new)
    pending.chunks.extend(new)
    pending.stale.append((source, old - {c.id for c in chunks}))
    return True


def _resolve_target(
    settings: Settings, path: Path | None
) -> tuple[Path, list[tuple[str, Path]], list[tuple[str, str]]]:
    """(root, files, refused). A folder without a single supported file is an error, not an empty mirror:
    a typo in the path must not wipe the index."""
    target = Path(path or settings.rag.corpus_dir).expanduser()
    if not target.exists():
        raise IngestError(f"{target} does not exist: pass a folder of .md/.txt/.pdf files")
    if target.is_file():
        if target.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise IngestError(f"{target} is not a {'/'.join(SUPPORTED_SUFFIXES)} file")
        return target.parent, [(target.name, target)], []
    found, refused = discover(target, settings.rag.ingest_exclude)
    if not found and not refused:
        raise IngestError(f"no .md/.txt/.pdf file under {target}: nothing to ingest")
    return target, found, refused


def _progress(enabled: bool) -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]ingest[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def ingest(
    settings: Settings,
    path: Path | None = None,
    *,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    progress: bool = True,
) -> IngestReport:
    """Make the store mirror ``path`` (default: the course folder); see the module docstring for guarantees.

    A folder is mirrored: sources no longer ingestible there are removed. A single file only updates
    its own chunks. Skipped files are listed in the report, never fatal.
    """
    from rag.embeddings import build_embedder
    from rag.store import build_vector_store

    started = time.perf_counter()
    root, files, refused = _resolve_target(settings, path)
    mirror = not Path(path or settings.rag.corpus_dir).is_file()
    embedder = embedder or build_embedder(settings)
    store = store or build_vector_store(settings, embedder)
    report = IngestReport(files_seen=len(files) + len(refused), skipped=list(refused), root=str(root))
    report.collection = str(getattr(store, "name", ""))
    existing = store.ids_by_source()
    indexed: set[str] = set()
    pending = _Pending()
    with _progress(progress and len(files) > 1) as bar:
        task = bar.add_task(str(root), total=len(files))
        for source, file in files:
            bar.update(task, description=source)
            if _stage(settings, source, file, existing.get(source, set()), pending, report):
                indexed.add(source)
            if len(pending.chunks) >= settings.rag.ingest_flush_chunks:
                _flush(pending, embedder, store, report)
            bar.advance(task)
        _flush(pending, embedder, store, report)
    if mirror:  # sources gone from the folder (or now skipped) leave the index last
        for source in sorted(set(existing) - indexed):
            store.delete(sorted(existing[source]))
            report.chunks_removed += len(existing[source])
    report.seconds = time.perf_counter() - started
    return report
