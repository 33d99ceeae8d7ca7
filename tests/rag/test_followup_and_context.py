"""History-aware retrieval, the focused context and the guards added for answers that answer (no LLM)."""

from __future__ import annotations

import pytest

from genaiops.settings import Settings
from rag.answer import extractive, restates
from rag.context import focus
from rag.fake_llm import FakeChatModel
from rag.followup import is_follow_up, retrieve_in_conversation, search_query
from rag.grounding import GroundingChecker, claim_terms, term_phrases, unit_contexts, unpaired_names
from rag.lookup import lookup_row
from rag.prompting import NOT_COVERED
from rag.retrieval import HybridRetriever
from rag.text import cognate
from rag.types import Embedder
from tests.rag.helpers import passage

GCP = [("user", "Quelle logique de déploiement a été utilisée sur GCP ?"), ("assistant", "Cloud Run serverless [1].")]
PLATFORMS = passage(
    "AWS : SageMaker\n- SageMaker Pipelines pour l'orchestration.\n"
    "- SageMaker Model Monitor pour la détection du drift.\n"
    "GCP : Vertex AI\n- Vertex AI Pipelines (basé sur Kubeflow).",
    "3. Plateformes MLOps des hyperscalers",
)
STEPS = passage(
    "- Étape : Monitoring ; Description : Détecter le drift ; "
    "Outil cloud typique : WhyLabs, Evidently, services natifs",
    "2. Le cycle de vie MLOps > Les étapes clés",
    index=1,
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [("Et pour AWS ?", True), ("And on Azure?", True), ("Et elle sert à quoi ?", True),
     ("What might that involve in practice?", True), ("Is anything else versioned?", True),
     ("Quoi d'autre ?", True), ("Lequel sert d'interface utilisateur ?", True), ("Which one is serverless?", True),
     ("Sur quelles données entraîne-t-on le modèle de production ?", False),
     ("Quels outils permettent de détecter le drift en production ?", False),
     ("Which tool that the course cites monitors drift in production?", False),
     ("Which steps did the project keep separate from each other?", False),
     ("Peut-on passer d'un modèle à un autre à chaud, sans arrêter le service ?", False)],
)  # fmt: skip
def test_elliptic_questions_are_follow_ups(question: str, expected: bool) -> None:
    assert is_follow_up(question, GCP) is expected
    assert is_follow_up(question, []) is False  # no conversation, no follow-up


def test_a_follow_up_is_searched_expanded_rewritten_or_bare() -> None:
    assert search_query("Et pour AWS ?", GCP).text == f"{GCP[0][1]}\nCloud Run serverless.\nEt pour AWS ?"
    assert search_query("Et pour AWS ?", GCP, mode="none").text == "Et pour AWS ?"
    fake = FakeChatModel(["Quelle logique de déploiement a été utilisée sur AWS ?"])
    rewritten = search_query("Et pour AWS ?", GCP, mode="rewrite", llm=fake)
    assert rewritten.text == "Quelle logique de déploiement a été utilisée sur AWS ?" and rewritten.follow_up
    assert "Et pour AWS ?" in fake.calls[0].messages[-1][1]


def test_a_follow_up_is_searched_with_the_opening_of_the_answer_it_follows() -> None:
    """The extractive intro line and citations are dropped; a refusal adds nothing."""
    said = "D'après le cours :\n- Déploiement de modèles : la mise en conteneur [2]." + " x" * 300
    quoted = [("user", "Quel est le troisième composant ?"), ("assistant", said)]
    text = search_query("Qu'est-ce que ça implique ?", quoted).text
    assert text.startswith("Quel est le troisième composant ?\n- Déploiement de modèles: la mise en conteneur.")
    assert text.endswith("\nQu'est-ce que ça implique ?") and len(text) < 300
    refused = [("user", "Et la capitale de l'Australie ?"), ("assistant", NOT_COVERED["fr"])]
    assert search_query("Et elle ?", refused).text == "Et la capitale de l'Australie ?\nEt elle ?"
    # the model's own wording of the refusal, as the answer guard recognises it, adds nothing either
    spoken = [
        ("user", "Et la capitale de l'Australie ?"),
        ("assistant", "Désolé, le cours couvre pas cette question [1]."),
    ]
    assert search_query("Et elle ?", spoken).text == "Et la capitale de l'Australie ?\nEt elle ?"


