"""The index's column files (`qa.store`): a new version loads its tables without parsing JSON
lines and its exact vectors memory-mapped; a version written before the column files existed
still loads, from the JSON lines, with the same tables and the same answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa import ann
from qa.corpus import read_corpus
from qa.errors import IndexUnavailable
from qa.index import SearchIndex, build_index, live_version
from qa.retrieval import Filters
from qa.service import QAService
from tests.conftest import ranked_hits

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
COLUMN_FILES = [
    "articles.columns.json",
    *(f"sentences.{c}.npy" for c in ("article", "start", "end")),
    *(f"chunks.{c}.npy" for c in ("article", "start", "end", "first", "stop")),
]


@pytest.fixture()
def new_index(tmp_path, pure_settings, hash_embedder) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("dated.de.jsonl", "local.de.jsonl"):  # dates, urls, several sources
        shutil.copy(DATA / name, corpus / name)
    articles = read_corpus(corpus, pure_settings).articles
    assert len(articles) > 40
    build_index(articles, tmp_path / "index", pure_settings, hash_embedder)
    return tmp_path / "index"


def as_old(index_dir: Path, tmp_path: Path, drop=COLUMN_FILES) -> Path:
    """A copy of the index as a version written before the column files existed."""
    old = tmp_path / "old"
    shutil.copytree(index_dir, old)
    for name in drop:
        (live_version(old) / name).unlink()
    return old


def questions() -> list[str]:
    rows = (DATA / "dated.de.questions.jsonl").read_text("utf-8").splitlines()[:20]
    rows += (DATA / "local.de.questions.jsonl").read_text("utf-8").splitlines()[:10]
    return [json.loads(r)["question"] for r in rows]


def test_new_and_old_layouts_load_the_same_tables(new_index, tmp_path):
    version = live_version(new_index)
    for name in COLUMN_FILES:
        assert (version / name).is_file(), name
    new, old = SearchIndex.load(new_index), SearchIndex.load(as_old(new_index, tmp_path))
    assert list(new.articles) == list(old.articles)
    assert [new.articles[d] for d in new.articles] == [old.articles[d] for d in old.articles]
    assert new.article_dates() == old.article_dates()
    assert list(new.sentences) == list(old.sentences)
    assert list(new.chunks) == list(old.chunks)
    assert new.sentences.doc_id_column() == old.sentences.doc_id_column()
    assert new.chunks.doc_id_column() == old.chunks.doc_id_column()
    assert new.chunk_sentences == old.chunk_sentences
    assert np.array_equal(new.sentence_chunk, old.sentence_chunk)
    for table in ("sentences", "chunks"):
        for column in ("article", "start", "end"):
            a, b = getattr(getattr(new, table), column), getattr(getattr(old, table), column)
            assert a.dtype == b.dtype and np.array_equal(a, b)
            assert type(a) is np.ndarray and not a.flags.writeable  # a read-only file mapping
    assert np.array_equal(new.sentence_matrix, old.sentence_matrix)
    assert np.array_equal(new.chunk_matrix, old.chunk_matrix)


def test_new_and_old_layouts_give_the_same_answers(
    new_index, tmp_path, pure_settings, hash_embedder
):
    old_index = as_old(new_index, tmp_path)
    asked = questions()
    for filters in (None, Filters(date_from="2016"), Filters(sources=("local.de.jsonl",))):
        answers = [
            [
                a.to_dict()
                for a in QAService(d, pure_settings, embedder=hash_embedder).ask_batch(
                    asked, filters
                )
            ]
            for d in (new_index, old_index)
        ]
        assert answers[0] == answers[1]
        assert any(not a["abstained"] for a in answers[0])


def test_a_version_with_only_some_column_files_loads_from_json_lines(new_index, tmp_path):
    old = as_old(new_index, tmp_path, drop=["sentences.end.npy", "chunks.stop.npy"])
    loaded, new = SearchIndex.load(old), SearchIndex.load(new_index)
    assert list(loaded.sentences) == list(new.sentences)
    assert list(loaded.chunks) == list(new.chunks)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("sentences.start.npy", lambda a: a[:-1]),  # shorter than the other columns
        ("chunks.article.npy", lambda a: a + 10_000),  # names articles the index lacks
        ("sentences.article.npy", lambda a: a - 10_000),
    ],
)
def test_damaged_column_files_are_refused(new_index, name, values):
    path = live_version(new_index) / name
    np.save(path, values(np.load(path)))
    with pytest.raises(IndexUnavailable, match="rebuild it"):
        SearchIndex.load(new_index)


def test_article_columns_of_other_lengths_are_refused(new_index):
    path = live_version(new_index) / "articles.columns.json"
    columns = json.loads(path.read_text("utf-8"))
    columns["title"].pop()
    path.write_text(json.dumps(columns), "utf-8")
    with pytest.raises(IndexUnavailable, match="rebuild it"):
        SearchIndex.load(new_index)


def test_exact_vectors_are_memory_mapped_and_search_as_read_into_memory(new_index):
    version = live_version(new_index)
    mapped, _ = ann.read(version, "sentences", "exact")
    copied = faiss.read_index(str(version / "sentences.faiss"))
    assert mapped.ntotal == copied.ntotal > 100
    queries = faiss.rev_swig_ptr(copied.get_xb(), 5 * copied.d).reshape(5, copied.d).copy()
    assert np.array_equal(mapped.search(queries, 10)[1], copied.search(queries, 10)[1])
    index = SearchIndex.load(new_index)
    assert np.array_equal(index.sentence_matrix, copied.reconstruct_n(0, copied.ntotal))


def test_a_rebuild_leaves_a_loaded_index_readable(new_index, pure_settings, hash_embedder):
    """The old version's mapped files are deleted by the rebuild; a service still answering
    from it reads them (Linux keeps a deleted file while it is mapped)."""
    service = QAService(new_index, pure_settings, embedder=hash_embedder)
    before = service.snapshot()
    asked = questions()[:5]
    vectors = hash_embedder.encode_queries(asked)
    first = before.retriever.search_batch(asked, vectors, 5)
    assert all(first), "every question finds chunks"
    articles = [before.index.articles[d] for d in before.index.articles]
    build_index(articles[:-1], new_index, pure_settings, hash_embedder)
    assert not (new_index / before.index.version).exists()
    sentences = before.index.sentences
    assert len(list(sentences)) == len(sentences) and before.index.sentence_matrix.sum() != 0
    assert list(before.index.chunks)[-1].text
    assert ranked_hits(before.retriever.search_batch(asked, vectors, 5)) == ranked_hits(first)
    again = QAService(new_index, pure_settings, embedder=hash_embedder)
    assert again.snapshot().version != before.version
    assert len(again.ask_batch(asked)) == len(asked)


def test_the_reader_s_article_ranges_come_from_the_runs_as_from_each_sentence(new_index, tmp_path):
    from qa.answer import _doc_sentence_ranges
    from qa.index import SentenceTable

    for index_dir in (new_index, as_old(new_index, tmp_path)):
        sentences = SearchIndex.load(index_dir).sentences
        assert _doc_sentence_ranges(sentences) == _doc_sentence_ranges(list(sentences))
    table = SentenceTable([["a", 0, 5], ["a", 6, 9], ["b", 0, 4], ["a", 10, 12]])
    assert table.article_runs() == [("a", 0, 2), ("b", 2, 3), ("a", 3, 4)]
    assert _doc_sentence_ranges(table) == {"a": (0, 4), "b": (2, 3)}  # as before: first, last
    assert SentenceTable([]).article_runs() == []
