"""Table-row lookups (``rag.lookup``) and how ``decide()`` uses them to catch a generation that took the wrong cell."""

from __future__ import annotations

import pytest

from prompts import load_prompt
from rag.answer import EXTRACTIVE_INTRO, decide
from rag.grounding import GroundingChecker
from rag.lookup import holds_value, lookup_row, row_cells
from rag.prompting import system_prompt
from tests.rag.helpers import passage

CLOUDS = passage(
    "On a appris les différences entre :\n"
    "- Provider : Azure ; Logique : Orchestration ML\n"
    "- Provider : GCP ; Logique : Cloud Run serverless\n"
    "- Provider : AWS ; Logique : VM / ECS\n"
    "- Provider : Heroku ; Logique : PaaS dyno",
    "Projet > 6. Multi-Cloud",
)
SAGEMAKER = passage(
    "AWS : SageMaker\n- Suite complète : préparation, entraînement, déploiement.\n"
    "- SageMaker Pipelines pour l'orchestration.\n- SageMaker Model Monitor pour la détection du drift.",
    "Chapitre 34 > 3. Plateformes MLOps des hyperscalers",
    index=1,
)
ASPECTS = passage(
    "- Aspect : Entraînement ; ML Classique : Vous le faites ; GenAI (LLMs) : Pré-entraîné\n"
    "- Aspect : Fine-tuning ; ML Classique : Toujours ; GenAI (LLMs) : Optionnel (prompting)",
    "Chapitre 30 > ML classique et GenAI",
    index=2,
)
PASSAGES = [SAGEMAKER, CLOUDS, ASPECTS]
SYSTEM = system_prompt(load_prompt("rag_answer"), "fr")


@pytest.fixture
def lexical() -> GroundingChecker:
    return GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)


def test_a_row_is_read_as_labelled_cells_and_prose_is_not() -> None:
    assert row_cells("Provider : AWS ; Logique : VM / ECS") == [("Provider", "AWS"), ("Logique", "VM / ECS")]
    assert row_cells("SageMaker Pipelines pour l'orchestration.") is None
    assert row_cells("AWS : SageMaker") is None  # one cell: a title, not a row
    assert row_cells("Étape : Training ; on entraîne le modèle") is None  # a cell without a label


@pytest.mark.parametrize(
    ("question", "previous", "value"),
    [
        ("Quelle logique de déploiement a été utilisée sur AWS ?", "", "VM / ECS"),
        ("Heroku, c'est quoi comme logique ?", "", "PaaS dyno"),
        ("Et pour GCP ?", "Quelle logique de déploiement correspond à Azure ?", "Cloud Run serverless"),
        ("Et pour les LLMs ?", "Qui fait l'entraînement en ML classique ?", "Pré-entraîné"),
        ("Le fine-tuning est-il indispensable avec un LLM ?", "", "Optionnel (prompting)"),
    ],
)
def test_the_cell_at_the_asked_subject_and_column_is_found(question: str, previous: str, value: str) -> None:
    hit = lookup_row(question, PASSAGES, previous)
    assert hit is not None and hit.value == value
    assert PASSAGES[hit.passage] in (CLOUDS, ASPECTS)


def test_a_follow_up_asks_for_the_column_the_answer_it_follows_came_from() -> None:
    """An English follow-up names no French column: the earlier answer was GCP's "Logique" cell, so is this one."""
    previous, said = "How was the model deployed on GCP?", "Cloud Run serverless [2]."
    assert lookup_row("And for AWS?", PASSAGES, previous) is None  # "deployed" is no column of the table
    hit = lookup_row("And for AWS?", PASSAGES, previous, said)
    assert hit is not None and (hit.label, hit.value) == ("Logique", "VM / ECS")
    assert lookup_row("And for security?", PASSAGES, previous, said) is None  # no row of that subject
    assert lookup_row("And for AWS?", PASSAGES, previous, "It is deployed on the cloud.") is None  # no cell said
    partly = "AWS et GCP sont des plateformes MLOps ; SageMaker Pipelines sert à l'orchestration."
    assert lookup_row("Et pour Azure ?", PASSAGES, "Quelles plateformes ?", partly) is None  # not "Orchestration ML"
    assert lookup_row("And for AWS?", PASSAGES, previous, "Cloud Run [2].") is not None  # most of a longer cell


@pytest.mark.parametrize(
    ("question", "previous"),
    [
        ("Quelle logique de déploiement est utilisée ?", ""),  # no subject: which row?
        ("Que propose AWS pour le drift ?", ""),  # a subject but no column of the table
        ("Et pour la sécurité ?", "Quelle logique de déploiement correspond à Azure ?"),  # a new subject, no row
        ("Quelle logique correspond à AWS et à GCP ?", ""),  # two rows fit as well: no single cell
    ],
)
def test_no_cell_is_guessed(question: str, previous: str) -> None:
    assert lookup_row(question, PASSAGES, previous) is None


def test_a_grounded_answer_with_the_wrong_cell_is_replaced_by_the_row(lexical: GroundingChecker) -> None:
    question = "Quelle logique de déploiement a été utilisée sur AWS ?"
    wrong = "Sur AWS, on utilise SageMaker Pipelines pour l'orchestration [1]."
    assert lexical.check(wrong, PASSAGES).grounded  # every word and pairing is in the course: the guard alone passes it
    hit = lookup_row(question, PASSAGES)
    decision = decide(wrong, question, "fr", PASSAGES, lexical, SYSTEM, lookup=hit)
    assert decision.mode == "extractive" and decision.grounded
    assert decision.text == f"{EXTRACTIVE_INTRO['fr']}\n- Provider : AWS ; Logique : VM / ECS [2]"
    assert "Logique: VM / ECS" in decision.reason


def test_an_answer_that_gives_the_cell_keeps_its_words(lexical: GroundingChecker) -> None:
    question = "Quelle logique de déploiement a été utilisée sur AWS ?"
    right = "Sur AWS, la logique de déploiement est VM / ECS [2]."
    hit = lookup_row(question, PASSAGES)
    assert hit is not None and holds_value(right, hit)
    decision = decide(right, question, "fr", PASSAGES, lexical, SYSTEM, lookup=hit)
    assert decision.mode == "generative" and "VM / ECS" in decision.text


def test_not_covered_is_overruled_by_a_row_that_answers(lexical: GroundingChecker) -> None:
    question = "Heroku, c'est quoi comme logique de déploiement ?"
    hit = lookup_row(question, PASSAGES)
    decision = decide("Le cours ne couvre pas cette question.", question, "fr", PASSAGES, lexical, SYSTEM, lookup=hit)
    assert decision.mode == "extractive" and "PaaS dyno [2]" in decision.text
