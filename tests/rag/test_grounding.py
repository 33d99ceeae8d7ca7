"""The grounding guard on hand-written answers: support per sentence, invented names, loops, citation repair."""

from __future__ import annotations

import pytest

from rag.grounding import (
    GroundingChecker,
    citations,
    names_in,
    repair_citations,
    repeats,
    split_sentences,
    strip_citations,
)
from rag.types import Embedder
from tests.rag.helpers import passage

PASSAGES = [
    passage("Le drift des données se détecte avec WhyLabs ou Evidently en production.", "Chapitre 3 > Monitoring"),
    passage(
        "Le Feature Store sert à stocker les features réutilisables, par exemple AWS Feature Store.",
        "Chapitre 2 > Feature Store",
        index=1,
    ),
]


@pytest.fixture
def lexical() -> GroundingChecker:
    """The guard with lexical overlap only: fully deterministic."""
    return GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)


def test_citation_markers_in_the_forms_a_small_model_writes() -> None:
    assert citations("a [1] b [1, 2] c [passage 3] d [Sources 2; 4] e [x] f (1)") == [1, 1, 2, 3, 2, 4]
    assert strip_citations("Le drift se détecte [1] . Oui [2, 3]") == "Le drift se détecte. Oui"
    assert strip_citations("The frontend is Streamlit [1] and the LLM service is Ollama [2].") == (
        "The frontend is Streamlit and the LLM service is Ollama."
    )


def test_sentences_and_list_items_keep_their_citations() -> None:
    assert split_sentences("Un. [1] Deux ! [2][3] Trois\n- quatre") == ["Un. [1]", "Deux ! [2][3]", "Trois", "- quatre"]


def test_names_are_products_acronyms_versions_and_mid_sentence_capitals() -> None:
    found = names_in("Le modèle GPT-4 sur AWS avec SageMaker et Kubeflow. Chaque équipe utilise Vertex")
    assert found == ["GPT-4", "AWS", "SageMaker", "Kubeflow", "Vertex"]  # "Chaque" opens a sentence: not a name
    assert names_in("Le MLOps. - Surveiller") == ["MLOps"]


def test_loops_are_repeated_three_word_runs() -> None:
    assert repeats("stocker les features " * 4)
    assert not repeats("stocker les features " * 3)


def test_a_supported_answer_is_grounded_and_its_citations_repaired(lexical: GroundingChecker) -> None:
    answer = "Le Feature Store sert à stocker les features réutilisables [7]. Le drift se détecte avec Evidently [2]."
    report = lexical.check(answer, PASSAGES)
    assert report.grounded and report.reason == ""
    assert [s.cited for s in report.sentences] == [[7], [2]]
    assert [s.best for s in report.sentences] == [1, 0]
    # [7] is out of range and [2] points at the wrong passage: each sentence cites the one that supports it
    assert repair_citations(report, len(PASSAGES)) == (
        "Le Feature Store sert à stocker les features réutilisables. [2] Le drift se détecte avec Evidently. [1]"
    )


def test_a_valid_citation_is_kept(lexical: GroundingChecker) -> None:
    report = lexical.check("Evidently détecte le drift des données [1].", PASSAGES)
    assert report.grounded
    assert repair_citations(report, len(PASSAGES)) == "Evidently détecte le drift des données. [1]"


def test_an_invented_name_is_never_supported(lexical: GroundingChecker) -> None:
    report = lexical.check("Le Feature Store a été inventé par Anthropic en 2019 [2].", PASSAGES)
    assert not report.grounded and "unsupported" in report.reason
    [sentence] = report.sentences
    assert sentence.novel_names == ["Anthropic"] and not sentence.supported


def test_a_name_only_the_question_holds_is_not_supported(lexical: GroundingChecker) -> None:
    """A question can smuggle in a word for the model to repeat ("then write HACKED"): only passages ground."""
    report = lexical.check("Le Feature Store sert à stocker les features. HACKED", PASSAGES)
    assert [s.novel_names for s in report.sentences] == [[], ["HACKED"]]
    assert not report.grounded and report.reason == "unsupported: 'HACKED'"


def test_one_unsupported_sentence_ungrounds_the_answer(lexical: GroundingChecker) -> None:
    answer = "Le Feature Store sert à stocker les features. Il est rapide, fiable, moderne et gratuit pour tous."
    report = lexical.check(answer, PASSAGES)
    assert [s.supported for s in report.sentences] == [True, False]
    assert not report.grounded and report.reason.startswith("unsupported: 'Il est rapide")


@pytest.mark.parametrize(
    ("answer", "passages", "reason"),
    [
        ("Oui.", PASSAGES, "no checkable sentence"),
        ("Le Feature Store stocke les features.", [], "no passages"),
        ("stocker les features " * 5, PASSAGES, "the answer repeats itself (generation loop)"),
    ],
)
def test_answers_that_cannot_be_grounded(lexical: GroundingChecker, answer: str, passages: list, reason: str) -> None:
    report = lexical.check(answer, passages)
    assert not report.grounded and report.reason == reason


def test_the_embedder_scores_sentences_against_passage_sentences(embedder: Embedder) -> None:
    checker = GroundingChecker(embedder, min_overlap=0.5, min_similarity=0.75)
    report = checker.check("Le drift des données se détecte avec Evidently en production.", PASSAGES)
    [sentence] = report.sentences
    assert sentence.similarity is not None and sentence.similarity > 0.75 and sentence.best == 0
    unrelated = checker.check("La recette des crêpes demande du lait et des oeufs frais.", PASSAGES)
    assert not unrelated.grounded and unrelated.sentences[0].similarity < 0.75  # type: ignore[operator]
