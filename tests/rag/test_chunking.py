"""Structure-aware chunking: every passage makes sense alone (tables keep their header, lists their heading)."""

from __future__ import annotations

from rag.chunking import chunk_document, document_title, parse_units, passage_units, render_mermaid, render_rows
from tests.rag.conftest import COURSE_DIR

MARKDOWN = """# Guide MLOps

## Outils

### Les étapes clés
| Étape | Outil |
| :--- | :--- |
| **Monitoring** | WhyLabs, Evidently |
| **Registry** | MLflow |

## Plateformes

### AWS : SageMaker
- SageMaker Pipelines pour l'orchestration.
- SageMaker Model Monitor pour la détection du drift.

### GCP : Vertex AI
- Vertex AI Pipelines (basé sur Kubeflow).

```mermaid
graph LR
    A[Question] --> B[Recherche]
    B --> C{Trouvé ?}
    C -- Non --> A
```
"""

PLAIN = """# projet

6. Multi-Cloud

On a appris les différences entre :

Provider\tLogique
Azure\tOrchestration ML
AWS\tVM / ECS

7. Architecture globale

À la fin, on obtient :

MLflow (tracking)

Streamlit (frontend)
"""


def test_a_table_row_says_what_its_cells_mean() -> None:
    rows = render_rows(["| Étape | Outil |", "| :--- | :--- |", "| Monitoring | WhyLabs |"])
    assert rows == ["Étape : Monitoring ; Outil : WhyLabs"]
    assert render_rows(["Provider\tLogique", "AWS\tVM / ECS"]) == ["Provider : AWS ; Logique : VM / ECS"]


def test_a_mermaid_diagram_becomes_arrows_between_labels() -> None:
    lines = render_mermaid(["graph LR", "A[Question] --> B[Recherche]", "B --> C{Trouvé ?}", "C -- Non --> A"])
    assert lines == ["Schéma : Question → Recherche → Trouvé ?", "Schéma : Trouvé ? — Non → Question"]


def test_markdown_noise_is_dropped_and_headings_become_paths() -> None:
    units = parse_units(MARKDOWN)
    rows = [u for u in units if u.kind == "row"]
    assert [u.text for u in rows] == [
        "Étape : Monitoring ; Outil : WhyLabs, Evidently",
        "Étape : Registry ; Outil : MLflow",
    ]
    assert rows[0].heading == ("Guide MLOps", "Outils", "Les étapes clés")
    assert not any("**" in u.text or "`" in u.text for u in units)


def test_small_sibling_sections_share_a_passage_and_keep_their_titles() -> None:
    title, passages = chunk_document(MARKDOWN, "guide", chunk_size=400)
    assert title == "Guide MLOps"
    platforms = next(p for p in passages if "SageMaker" in p.text)
    assert platforms.heading == "Plateformes"
    assert platforms.text.splitlines()[:2] == ["AWS : SageMaker", "- SageMaker Pipelines pour l'orchestration."]
    assert "GCP : Vertex AI" in platforms.text.splitlines()
    units = passage_units(platforms.text)
    assert ("AWS : SageMaker", "SageMaker Model Monitor pour la détection du drift.") in units
    assert ("GCP : Vertex AI", "Vertex AI Pipelines (basé sur Kubeflow).") in units


def test_numbered_plain_titles_are_headings_and_bare_lines_after_a_colon_are_items() -> None:
    _, passages = chunk_document(PLAIN, "projet", chunk_size=300, min_section=0)
    cloud = next(p for p in passages if "VM / ECS" in p.text)
    assert cloud.heading == "6. Multi-Cloud"
    assert "- Provider : AWS ; Logique : VM / ECS" in cloud.text.splitlines()
    architecture = next(p for p in passages if "Streamlit" in p.text)
    assert architecture.heading == "7. Architecture globale"
    assert "- Streamlit (frontend)" in architecture.text.splitlines()


def test_units_are_never_cut_and_passages_respect_the_size() -> None:
    for path in sorted(COURSE_DIR.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        _, passages = chunk_document(text, path.stem, chunk_size=700)
        assert passages, path.name
        for passage in passages:
            assert len(passage.text) <= 700 or "\n" not in passage.text, (path.name, passage.heading)
        whole = " ".join(p.text for p in passages)
        assert "AWS ; Logique : VM / ECS" in whole or path.name != "004_0bad4acb6f838f2f.txt"


def test_document_title_falls_back_to_the_opening_words() -> None:
    assert document_title("## Défis\ntexte", "x") == "Défis"
    assert document_title("MLOps, ou les opérations d'apprentissage automatique, fait référence à tout", "x").endswith(
        "…"
    )
    assert document_title("", "fichier") == "fichier"


def test_items_after_an_intro_line_belong_to_the_title_above_it() -> None:
    """'3. MLflow – Tracking & Monitoring' / 'On a appris :' / items: the items are about MLflow (the title), so the
    answer guard quotes and checks "le suivi des expériences" as MLflow's, not as a bare line of the passage."""
    text = (
        "2. Séparation des responsabilités\nOn a appris à séparer :\n- Prétraitement\n- Tracking\n"
        "3. MLflow – Tracking & Monitoring\nOn a appris :\n- Lancer un MLflow server\n"
        "- Comprendre le suivi des expériences\nDonc on a compris la notion de traçabilité des modèles."
    )
    units = passage_units(text, intro_titles=True)
    assert ("3. MLflow – Tracking & Monitoring", "Comprendre le suivi des expériences") in units
    assert ("2. Séparation des responsabilités", "Prétraitement") in units
    assert ("3. MLflow – Tracking & Monitoring", "Donc on a compris la notion de traçabilité des modèles.") in units
    assert ("", "3. MLflow – Tracking & Monitoring") in passage_units(text)  # the default (context, index): as before
    untitled = passage_units("Une phrase sans titre.\nOn a appris :\n- Lancer un serveur", intro_titles=True)
    assert untitled[0] == ("", "Une phrase sans titre.")
