"""Embedders: real weights, offline, normalised float32 rows, one load per process."""

from __future__ import annotations

import numpy as np
import pytest

from genaiops.settings import Settings
from rag.embeddings import MINILM, USE_MULTILINGUAL, build_embedder, minilm_weights_dir
from rag.types import Embedder

PARAPHRASE = ("Comment surveiller un modèle en production ?", "La surveillance des modèles déployés en production.")
UNRELATED = "Une recette de crêpes au sucre."


def _check_rows(embedder: Embedder, dim: int) -> None:
    rows = embedder.embed_documents(["Le MLOps industrialise le ML.", "Git versionne le code.", "x"])
    assert rows.shape == (3, dim) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query("Le MLOps industrialise le ML.")
    assert query.shape == (dim,)
    np.testing.assert_allclose(query @ rows[0], 1.0, atol=1e-4)  # query and document sides agree
    assert embedder.embed_documents([]).shape == (0, dim)


def _paraphrase_closer_than_unrelated(embedder: Embedder) -> None:
    a, b, c = embedder.embed_documents([*PARAPHRASE, UNRELATED])
    assert a @ b > a @ c + 0.1, (a @ b, a @ c)


def test_default_embedder_is_use_multilingual(embedder: Embedder) -> None:
    assert embedder.name == USE_MULTILINGUAL
    _check_rows(embedder, 512)
    _paraphrase_closer_than_unrelated(embedder)


@pytest.mark.slow
def test_minilm_loads_the_packaged_weights_offline(settings: Settings) -> None:
    settings.rag.embedding_model = MINILM
    minilm = build_embedder(settings)
    assert minilm.name == MINILM
    assert "site-packages" in str(minilm_weights_dir()) and (minilm_weights_dir() / "model.safetensors").is_file()
    _check_rows(minilm, 384)
    _paraphrase_closer_than_unrelated(minilm)


@pytest.mark.slow
def test_local_sentence_transformers_folder_is_a_model(settings: Settings) -> None:
    settings.rag.embedding_model = str(minilm_weights_dir())
    local = build_embedder(settings)
    assert local.name == "st-model"  # named after the folder, so it gets its own collection
    _check_rows(local, 384)


def test_embedder_is_built_once_per_process(settings: Settings, embedder: Embedder) -> None:
    assert build_embedder(settings) is embedder


def test_unknown_model_is_a_clear_error(settings: Settings) -> None:
    settings.rag.embedding_model = "no-such-model"
    with pytest.raises(ValueError, match="rag.embedding_model='no-such-model'"):
        build_embedder(settings)
