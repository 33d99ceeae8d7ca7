"""Documents managed over the API: upload one file, list what is indexed, remove a document.

An upload goes through the very ingestion of ``genaiops ingest FILE`` (``rag.ingest.ingest`` on the
file, written to a temporary folder under its own name): same loading, chunking and content-hash
ids, so re-uploading an unchanged file embeds nothing and changes nothing, and a changed file
replaces its chunks. Everything that can be wrong with a file is checked before the store is
touched. ``documents`` (a table of ``settings.database_url``) remembers each upload's size and
date; documents indexed by the command line are listed from the store alone.

A document's id is a hash of its source name: stable across replicas and re-uploads, and safe in
a URL whatever the name.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.settings import Settings
from rag.ingest import SUPPORTED_SUFFIXES, IngestReport, SkipFile, ingest, load_text
from rag.types import Embedder, VectorStore

MAX_NAME_CHARS = 200
documents = sa.Table(
    "documents",
    sa.MetaData(),
    sa.Column("document_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(500), nullable=False, unique=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class DocumentError(ValueError):
    """A file that is not indexed, and why; ``status`` is the HTTP answer (413, 415 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DocumentInfo:
    document_id: str
    source: str
    chunks: int
    size_bytes: int | None  # None: indexed by `genaiops ingest` from a file no longer in the corpus folder
    added_at: datetime | None
    uploaded: bool  # False: indexed by `genaiops ingest`


@dataclass(frozen=True)
class UploadResult:
    document: DocumentInfo
    report: IngestReport

    @property
    def changed(self) -> bool:
        return bool(self.report.chunks_added or self.report.chunks_removed)


def document_id(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def check_name(name: str | None) -> str:
    """The upload's file name, or why it is refused: a plain ``NAME.md|.txt|.pdf``, never a path."""
    if not name or not name.strip():
        raise DocumentError(422, "the file has no name: send it as multipart field 'file' with a filename")
    if any(sep in name for sep in ("/", "\\", "\x00")) or name in (".", ".."):
        raise DocumentError(422, f"file name {name!r} contains a path: send a plain file name such as notes.md")
    if name.startswith(".") or any(ord(c) < 32 for c in name):
        raise DocumentError(422, f"file name {name!r} is hidden or has control characters: rename it")
    if len(name) > MAX_NAME_CHARS:
        raise DocumentError(422, f"file name is {len(name)} characters long; the limit is {MAX_NAME_CHARS}")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DocumentError(415, f"{name!r}: unsupported type; send a {', '.join(SUPPORTED_SUFFIXES)} file")
    return name


def _utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class DocumentLibrary:
    """Upload, list and remove documents of one store; ``on_change`` runs after the store changed
    (the API passes ``RagService.reload_index`` so the retriever sees new chunks at once)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        embedder: Embedder,
        store: VectorStore,
        on_change: Callable[[], object] = lambda: None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.on_change = on_change
        self._lock = threading.Lock()  # one change of the store at a time

    def add(self, name: str | None, data: bytes) -> UploadResult:
        """Index one uploaded file; ``DocumentError`` (and nothing changed) when it cannot be."""
        name = check_name(name)
        limit = self.settings.api.max_upload_bytes
        if len(data) > limit:
            raise DocumentError(413, f"{name!r} is {len(data)} bytes; the limit is {limit} (api.max_upload_bytes)")
        if not data:
            raise DocumentError(422, f"{name!r} is empty")
        with tempfile.TemporaryDirectory(prefix="genaiops-upload-") as folder, self._lock:
            path = Path(folder) / name
            path.write_bytes(data)
            try:
                load_text(path)  # the loader's own checks: UTF-8, binary, blank, PDF without text
            except SkipFile as exc:
                raise DocumentError(422, f"{name!r} cannot be indexed: {exc}") from exc
            report = ingest(self.settings, path, embedder=self.embedder, store=self.store, progress=False)
        if report.skipped:  # load_text passed above, so only a race with the file system lands here
            raise DocumentError(422, f"{name!r} cannot be indexed: {report.skipped[0][1]}")
        chunks = report.chunks_added + report.chunks_unchanged
        added_at = self._remember(name, data, chunks)
        result = UploadResult(DocumentInfo(document_id(name), name, chunks, len(data), added_at, True), report)
        if result.changed:
            self.on_change()
        return result

    def _remember(self, source: str, data: bytes, chunks: int) -> datetime:
        """Record the upload; the first upload's date is kept, a new content updates the rest."""
        now, digest = datetime.now(UTC), hashlib.sha256(data).hexdigest()
        values = {"sha256": digest, "size_bytes": len(data), "chunks": chunks, "updated_at": now}
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(documents.c.added_at).where(documents.c.source == source)).first()
            if row is None:
                conn.execute(
                    documents.insert().values(document_id=document_id(source), source=source, added_at=now, **values)
                )
                return now
            conn.execute(documents.update().where(documents.c.source == source).values(values))
            return _utc(row[0]) or now

    def list(self) -> list[DocumentInfo]:
        """Every document with chunks in the store, by source name."""
        by_source = self.store.ids_by_source()
        with self.engine.connect() as conn:
            uploads = {r["source"]: r for r in conn.execute(sa.select(documents)).mappings()}
        return [self._info(source, len(ids), uploads.get(source)) for source, ids in sorted(by_source.items())]

    def _info(self, source: str, chunks: int, upload: sa.RowMapping | None) -> DocumentInfo:
        if upload is not None:
            return DocumentInfo(
                document_id(source), source, chunks, upload["size_bytes"], _utc(upload["added_at"]), True
            )
        path = self.settings.rag.corpus_dir / source  # indexed by `genaiops ingest` from the corpus folder
        if path.is_file():
            stat = path.stat()
            added = datetime.fromtimestamp(stat.st_mtime, UTC)
            return DocumentInfo(document_id(source), source, chunks, stat.st_size, added, False)
        return DocumentInfo(document_id(source), source, chunks, None, None, False)

    def remove(self, doc_id: str) -> DocumentInfo | None:
        """Remove every chunk of the document (it can no longer be cited); None when no document has this id."""
        with self._lock:
            by_source = self.store.ids_by_source()
            source = next((s for s in by_source if document_id(s) == doc_id), None)
            if source is None:
                return None
            ids = by_source[source]
            with self.engine.connect() as conn:
                upload = conn.execute(sa.select(documents).where(documents.c.source == source)).mappings().first()
            info = self._info(source, len(ids), upload)
            self.store.delete(sorted(ids))
            with self.engine.begin() as conn:
                conn.execute(documents.delete().where(documents.c.source == source))
        self.on_change()
        return info

    def close(self) -> None:
        self.engine.dispose()


def build_document_library(settings: Settings, rag_service: object) -> DocumentLibrary:
    """The library over the RAG service's own store and embedder; its index is reloaded after each change."""
    from genaiops.db import make_engine
    from genaiops.migrate import upgrade_database

    assert settings.database_url is not None
    upgrade_database(settings)
    retriever = rag_service.retriever  # type: ignore[attr-defined]
    return DocumentLibrary(
        settings,
        make_engine(settings.database_url),
        retriever.embedder,
        retriever.store,
        on_change=rag_service.reload_index,  # type: ignore[attr-defined]
    )