def test_follow_ups_reach_the_row_and_a_new_subject_is_out_of_scope(
    course_index: tuple[Settings, HybridRetriever],
) -> None:
    _, retriever = course_index
    found = retrieve_in_conversation(retriever, "Et pour AWS ?", GCP, top_k=5)
    assert found.in_scope and any("VM / ECS" in s.chunk.text for s in found.chunks)
    leaves = retrieve_in_conversation(retriever, "Et quelle est la capitale de l'Australie ?", GCP, top_k=5)
    assert leaves.in_scope is False
    assert found.confidence is not None and found.confidence <= found.best_score


def test_a_follow_up_gets_the_row_it_names_from_the_table_the_conversation_is_about(
    course_index: tuple[Settings, HybridRetriever],
) -> None:
    """The table of the MLOps steps is split over passages: the earlier turn finds the training rows, the
    follow-up's own words the monitoring row, which joins them; its tools are then the looked-up cell."""
    _, retriever = course_index
    training = [("user", "Which tools does the course list for model training?"),
                ("assistant", "SageMaker, Vertex AI or Azure ML.")]  # fmt: skip
    found = retrieve_in_conversation(retriever, "What about monitoring?", training, top_k=5)
    assert any("Outil cloud typique : SageMaker, Vertex AI" in s.chunk.text for s in found.chunks)
    assert any("Étape : Monitoring" in s.chunk.text for s in found.chunks)
    hit = lookup_row("What about monitoring?", found.chunks, training[0][1], training[1][1])
    assert hit is not None and hit.value.startswith("WhyLabs, Evidently")
    elliptic = retrieve_in_conversation(retriever, "And the last one?", training, top_k=5)
    searched = retriever.retrieve(search_query("And the last one?", training).text, top_k=5)
    assert [s.chunk.id for s in elliptic.chunks] == [s.chunk.id for s in searched.chunks]  # nothing of its own


def test_the_focused_context_keeps_each_passage_best_line_within_the_budget() -> None:
    texts = focus("Quel outil AWS détecte le drift ?", [PLATFORMS, STEPS], None, budget_chars=120)
    assert len(texts) == 2 and all(texts)
    assert "Model Monitor" in texts[0] and texts[0].startswith("AWS : SageMaker")  # the row keeps its sub-title
    assert "Kubeflow" not in texts[0]  # over the budget, and less relevant
    assert "WhyLabs" in texts[1]


def test_a_sentence_pairing_names_the_passages_never_pair_is_unsupported() -> None:
    units = unit_contexts([PLATFORMS, STEPS])
    assert unpaired_names("Le service AWS permet de détecter la dérive avec WhyLabs.", units) == ["aws", "whylabs"]
    assert unpaired_names("Sur AWS, SageMaker Model Monitor détecte le drift.", units) == []
    assert unpaired_names("WhyLabs et Evidently détectent le drift.", units) == []
    checker = GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)
    report = checker.check("Le service AWS permet de détecter la dérive avec WhyLabs [1].", [PLATFORMS, STEPS])
    assert not report.grounded and "wrong pairing" in report.reason


def test_restating_the_question_is_not_an_answer() -> None:
    question = "Pourquoi un POC qui fonctionne dans un notebook n'arrive-t-il pas en production ?"
    assert restates("Le POC qui fonctionne dans un notebook n'arrive-t-il pas en production ? [1]", question)
    assert not restates("Le code du notebook n'est pas productionizable [1].", question)


def test_an_extractive_list_answer_quotes_the_list_not_the_summary_line() -> None:
    serving = passage(
        "On a appris à :\n- Charger un modèle entraîné\n- Exposer une API FastAPI\n- Créer un endpoint /predict\n"
        "- Structurer les données avec Pydantic\n"
        "Donc on a compris comment transformer un modèle en service exploitable.",
        "4. API ML – Model Serving",
    )
    text, _ = extractive("Comment le modèle a-t-il été transformé en service exploitable ?", "fr", [serving], None)
    assert "FastAPI" in text and "/predict" in text and "Pydantic" in text
    assert "Donc on a compris" not in text


