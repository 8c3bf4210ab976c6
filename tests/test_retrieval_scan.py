"""The split int8 sentence scan (issue 17): the rows found do not depend on how the scan is
split or on which thread runs which part, and equal the exact `IndexFlatIP` search. Timings
stay out of tests (docs/benchmarks.md)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from qa import cores
from qa.retrieval import CoarseRows, Retriever, run_shared
from tests.conftest import SEED_QUESTIONS, ranked_hits


def rows_with_duplicates(seed: int = 3, n: int = 9000, dim: int = 64) -> np.ndarray:
    """Unit rows around a shared direction (as sentence vectors are), a tenth of them
    copies of others."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, dim)).astype(np.float32) + 4.0
    rows[rng.choice(n, n // 10, replace=False)] = rows[rng.choice(n, n // 10, replace=False)]
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(matrix)
    return flat.search(queries, k)[1]


def test_split_scans_find_the_rows_the_exact_search_finds():
    matrix = rows_with_duplicates()
    rng = np.random.default_rng(5)
    queries = matrix[rng.choice(len(matrix), 30)] + 0.05 * rng.standard_normal((30, 64))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    coarse, k = CoarseRows(matrix), 25
    expected = exact_top(matrix, queries, k)
    whole = coarse.search(matrix, queries, k)
    assert sum(ids is not None for ids in whole) >= 25
    with ThreadPoolExecutor(1) as helper:
        for cuts in ([len(matrix) // 3], [1000, 5000], [len(matrix) - 10]):
            parts = CoarseRows(matrix, cuts)
            assert len(parts.parts) == len(cuts) + 1
            codes = parts.codes(queries)
            scanned = run_shared(parts.scans(codes, k), helper)
            split = parts.search(matrix, queries, k, codes, scanned)
            for a, b in zip(whole, split):
                assert (a is None and b is None) or np.array_equal(a, b), cuts
    for query, ids, found in zip(queries, expected, whole):
        if found is None:
            continue
        scores = matrix @ query
        assert np.array_equal(np.sort(scores[found]), np.sort(scores[ids])), "the same scores"
        kth = scores[found].min()
        assert set(found[scores[found] > kth]) == set(ids[scores[ids] > kth]), "ties only"


def test_rows_of_equal_score_beyond_the_candidates_are_not_proven():
    rows = rows_with_duplicates()
    alike = np.repeat(rows[:1], len(rows), axis=0)
    alike[::2] = rows[::2]  # half the rows one vector: more of them than the candidates
    assert CoarseRows(alike).search(alike, alike[1:2], 20) == [None]
    assert CoarseRows(alike).search(alike, alike[2], 20) is not None, "a row of its own"


def test_run_shared_keeps_order_and_does_not_wait_for_a_late_helper():
    blocked = threading.Event()
    with ThreadPoolExecutor(1) as helper:
        helper.submit(blocked.wait, 10)  # the helper thread is taken: it never starts
        results = run_shared([lambda i=i: i * i for i in range(5)], helper)
        blocked.set()
    assert results == [0, 1, 4, 9, 16]
    with ThreadPoolExecutor(1) as helper:
        assert run_shared([lambda i=i: i for i in range(40)], helper) == list(range(40))
    with pytest.raises(ZeroDivisionError):
        run_shared([lambda: 1, lambda: 1 / 0], None)


def test_a_second_thread_only_while_a_core_is_free(service, monkeypatch):
    settings = service.settings
    retriever = Retriever(service.snapshot().index, settings.candidates, settings.fusion)
    monkeypatch.setattr(cores, "cpu_cores", lambda: 2)
    monkeypatch.setattr(cores, "busy_cores", lambda: 1)
    assert retriever.helper_thread() is None, "another task running"
    monkeypatch.setattr(cores, "busy_cores", lambda: 0)
    helper = retriever.helper_thread()
    assert helper is not None and retriever.helper_thread() is helper, "one, kept"
    monkeypatch.setattr(cores, "cpu_cores", lambda: 1)
    assert retriever.helper_thread() is None, "one core"


def test_the_search_gives_the_same_hits_with_and_without_a_helper(service, monkeypatch):
    snap = service.snapshot()
    questions = list(SEED_QUESTIONS)
    vectors = snap.embedder.encode_queries(questions)
    settings = service.settings
    expected = Retriever(snap.index, settings.candidates, settings.fusion).search_batch(
        questions, vectors, 8
    )
    monkeypatch.setattr(CoarseRows, "MIN_ROWS", 0)
    with ThreadPoolExecutor(1) as helper:
        for chosen in (None, helper):
            monkeypatch.setattr(Retriever, "helper_thread", lambda _, chosen=chosen: chosen)
            quick = Retriever(snap.index, settings.candidates, settings.fusion)
            quick.prepare()
            assert quick._coarse is not None
            got = quick.search_batch(questions, vectors, 8)
            assert ranked_hits(got) == ranked_hits(expected)
