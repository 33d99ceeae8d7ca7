"""Ingestion against the real embedder and a real embedded Chroma, on small corpora in tmp dirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genaiops.settings import REPO_ROOT, Settings
from rag.ingest import IngestError, ingest, load_text, split_document
from rag.store import build_vector_store
from rag.types import Embedder

DOC_A = """# Chapitre 1 — Le suivi

## Dérive

Les modèles en production se dégradent à cause d'une dérive des données.
Il faut surveiller les distributions et alerter l'équipe.

## Registre

Le registre de modèles stocke chaque version avec ses métadonnées et ses métriques.
"""
DOC_B = "Kubeflow orchestre les pipelines.\n\nMLflow suit les expériences et les artefacts.\n"


def _corpus(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _docs(n: int, version: str = "v1") -> dict[str, str]:
    return {
        f"doc{i}.md": f"# Document {i}\n\n## Partie A\n\nTexte {version} numéro {i} sur le MLOps et les modèles."
        f"\n\n## Partie B\n\nSuite {version} du document {i} : déploiement, registre et surveillance."
        for i in range(n)
    }


def _state(settings: Settings, embedder: Embedder) -> dict[str, tuple[str, str, int, str]]:
    """id -> (source, heading, index, text) of everything in the store."""
    store = build_vector_store(settings, embedder)
    return {c.id: (c.source, c.heading, c.chunk_index, c.text) for c in store.all_chunks()}


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF whose text layer is ``text`` (ASCII)."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


@pytest.fixture(autouse=True)
def _one_passage_per_section(settings: Settings) -> None:
    """These small documents' sections would share passages (``chunk_min_section``); the tests count them apart."""
    settings.rag.chunk_min_section = 0


def test_markdown_chunks_keep_title_heading_path_and_stable_ids() -> None:
    chunks = split_document(DOC_A, "a.md", chunk_size=120, min_section=0)
    assert {c.title for c in chunks} == {"Chapitre 1 — Le suivi"}
    assert {c.heading for c in chunks} == {"Dérive", "Registre"}
    assert {c.label for c in chunks} == {"Chapitre 1 — Le suivi > Dérive", "Chapitre 1 — Le suivi > Registre"}
    assert [c.chunk_index for c in chunks] == list(range(len(chunks))) and len(chunks) >= 3
    assert all(len(c.text) <= 120 for c in chunks)
    assert [c.id for c in chunks] == [c.id for c in split_document(DOC_A, "a.md", 120, 0)]
    assert {c.id for c in chunks}.isdisjoint(c.id for c in split_document(DOC_A, "b.md", 120, 0))


def test_ingest_indexes_files_with_metadata(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A, "sub/b.txt": DOC_B, "README.md": "a note", "x.png": "?"})
    (root / "c.pdf").write_bytes(_pdf("Kubeflow Pipelines runs on Vertex AI"))
    report = ingest(settings, root, embedder=embedder, progress=False)
    state = _state(settings, embedder)
    assert report.files_seen == report.files_indexed == 3 and report.skipped == []
    assert report.chunks_added == len(state) > 0 and report.chunks_removed == report.chunks_unchanged == 0
    assert {s for s, *_ in state.values()} == {"a.md", "sub/b.txt", "c.pdf"}  # README.md excluded by default
    assert any("Vertex AI" in text for *_, text in state.values())
    assert report.collection == "course-use-multilingual-v3" and report.seconds > 0


def test_reingesting_unchanged_files_embeds_nothing(settings: Settings, counting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A, "b.md": DOC_B})
    first = ingest(settings, root, embedder=counting(), progress=False)
    again = counting()
    report = ingest(settings, root, embedder=again, progress=False)
    assert again.texts == 0 and again.calls == 0
    assert report.chunks_added == report.chunks_removed == 0 and report.chunks_unchanged == first.chunks_added


def test_modified_file_replaces_its_chunks_only(settings: Settings, counting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A, "b.md": DOC_B})
    ingest(settings, root, embedder=counting(), progress=False)
    before = _state(settings, counting())
    (root / "b.md").write_text(DOC_B.replace("Kubeflow", "Airflow"), encoding="utf-8")
    spy = counting()
    report = ingest(settings, root, embedder=spy, progress=False)
    after = _state(settings, spy)
    b_before = {k for k, v in before.items() if v[0] == "b.md"}
    b_after = {k for k, v in after.items() if v[0] == "b.md"}
    assert b_before.isdisjoint(b_after) and all("Kubeflow" not in after[k][3] for k in b_after)
    assert {k for k, v in after.items() if v[0] == "a.md"} == {k for k, v in before.items() if v[0] == "a.md"}
    assert report.chunks_added == len(b_after) and report.chunks_removed == len(b_before)
    assert spy.texts == report.chunks_added + report.units_added  # each passage and each of its lines, once