def test_items_of_one_list_stand_together_but_rows_of_one_table_do_not() -> None:
    architecture = passage(
        "À la fin, on obtient :\n- MLflow (tracking)\n- Streamlit (frontend)\n- LLM service (Ollama)",
        "Projet > 7. Architecture globale",
    )
    rows = passage(
        "- Étape : Feature Store ; Outil cloud typique : AWS Feature Store\n"
        "- Étape : Monitoring ; Outil cloud typique : WhyLabs, Evidently",
        "2. Le cycle de vie MLOps > Les étapes clés",
        index=1,
    )
    units = unit_contexts([architecture, rows, PLATFORMS])
    assert unpaired_names("The frontend is Streamlit and the LLM service is Ollama.", units) == []
    assert unpaired_names("Sur AWS, le drift se détecte avec WhyLabs.", units) == ["aws", "whylabs"]
    assert unpaired_names("Sur AWS, on orchestre avec Kubeflow.", units) == ["aws", "kubeflow"]  # another sub-title


def test_an_answer_in_another_language_than_the_passages_needs_fewer_shared_words() -> None:
    azure = passage(
        "Azure ML\n- Les composants sont définis avec @component.\n- Le pipeline lui-même est déclaré avec @pipeline.",
        "Projet > 5. Azure ML",
    )
    checker = GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)
    english = checker.check("In Azure ML the whole pipeline was written by hand as a decorated script.", [azure])
    [sentence] = english.sentences
    assert sentence.translated and 0.35 <= sentence.overlap < 0.5 and english.grounded
    french = checker.check(
        "Dans Azure ML, le pipeline lui-même était écrit grâce au décorateur @pipeline puis lancé.", [azure]
    )
    assert not french.sentences[0].translated and 0.35 <= french.sentences[0].overlap < 0.5 and not french.grounded


def test_a_translated_sentence_in_the_lenient_band_needs_a_close_meaning(embedder: Embedder) -> None:
    azure = passage(
        "Azure ML\n- Les composants sont définis avec @component.\n- Le pipeline lui-même est déclaré avec @pipeline.",
        "Projet > 5. Azure ML",
    )
    checker = GroundingChecker(embedder, min_overlap=0.5, min_similarity=0.75)
    close = checker.check("The pipeline itself gets declared using @pipeline, in the Azure ML part.", [azure])
    far = checker.check("Azure ML pipelines cost money when the workspace stays up.", [azure])
    for report in (close, far):  # both in the lenient band: the meaning decides
        assert report.sentences[0].translated and 0.35 <= report.sentences[0].overlap < 0.5
    assert close.grounded, close.reason
    assert not far.grounded


def test_cognates_count_as_shared_words_only_with_a_close_meaning(embedder: Embedder) -> None:
    skills = passage(
        "La compétence la plus précieuse : penser en termes de reproductibilité, d'automatisation, "
        "de monitoring et d'itération.",
        "Conclusion > Compétences",
    )
    assert cognate("reproductibility", {"reproductibilit"}) and cognate("autom", {"automatis"})
    assert not cognate("automobile", {"automatis"}) and not cognate("pipe", {"pipelin"})
    checker = GroundingChecker(embedder, min_overlap=0.5, min_similarity=0.75)
    right = checker.check("The key skill is thinking in terms of reproducibility, automation and iteration.", [skills])
    [sentence] = right.sentences
    assert sentence.translated and sentence.overlap < 0.35 <= sentence.cognate_overlap
    assert right.grounded, right.reason
    wrong = checker.check("Reproducibility and automation are sold by cloud vendors as monitoring plans.", [skills])
    [sentence] = wrong.sentences
    assert sentence.cognate_overlap >= 0.35 and not wrong.grounded, sentence  # cognates, another meaning


