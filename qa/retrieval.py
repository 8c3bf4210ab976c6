"""Question -> hits: dense (FAISS) and keyword (BM25) search, fused into one ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from qa.index import SearchIndex
from qa.types import Hit


@dataclass(frozen=True)
class Filters:
    """Restrict answers to a date range (ISO prefixes, inclusive) and to sources.

    A source filter matches an article whose `source` path starts with it (a file or a folder)
    or whose publisher equals it.
    """

    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.date_from or self.date_to or self.sources)

    def allows(self, date: str | None, source: str, publisher: str | None) -> bool:
        if self.date_from or self.date_to:
            if not date:
                return False
            if self.date_from and date[: len(self.date_from)] < self.date_from:
                return False
            if self.date_to and date[: len(self.date_to)] > self.date_to:
                return False
        if self.sources:
            return any(source.startswith(s) or publisher == s for s in self.sources)
        return True


def fuse(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    dense_weight: float,
) -> list[tuple[int, float, float, float]]:
    """Combine two `(id, score)` lists into one: `(id, fused, dense, lexical)`, best first.

    Scores, not only ranks, are used, and both are on fixed scales (cosine similarity, and
    keyword scores normalised to [0, 1] by `KeywordIndex`), so the fused score means the same
    for every question. A missing score counts as 0.
    """
    dense_map = dict(dense)
    lexical_map = dict(lexical)
    fused = []
    for item in dense_map.keys() | lexical_map.keys():
        d = dense_map.get(item, 0.0)
        k = lexical_map.get(item, 0.0)
        fused.append((item, dense_weight * d + (1 - dense_weight) * k, d, k))
    fused.sort(key=lambda row: (-row[1], row[0]))
    return fused


class Retriever:
    """Hybrid search over one loaded `SearchIndex`."""

    def __init__(self, index: SearchIndex, candidates: int = 50, dense_weight: float = 0.9):
        self.index = index
        self.candidates = candidates
        self.dense_weight = dense_weight

    def allowed_chunks(self, filters: Filters) -> np.ndarray | None:
        if filters.is_empty():
            return None
        articles = self.index.articles
        allowed_docs = {
            doc_id
            for doc_id, a in articles.items()
            if filters.allows(a.date, a.source, a.publisher)
        }
        return np.array(
            [c.chunk_id for c in self.index.chunks if c.doc_id in allowed_docs], dtype=np.int64
        )

    def search_batch(
        self,
        questions: Sequence[str],
        query_vectors: np.ndarray,
        top_k: int = 10,
        filters: Filters | None = None,
    ) -> list[list[Hit]]:
        filters = filters or Filters()
        allowed = self.allowed_chunks(filters)
        if allowed is not None and len(allowed) == 0:
            return [[] for _ in questions]
        k = min(self.candidates, self.index.vectors.ntotal)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            k = min(k, len(allowed))
        scores, ids = self.index.vectors.search(query_vectors, k, params=params)
        results = []
        for row, question in enumerate(questions):
            keyword_scores = self.index.keywords.scores(question)
            if allowed is not None:
                mask = np.zeros_like(keyword_scores)
                mask[allowed] = 1.0
                keyword_scores = keyword_scores * mask
            top = np.argpartition(-keyword_scores, min(k, len(keyword_scores) - 1))[:k]
            candidates = {int(i) for i in ids[row] if i >= 0}
            candidates |= {int(i) for i in top if keyword_scores[i] > 0}
            # Both scores for every candidate, so fusion never treats "not proposed" as zero.
            order = sorted(candidates)
            dense_scores = self.index.matrix[order] @ query_vectors[row]
            dense = list(zip(order, dense_scores.tolist()))
            lexical = [(i, float(keyword_scores[i])) for i in order]
            fused = fuse(dense, lexical, self.dense_weight)[:top_k]
            results.append([Hit(self.index.chunks[i], score, d, kw) for i, score, d, kw in fused])
        return results