def test_deleted_file_chunks_are_removed(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A, "b.md": DOC_B})
    ingest(settings, root, embedder=embedder, progress=False)
    n_b = sum(1 for v in _state(settings, embedder).values() if v[0] == "b.md")
    (root / "b.md").unlink()
    report = ingest(settings, root, embedder=embedder, progress=False)
    assert report.chunks_removed == n_b and {v[0] for v in _state(settings, embedder).values()} == {"a.md"}


def test_bad_files_are_skipped_and_listed(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus", {"good.md": DOC_B, "empty.md": "", "blank.txt": " \n\t\n"})
    (root / "latin1.txt").write_bytes("Données déployées".encode("latin-1"))
    (root / "binary.md").write_bytes(b"\x00\x01\x02 not text")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (root / "gone.md").symlink_to(root / "missing-target.md")  # dangling link: unreadable
    unreadable = root / "locked.md"
    unreadable.write_text("secret", encoding="utf-8")
    unreadable.chmod(0)
    report = ingest(settings, root, embedder=embedder, progress=False)
    reasons = dict(report.skipped)
    assert reasons["empty.md"] == "empty" and reasons["blank.txt"] == "empty"
    assert reasons["latin1.txt"].startswith("not valid UTF-8")
    assert reasons["binary.md"] == "binary content, not text"
    assert reasons["broken.pdf"].startswith("unreadable PDF")
    assert reasons["gone.md"].startswith("unreadable")
    if os.geteuid() != 0:  # root reads mode-000 files
        assert reasons["locked.md"].startswith("unreadable")
    assert {v[0] for v in _state(settings, embedder).values()} <= {"good.md", "locked.md"}
    assert report.files_seen == 8 and report.files_indexed == 8 - len(report.skipped)


def test_symlinks_out_of_the_root_are_refused(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    outside = _corpus(tmp_path / "outside", {"secret.md": "Mot de passe : hunter2", "more/x.md": "ailleurs"})
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_B})
    (root / "escape.md").symlink_to(outside / "secret.md")
    (root / "inside-link.md").symlink_to(root / "a.md")
    (root / "outdir").symlink_to(outside / "more", target_is_directory=True)
    report = ingest(settings, root, embedder=embedder, progress=False)
    reasons = dict(report.skipped)
    assert reasons["escape.md"] == "outside the ingested root (symlink escape)"
    assert reasons["outdir"] == "symlinked folder not followed"
    state = _state(settings, embedder)
    assert {v[0] for v in state.values()} == {"a.md", "inside-link.md"}
    assert not any("hunter2" in v[3] or "ailleurs" in v[3] for v in state.values())


def test_single_file_updates_only_that_file(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A, "b.md": DOC_B})
    ingest(settings, root, embedder=embedder, progress=False)
    before = _state(settings, embedder)
    (root / "b.md").write_text(DOC_B + "\nNouvelle ligne.\n", encoding="utf-8")
    report = ingest(settings, root / "b.md", embedder=embedder, progress=False)
    after = _state(settings, embedder)
    assert report.files_indexed == 1 and report.chunks_added >= 1
    assert {k for k, v in after.items() if v[0] == "a.md"} == {k for k, v in before.items() if v[0] == "a.md"}


def test_bad_paths_are_errors_that_change_nothing(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A})
    ingest(settings, root, embedder=embedder, progress=False)
    before = _state(settings, embedder)
    with pytest.raises(IngestError, match="does not exist"):
        ingest(settings, tmp_path / "nope", embedder=embedder, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="nothing to ingest"):  # a wrong folder must not wipe the index
        ingest(settings, tmp_path / "empty", embedder=embedder, progress=False)
    assert _state(settings, embedder) == before