def test_a_section_s_items_come_with_its_summary_line_and_weak_passages_show_their_title() -> None:
    serving = passage(
        "- Charger un modèle entraîné\n- Exposer une API FastAPI\n- Créer un endpoint /predict\n"
        "- Structurer les données avec Pydantic\n"
        "- Donc on a compris comment transformer un modèle en service exploitable.",
        "Projet > 4. API ML – Model Serving",
    )
    unrelated = passage(
        "- Félicitations, vous êtes arrivé au terme du cours et disposez d'une base solide pour la suite.",
        "Conclusion",
        index=1,
    )
    texts = focus("Comment le modèle a-t-il été transformé en service exploitable ?", [serving, unrelated], None, 160)
    assert "transformer un modèle" in texts[0] and "FastAPI" in texts[0] and "/predict" in texts[0]
    assert texts[1] == ""  # nothing of it is about the question: the prompt shows its title only


def test_a_follow_up_s_context_is_chosen_with_the_question_it_follows() -> None:
    certifications = passage(
        "- Mettez en pratique avec un projet de bout en bout.\n"
        "- Obtenez une certification : AWS, Google Cloud et Azure proposent des certifications MLOps.",
        "Conclusion > Prochaines étapes",
    )
    pricing = passage("- Le prix dépend de la région et de l'instance choisie.", "Coûts", index=1)
    alone = focus("Qui les propose ?", [certifications, pricing], None, 60)
    followed = focus(
        "Qui les propose ?", [certifications, pricing], None, 60, previous="Quelles certifications sont conseillées ?"
    )
    assert "AWS" not in alone[0] and "AWS" in followed[0]


@pytest.mark.parametrize(
    ("sentence", "terms"),
    [("Yes, Git and GitHub are used for code version control.", ["git", "github"]),
     ("Oui, Airflow orchestre les tâches.", ["airflow"]),
     ("Evidently détecte le drift.", ["evidently"])],
)  # fmt: skip
def test_a_yes_or_no_opening_names_nothing(sentence: str, terms: list[str]) -> None:
    assert sorted(claim_terms(sentence)) == terms


STEPS_TABLE = passage(
    "- Étape : Data Validation ; Description : Vérifier la qualité des données ; "
    "Outil cloud typique : Great Expectations, TFX\n"
    "- Étape : Registry ; Description : Stocker les versions du modèle ; Outil cloud typique : MLflow, Model Registry\n"
    "Schéma : Data Collection → Data Validation → Model Training → Model Registry → Monitoring",
    "2. Le cycle de vie MLOps > Les étapes clés",
)


def test_a_row_key_written_in_lower_case_is_paired_like_a_name() -> None:
    """'What about the registry?' after the data-validation tools got "MLflow and Model Registry as tools for data
    validation": the registry's tools with another row's key (user check, stop 22)."""
    phrases = term_phrases([STEPS_TABLE])
    assert {"data validation", "model registry", "great expectations"} <= phrases
    units = unit_contexts([STEPS_TABLE])
    wrong = "The course lists MLflow and Model Registry as tools for data validation."
    assert "data validation" in unpaired_names(wrong, units, phrases)
    assert unpaired_names("Great Expectations and TFX are used for data validation.", units, phrases) == []
    assert unpaired_names("MLflow and Model Registry store the model's versions.", units, phrases) == []
    checker = GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)
    report = checker.check(f"{wrong} [1]", [STEPS_TABLE])
    assert not report.grounded and "data validation" in report.reason


def test_a_diagram_chain_pairs_each_step_with_its_neighbours_only() -> None:
    units, phrases = unit_contexts([STEPS_TABLE]), term_phrases([STEPS_TABLE])
    assert unpaired_names("After Data Validation comes Model Training.", units, phrases) == []
    assert unpaired_names("Data Validation feeds the Model Registry.", units, phrases) == [
        "data validation",
        "model registry",
    ]


