"""Index types (qa/ann.py): exact vs approximate search, filters as masks, mmap round trip."""

from __future__ import annotations

import numpy as np
import pytest

from qa import ann
from qa.errors import InvalidInput
from qa.retrieval import Filters


def clustered(n: int, dim: int = 384, centres: int = 50, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres: like sentence vectors, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim)).astype(np.float32)
    x = middle[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim)).astype(
        np.float32
    )
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def vectors():
    return clustered(6000)


@pytest.fixture(scope="module")
def approx(vectors, tmp_path_factory):
    """The approximate index written and read back (memory-mapped), built once."""
    folder = tmp_path_factory.mktemp("approx")
    floor, ann.PQ_MIN_VECTORS = ann.PQ_MIN_VECTORS, 2000  # PQ codes (not SQ8) at this small size
    try:
        ann.write(folder, "sentences", vectors, "approx")
    finally:
        ann.PQ_MIN_VECTORS = floor
    index, matrix = ann.read(folder, "sentences", "approx")
    assert isinstance(index, ann.faiss.IndexIVFPQFastScan)
    return index, matrix


def test_resolve_type_by_size():
    assert ann.resolve_type("auto", 10) == "exact"
    assert ann.resolve_type("auto", ann.AUTO_EXACT_BELOW) == "approx"
    assert ann.resolve_type("approx", 10) == "approx"
    with pytest.raises(InvalidInput, match="exact, approx, auto"):
        ann.resolve_type("hnsw", 10)


def test_approx_round_trip_is_memory_mapped_and_recalls_exact(vectors, approx, monkeypatch):
    index, matrix = approx
    assert isinstance(matrix, np.memmap) and index.ntotal == len(vectors)  # floats stay on disk
    # Few candidates for this small index, so that the codes' ranking matters (4,000 would be
    # two thirds of it).
    monkeypatch.setattr(ann, "RERANK_MIN", 600)
    queries = clustered(50, seed=1)
    exact = ann.search(ann.build(vectors, "exact"), None, queries, 10)
    found = ann.search(index, matrix, queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact)])
    # Synthetic clusters are harder than sentence vectors (0.95+ there, docs/scaling.md).
    assert recall >= 0.9
    # Re-scored exactly: the top hit's score is the true inner product, best first.
    assert found[0][0] == exact[0][0]


def test_filtered_search_returns_only_allowed_rows_and_the_best_of_them(vectors, approx):
    index, matrix = approx
    queries = clustered(5, seed=2)
    flat = ann.build(vectors, "exact")
    for share in (0.5, 0.01):  # wide filter: IVF + bitmap; narrow: exact over its rows
        mask = np.random.default_rng(3).random(len(vectors)) < share
        allowed = np.flatnonzero(mask)
        truth = allowed[np.argsort(-(vectors[allowed] @ queries.T), axis=0)[:10].T]
        both = (
            ann.search(index, matrix, queries, 10, mask),
            ann.search(flat, None, queries, 10, mask),
        )
        for found in both:
            assert mask[found[found >= 0]].all()
            hits = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
            assert hits >= 0.9
    assert (ann.search(flat, None, queries, 10, np.zeros(len(vectors), bool)) == -1).all()


def test_row_filter_matches_filters_allows():
    dates = [None, "2019", "2019-03", "2019-03-31", "2020-01-02", "2018-12-31"]
    sources = ["a/x.txt", "a/y.txt", "b/z.txt", "b/w.txt", "c.jsonl#1", "c.jsonl#2"]
    publishers = [None, "taz", None, "taz", None, None]
    docs = [f"d{i}" for i in range(len(dates))]
    rows = ann.RowFilter(docs, dates, sources, publishers, ["d0", "d0", "d3", "d5"], docs)
    cases = [
        ("2019", None, ()),
        ("2019-03", "2019-03"),
        (None, "2019-03-15"),
        ("2019-03-31", "2020"),
        (None, None, ("a/", "taz")),
        ("2019", "2019", ("b/",)),
    ]
    for case in cases:
        f = Filters(*case)
        want = [f.allows(d, s, p) for d, s, p in zip(dates, sources, publishers)]
        got = rows.article_mask(f.date_from, f.date_to, f.sources)
        assert got.tolist() == want, case
    mask = rows.article_mask("2019-03-31", None)
    assert rows.chunk_mask(mask).tolist() == [False, False, True, False]


def test_sentence_table_behaves_like_a_list_of_sentences():
    from qa.index import SentenceTable
    from qa.types import Sentence

    rows = [["a", 0, 5], ["a", 6, 9], ["b", 0, 4]]
    table = SentenceTable(rows)
    listed = [Sentence(i, *row) for i, row in enumerate(rows)]
    assert len(table) == 3 and list(table) == listed
    assert table[-1] == listed[-1] and table[1:3] == listed[1:3]
    assert table.doc_id_column() == ["a", "a", "b"]
    with pytest.raises(IndexError):
        table[3]


def test_article_store_reads_texts_from_disk_and_old_indexes_from_memory(tmp_path):
    import json

    from qa.store import ArticleStore, ChunkTable, write_texts
    from qa.types import Article, Chunk

    articles = [
        Article("a", "Erster", "2020-01-02", "x.txt", "„Zitat“ – Öl kostet 3 €."),
        Article("b", "Zweiter", None, "y.txt", "Kurz.", publisher="taz"),
    ]
    lines = "".join(json.dumps(a.to_dict(), ensure_ascii=False) + "\n" for a in articles)
    (tmp_path / "articles.jsonl").write_text(lines, "utf-8")
    old = ArticleStore.load(tmp_path)  # no texts.bin: an index written before it existed
    write_texts(tmp_path, articles)
    new = ArticleStore.load(tmp_path)
    assert not new._texts and old._texts  # the new one holds no text in memory
    for store in (old, new):
        assert list(store) == ["a", "b"] and "b" in store and "c" not in store
        assert [store[a.doc_id] for a in articles] == articles
        assert store.dates_by_id() == {"a": "2020-01-02", "b": None}
        chunks = ChunkTable([["a", 1, 6, 0, 1], ["b", 0, 5, 1, 2]], store)
        assert list(chunks) == [Chunk(0, "a", 1, 6, "Zitat"), Chunk(1, "b", 0, 5, "Kurz.")]
        assert chunks.doc_id_column() == ["a", "b"] and chunks.groups() == [
            range(0, 1),
            range(1, 2),
        ]
    with pytest.raises(KeyError):
        new["c"]