def test_load_text_strips_bom_and_normalises_newlines(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_bytes("\ufeffligne 1\r\nligne 2\r".encode())
    assert load_text(path) == "ligne 1\nligne 2\n"


# ---------------------------------------------------------------- crash safety


@pytest.mark.parametrize("changed", [False, True], ids=["first-ingest", "update"])
def test_a_crashed_run_leaves_a_consistent_store_and_the_next_run_completes_it(
    settings: Settings,
    counting,
    tmp_path: Path,
    changed: bool,  # type: ignore[no-untyped-def]
) -> None:
    settings.rag.ingest_flush_chunks = 1  # commit file by file, so the crash lands between files
    root = _corpus(tmp_path / "corpus", _docs(4, "v1"))
    if changed:
        ingest(settings, root, embedder=counting(), progress=False)
        _corpus(root, _docs(4, "v2"))
    versions = {}
    for version in ("v1", "v2"):
        clean = settings.model_copy(deep=True)
        clean.data_dir = tmp_path / f"clean-{version}"
        clean.rag.chroma_dir = clean.data_dir / "chroma"
        ingest(clean, _corpus(tmp_path / f"src-{version}", _docs(4, version)), embedder=counting(), progress=False)
        versions[version] = _state(clean, counting())
    target = versions["v2" if changed else "v1"]

    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(settings, root, embedder=counting(fail_on_call=3), progress=False)
    crashed = _state(settings, counting())
    allowed = {**versions["v1"], **(versions["v2"] if changed else {})}
    assert all(allowed.get(k) == v for k, v in crashed.items())  # only valid chunks of a real version
    by_source: dict[str, set[str]] = {}
    for chunk_id, (source, *_rest) in crashed.items():
        by_source.setdefault(source, set()).add(chunk_id)
    # no file is half-indexed: each holds exactly one complete version (the crash fell between files)
    for source, ids in by_source.items():
        assert ids in [{k for k, v in s.items() if v[0] == source} for s in versions.values()], source
    assert len(by_source) == (4 if changed else 2)

    report = ingest(settings, root, embedder=counting(), progress=False)
    assert _state(settings, counting()) == target
    assert report.chunks_unchanged == 4  # the two files committed before the crash (2 chunks each)


def test_a_crash_between_adding_and_deleting_converges(settings: Settings, counting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _corpus(tmp_path / "corpus", _docs(2, "v1"))
    ingest(settings, root, embedder=counting(), progress=False)
    _corpus(root, _docs(2, "v2"))
    store = build_vector_store(settings, counting())

    def crash(ids: object) -> None:
        raise RuntimeError("simulated crash in delete")

    store.delete = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="in delete"):
        ingest(settings, root, embedder=counting(), store=store, progress=False)
    both = _state(settings, counting())
    assert len(both) == 8  # new chunks stored, old ones still there: nothing lost, nothing half-written
    report = ingest(settings, root, embedder=counting(), progress=False)
    assert report.chunks_added == 0 and report.chunks_removed == 4 and len(_state(settings, counting())) == 4


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from genaiops.settings import Settings
from rag.embeddings import build_embedder
from rag.ingest import ingest
from rag.store import build_vector_store

settings = Settings(_env_file=None, env="test", data_dir=Path(sys.argv[1]))
settings.rag.ingest_flush_chunks = 1
settings.rag.chunk_min_section = 0
store = build_vector_store(settings, build_embedder(settings))
upsert, calls = store.upsert, []

def upsert_then_die(chunks, embeddings):
    upsert(chunks, embeddings)
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: like kill -9 or an OOM kill

store.upsert = upsert_then_die
ingest(settings, Path(sys.argv[2]), store=store, progress=False)
"""


@pytest.mark.slow
def test_a_killed_process_leaves_a_readable_store(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    root = _corpus(tmp_path / "corpus", _docs(5, "v1"))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(settings.data_dir), str(root)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    partial = _state(settings, embedder)
    assert len({v[0] for v in partial.values()}) == 2 and len(partial) == 4
    report = ingest(settings, root, embedder=embedder, progress=False)
    assert report.chunks_unchanged == 4 and report.chunks_added == 6 and len(_state(settings, embedder)) == 10


# ---------------------------------------------------------------- CLI


def test_cli_ingest_prints_json_and_table(tmp_path: Path, embedder: Embedder) -> None:
    from app.cli import app

    root = _corpus(tmp_path / "corpus", {"a.md": DOC_A, "bad.txt": ""})
    env = {"GENAIOPS_DATA_DIR": str(tmp_path / "var"), "GENAIOPS_ENV": "test"}
    result = CliRunner().invoke(app, ["ingest", str(root), "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["files_indexed"] == 1 and data["skipped"] == [{"path": "bad.txt", "reason": "empty"}]
    table = CliRunner().invoke(app, ["ingest", str(root)], env=env)
    assert table.exit_code == 0 and "chunks unchanged" in table.stdout and "bad.txt: empty" in table.stdout


def test_cli_ingest_bad_path_is_one_line_exit_2(tmp_path: Path) -> None:
    from app.cli import app

    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope")], env={"GENAIOPS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output


def test_help_has_an_example() -> None:
    from app.cli import app

    assert "genaiops ingest data/course" in CliRunner().invoke(app, ["ingest", "--help"]).stdout