def test_a_long_term_is_one_name_not_also_the_shorter_terms_inside_it() -> None:
    """Dev q75: "The Azure ML feature that allows you to build pipelines visually is Vertex AI Feature Store."
    passed, its "Vertex AI" paired with Azure ML on the Training row. The Feature Store row alone holds the long
    term, and no row holds it with Azure ML."""
    table = passage(
        "- Étape : Feature Store ; Description : Stocker les features ; Outil cloud typique : AWS Feature Store, "
        "Vertex AI Feature Store\n"
        "- Étape : Training ; Description : Entraîner le modèle ; Outil cloud typique : SageMaker, Vertex AI, Azure ML",
        "2. Le cycle de vie MLOps > Les étapes clés",
    )
    units, phrases = unit_contexts([table]), term_phrases([table])
    wrong = "The Azure ML feature that builds pipelines visually is Vertex AI Feature Store."
    assert sorted(unpaired_names(wrong, units, phrases)) == ["azure ml", "vertex ai feature store"]
    assert unpaired_names("Vertex AI and Azure ML train models.", units, phrases) == []
    assert unpaired_names("Vertex AI offers the Vertex AI Feature Store.", units, phrases) == []


def test_the_question_s_words_in_an_answer_are_framing_not_claims() -> None:
    """Asked "Lequel sert d'interface utilisateur ?", "L'interface utilisateur est Streamlit." claims only Streamlit,
    which the passage holds; a name the passages lack is still unsupported."""
    architecture = passage("On obtient :\n- MLflow (tracking)\n- Streamlit (frontend)", "7. Architecture globale")
    checker = GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)
    question = "Lequel sert d'interface utilisateur ?"
    assert not checker.check("L'interface utilisateur est Streamlit. [1]", [architecture]).grounded
    assert checker.check("L'interface utilisateur est Streamlit. [1]", [architecture], question).grounded
    assert not checker.check("L'interface utilisateur est Gradio. [1]", [architecture], question).grounded


def test_words_about_the_course_are_framing_not_claims() -> None:
    """ "The course also covers Azure's visual designer …" (dev q77): "course" and "covers" say where the claim is,
    no passage holds them; the sentence's claims are the rest. A sentence whose claims the passages lack still fails
    with the same framing."""
    azure = passage(
        "Azure : Azure Machine Learning\n- Intégration avec Azure DevOps.\n"
        "- Designer visuel pour créer des pipelines.\n- Responsible AI pour l'explicabilité.",
        "3. Plateformes MLOps des hyperscalers",
    )
    checker = GroundingChecker(None, min_overlap=0.5, min_similarity=0.75)
    assert checker.check("Le cours couvre et mentionne aussi le Designer visuel. [1]", [azure], "Et Azure ?").grounded
    invented = "Le cours couvre et mentionne aussi le recuit quantique. [1]"
    assert not checker.check(invented, [azure], "Et Azure ?").grounded


def test_a_translated_sentence_that_sums_up_a_list_is_close_clause_by_clause(embedder: Embedder) -> None:
    """Dev q61's English answer named all of the list's problems in one sentence; as a whole it was far from every
    single line (cosine 0.38), so a right answer was replaced by French quotes. Each clause is close to its line;
    clauses that say something else are not."""
    problems = passage(
        "Le POC qui fonctionne dans un notebook n'arrive jamais en production :\n"
        "- Le code du notebook n'est pas productionizable.\n"
        "- Les données d'entraînement diffèrent des données réelles.\n"
        "- Pas de monitoring de la performance du modèle.\n"
        "- Pas de processus de réentraînement.",
        "Chapitre 34 > 1. Le problème",
    )
    checker = GroundingChecker(embedder, min_overlap=0.5, min_similarity=0.75)
    right = checker.check(
        "The code from a notebook is not production-ready because it lacks several key elements: it's not "
        "productionizable (the code isn't versioned), the data used for training differs from the real data (data "
        "mismatch), there's no monitoring of model performance, and there's no process for retraining.",
        [problems],
    )
    wrong = checker.check(
        "Notebook code is not production-ready: it needs a GPU cluster, the licence forbids commercial use, and "
        "Kubernetes must be installed first.",
        [problems],
    )
    assert right.sentences[0].translated and right.grounded, right.reason
    assert not wrong.grounded
