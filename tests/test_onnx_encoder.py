"""The int8 encoder (issue 17): batch-independent vectors, close to fp32, a torch-free query
path, the encoder recorded in the manifest and the cache, one copy of the vectors in memory,
and `qa cache prune`.

The int8 model folder is built once per cache (about two minutes, `qa.onnx_export`); with a
reused `QA_CACHE_DIR` these tests take seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import REPO, seed_sentences

# Not on the query path: the fp32 stack, and what only indexing, dates or the UI need.
HEAVY = ("torch", "sentence_transformers", "transformers", "scipy", "bm25s", "dateparser")
HEAVY += ("gradio", "pandas")


@pytest.fixture(scope="module")
def int8_settings(settings):
    return replace(settings, encoder="int8")


@pytest.fixture(scope="module")
def int8_index(tmp_path_factory, seed_corpus, int8_settings):
    from qa.cli import run_index

    index_dir = tmp_path_factory.mktemp("int8-index")
    run_index(seed_corpus, index_dir, int8_settings, show_progress=False)
    return index_dir


@pytest.fixture(scope="module")
def int8_embedder(int8_settings, int8_index):
    from qa.embedding import load_embedder

    s = int8_settings
    return load_embedder(s.model, "int8", s.model_dir, s.batch_size)


def test_a_text_gets_the_same_vector_alone_and_in_a_batch_of_64(int8_embedder):
    texts = seed_sentences()
    batch = [texts[i % len(texts)] + " " * (i // len(texts)) for i in range(64)]
    assert len({len(t) for t in batch}) > 20  # mixed lengths
    together = int8_embedder.encode_passages(batch)
    for i in (0, 7, 33, 63):
        alone = int8_embedder.encode_passages([batch[i]])[0]
        assert float(alone @ together[i]) >= 0.999
    query = "Wie viele Nachrichten werden pro Tag verschickt?"
    alone = int8_embedder.encode_queries([query])[0]
    mixed = int8_embedder.encode_queries([query, *batch[:63]])[0]
    assert float(alone @ mixed) >= 0.999


def test_sentencepiece_gives_the_ids_of_tokenizer_json(int8_embedder):
    from tokenizers import Tokenizer

    from qa.onnx_export import int8_folder

    int8_embedder.encode_queries(["lädt das Modell"])
    hf = Tokenizer.from_file(str(int8_folder(int8_embedder.models_dir) / "tokenizer.json"))
    hf.enable_truncation(512)
    odd = [
        "Straße  mit  Lücken ",
        "ﬁ ½ ＡＢＣ café\u00a0",
        "  vorn",
        "Tab\tund\nZeile\n",
        "wort " * 600,
    ]
    for text in ["passage: " + s for s in seed_sentences()] + ["query: " + t for t in odd]:
        assert int8_embedder._ids(text)[0].tolist() == hf.encode(text).ids, text


def test_int8_vectors_are_close_to_fp32(int8_embedder, settings):
    from qa.embedding import Embedder

    texts = seed_sentences()[:24]
    fp32 = Embedder(settings.model, settings.model_dir)
    cosine = np.sum(int8_embedder.encode_passages(texts) * fp32.encode_passages(texts), axis=1)
    assert cosine.min() >= 0.99, cosine.min()
    assert int8_embedder.dimension == fp32.dimension
    assert int8_embedder.passage_prefix() == fp32.passage_prefix()


def test_manifest_and_cache_record_the_encoder(int8_index, int8_settings):
    from qa.index import Manifest, SearchIndex, live_version

    assert SearchIndex.load(int8_index).manifest.encoder == "int8"
    raw = json.loads((live_version(int8_index) / "manifest.json").read_text("utf-8"))
    del raw["encoder"]
    assert Manifest(**raw).encoder == "fp32"  # an index from before the field is fp32
    db = sqlite3.connect(str(int8_settings.cache_dir / "embeddings.sqlite"))
    models = {m for (m,) in db.execute("SELECT DISTINCT model FROM vectors")}
    db.close()
    assert f"{int8_settings.model}#int8" in models


def test_an_index_is_queried_with_the_encoder_that_built_it(int8_index, settings):
    from qa.embedding import Embedder, encoder_of
    from qa.service import QAService

    service = QAService(int8_index, settings, embedder=Embedder(settings.model, settings.model_dir))
    assert encoder_of(service.embedder) == "int8"


def test_qa_ask_on_an_int8_index_imports_no_torch(int8_index):
    code = (
        "import json, sys\n"
        "from qa.cli import main\n"
        f"code = main(['ask', 'Wie viele Nachrichten werden pro Tag verschickt?', '--index', "
        f"{str(int8_index)!r}, '--json'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answer, report = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert report == {"code": 0, "heavy": []}
    assert answer["snippets"], answer


def test_the_index_holds_each_vector_once(seed_index):
    from qa.index import SearchIndex

    index = SearchIndex.load(seed_index)
    for matrix, vectors in (
        (index.sentence_matrix, index.sentence_vectors),
        (index.chunk_matrix, index.chunk_vectors),
    ):
        assert not matrix.flags.owndata and not matrix.flags.writeable
        assert np.array_equal(matrix, vectors.reconstruct_n(0, vectors.ntotal))


def test_cache_prune_keeps_only_the_named_indexes(tmp_path, seed_corpus, hash_embedder):
    from qa.cache import prune
    from qa.config import Settings
    from qa.corpus import read_corpus
    from qa.errors import IndexUnavailable, InvalidInput
    from qa.index import build_index

    settings = Settings(cache_dir=tmp_path / "cache")
    articles = read_corpus(seed_corpus, settings).articles
    assert len(articles) >= 2
    keep, other = tmp_path / "keep", tmp_path / "other"
    build_index(articles[:1], keep, settings, hash_embedder)
    build_index(articles[1:], other, settings, hash_embedder)
    cache = settings.cache_dir / "embeddings.sqlite"

    def rows() -> int:
        db = sqlite3.connect(str(cache))
        try:
            return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        finally:
            db.close()

    before = rows()
    dry = prune(settings.cache_dir, [keep], dry_run=True)
    assert rows() == before == dry.vectors
    assert 0 < dry.removed < before and dry.removed_bytes > dry.removed * 4 * 256
    done = prune(settings.cache_dir, [keep])
    assert (done.removed, done.kept) == (dry.removed, dry.kept) and rows() == dry.kept
    # Rebuilding the kept index embeds nothing: its vectors are all still there.
    assert build_index(articles[:1], keep, settings, hash_embedder).embedded == 0
    assert prune(settings.cache_dir, [keep, other]).removed == 0
    with pytest.raises(IndexUnavailable):
        prune(settings.cache_dir, [tmp_path / "typo"])  # never "keep nothing" by mistake
    with pytest.raises(InvalidInput):
        prune(settings.cache_dir, [])
