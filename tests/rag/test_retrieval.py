"""Hybrid retrieval on small real indexes: tokenisation, fusion, scores, refresh, empty index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genaiops.settings import Settings
from rag.ingest import ingest
from rag.retrieval import _passage_cosine, build_retriever, coverage, relevance
from rag.text import fold, tokenize
from rag.types import Chunk, Embedder, EmptyIndexError, ScoredChunk

PASSAGES = {
    "deploy.md": "# Déploiement\n\nLe modèle est servi derrière une API FastAPI avec un endpoint /predict.",
    "drift.md": "# Surveillance\n\nLa dérive des données dégrade les modèles : il faut surveiller les distributions.",
    "zorblax.md": "# Annexe\n\nLe composant Zorblaxinator42 archive les journaux toutes les nuits.",
    "versions.md": "# Versions\n\nGit versionne le code ; DVC versionne les données, gage de reproductibilité.",
}


@pytest.fixture
def small_index(settings: Settings, embedder: Embedder, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in PASSAGES.items():
        (root / name).write_text(text, encoding="utf-8")
    ingest(settings, root, embedder=embedder, progress=False)
    return build_retriever(settings, embedder=embedder)


def test_tokenize_folds_accents_stems_and_drops_stopwords() -> None:
    assert tokenize("Le déploiement des modèles") == tokenize("deploiement modeles")
    assert tokenize("Les données") == tokenize("donnees")
    assert tokenize("Quels sont les outils de la surveillance ?") == tokenize("outil surveillance")
    assert fold("Œuvre Été Ça") == "oeuvre ete ca"
    assert tokenize("Donne-moi une recette") == tokenize("recettes")  # request words are not topic words


def test_a_passage_cosine_is_averaged_with_its_best_line() -> None:
    assert _passage_cosine(0.2, 0.6) == pytest.approx(0.4)
    assert _passage_cosine(0.3, None) == 0.3
    assert _passage_cosine(None, None) is None


def test_every_passage_line_has_its_own_vector_and_leaves_with_its_passage(small_index) -> None:  # type: ignore[no-untyped-def]
    store = small_index.store
    ids = [c.id for c in store.all_chunks()]
    assert store.units.count() >= len(ids)
    query = small_index.embedder.embed_query("archiver les journaux")
    best = store.query_units(query, 3)
    assert set(best) <= set(ids) and len(best) >= 1
    store.delete(ids[:1])
    assert store.unit_similarities(query, ids[:1]) == {}


def test_results_are_ordered_by_the_score_that_decides_the_scope(small_index) -> None:  # type: ignore[no-untyped-def]
    result = small_index.retrieve("Quel composant archive les journaux la nuit ?", top_k=4)
    scores = [s.score for s in result.chunks]
    assert scores == sorted(scores, reverse=True) and result.best_score == scores[0]
    assert result.chunks[0].chunk.source == "zorblax.md"


def test_relevance_is_bounded_and_weighted() -> None:
    assert relevance(None, 0.0, 0.3) == 0.0
    assert relevance(1.4, 1.0, 0.3) == pytest.approx(1.0)
    assert relevance(-0.2, 0.0, 0.3) == 0.0
    assert relevance(0.5, 1.0, 0.3) == pytest.approx(0.65)
    chunk = Chunk("x", "La dérive des données", "s", "Surveillance", 0)
    assert coverage(set(tokenize("surveillance de la dérive")), chunk) == 1.0
    assert coverage(set(tokenize("recette de crêpes")), chunk) == 0.0


def test_lexical_side_finds_a_rare_exact_term(small_index) -> None:  # type: ignore[no-untyped-def]
    result = small_index.retrieve("Que fait Zorblaxinator42 ?", top_k=2)
    top = result.chunks[0]
    assert top.chunk.source == "zorblax.md" and top.lexical_score is not None and top.lexical_score > 0
    assert top.dense_score is not None  # scored on the dense scale too, even if only BM25 found it


def test_results_are_scored_ordered_and_limited(small_index) -> None:  # type: ignore[no-untyped-def]
    result = small_index.retrieve("Comment surveiller la dérive des données ?", top_k=3)
    assert len(result.chunks) == 3 and result.chunks[0].chunk.source == "drift.md"
    assert all(0.0 <= s.score <= 1.0 for s in result.chunks)
    assert result.best_score == max(s.score for s in result.chunks)
    assert len({s.chunk.id for s in result.chunks}) == 3
    assert len(small_index.retrieve("dérive").chunks) == min(4, small_index.count())  # settings top_k


def test_in_scope_follows_the_floor(small_index) -> None:  # type: ignore[no-untyped-def]
    question = "Comment surveiller la dérive des données ?"
    best = small_index.retrieve(question).best_score
    small_index.settings.rag.relevance_floor = best + 0.01
    assert small_index.retrieve(question).in_scope is False
    small_index.settings.rag.relevance_floor = best - 0.01
    assert small_index.retrieve(question).in_scope is True


def test_refresh_after_ingest_sees_new_chunks(small_index, embedder: Embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small_index.retrieve("dérive")  # builds BM25 over the current store
    extra = tmp_path / "corpus" / "quokka.md"
    extra.write_text("# Faune\n\nLe quokkaplex mesure la latence des prédictions.", encoding="utf-8")
    ingest(small_index.settings, tmp_path / "corpus", embedder=embedder, store=small_index.store, progress=False)
    small_index.refresh()
    top = small_index.retrieve("quokkaplex", top_k=1).chunks[0]
    assert top.chunk.source == "quokka.md" and top.lexical_score is not None


def test_empty_index_and_blank_question(settings: Settings, embedder: Embedder) -> None:
    retriever = build_retriever(settings, embedder=embedder)
    assert retriever.count() == 0
    with pytest.raises(EmptyIndexError, match="run genaiops ingest"):
        retriever.retrieve("Qu'est-ce que le MLOps ?")
    with pytest.raises(ValueError, match="empty"):
        retriever.retrieve("   ")


def test_query_embedding_matches_store_space(small_index) -> None:  # type: ignore[no-untyped-def]
    query = small_index.embedder.embed_query("Git versionne le code")
    hits = small_index.store.query(query, 1)
    chunk_vector = small_index.embedder.embed_documents(["Versions\n\n" + hits[0][0].text])[0]
    assert hits[0][0].source == "versions.md"
    assert hits[0][1] == pytest.approx(float(np.dot(query, chunk_vector)), abs=1e-4)


def test_an_english_question_counts_cognates_of_the_french_passage_words() -> None:
    chunk = Chunk("x", "L'automatisation garantit la reproductibilité des modèles", "s", "Qualité", 0)
    terms = set(tokenize("automation reproducibility cooking"))
    assert coverage(terms, chunk) == 0.0  # exact stems: an English question shares nothing
    assert coverage(terms, chunk, cognates=True) == pytest.approx(2 / 3)  # cooking has no cognate


def test_cross_lingual_questions_are_scored_with_cognates(small_index) -> None:  # type: ignore[no-untyped-def]
    def top_and_its_score(question: str, cognates: bool) -> tuple[ScoredChunk, float]:
        top = small_index.retrieve(question, top_k=1).chunks[0]
        query = small_index.embedder.embed_query(question)
        best_line = small_index.store.unit_similarities(query, [top.chunk.id])[top.chunk.id]
        lexical = coverage(set(tokenize(question)), top.chunk, cognates=cognates)
        return top, relevance(
            _passage_cosine(top.dense_score, best_line), lexical, small_index.settings.rag.lexical_weight
        )

    english = "Which tool ensures the reproducibility of data?"
    top, expected = top_and_its_score(english, cognates=True)
    assert top.chunk.source == "versions.md" and top.score == pytest.approx(expected)
    terms = set(tokenize(english))
    assert coverage(terms, top.chunk, cognates=True) > coverage(terms, top.chunk)  # reproducibility ~ reproductibilité
    top, expected = top_and_its_score("Quel outil garantit la reproductibilité ?", cognates=False)
    assert top.score == pytest.approx(expected)  # a French question: exact stems only
