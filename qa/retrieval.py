"""Question -> hits: dense (FAISS) and keyword (BM25) search, fused into one ranking."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from qa.config import FusionWeights
from qa.errors import InvalidFilter
from qa.index import SearchIndex
from qa.types import Hit

DATE_FORMS = "YYYY, YYYY-MM or YYYY-MM-DD (for example 2019, 2019-03 or 2019-03-31)"
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date(value: str | None, name: str = "date") -> str | None:
    """A validated ISO date prefix (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`), or None when blank.

    Raises `InvalidFilter` naming the accepted forms for anything else, impossible calendar
    dates ("2020-13-45") included.
    """
    value = (value or "").strip()
    if not value:
        return None
    match = _DATE.fullmatch(value)
    if match:
        year, month, day = (int(g) if g else 1 for g in match.groups())
        try:
            dt.date(year, month, day)
            return value
        except ValueError:
            pass
    raise InvalidFilter(f"{name} {value!r} is not a date: use {DATE_FORMS}")


@dataclass(frozen=True)
class Filters:
    """Restrict answers to a date range (ISO prefixes, inclusive) and to sources.

    A source filter matches an article whose `source` path starts with it (a file or a folder)
    or whose publisher equals it.
    """

    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        date_from: str | None = None,
        date_to: str | None = None,
        sources: Iterable[str] | None = None,
    ) -> Filters:
        """Filters from user input (CLI, API, page), validated where it enters.

        Raises `InvalidFilter` for a malformed or impossible date and for a reversed range.
        """
        start, end = parse_date(date_from, "date-from"), parse_date(date_to, "date-to")
        common = min(len(start or ""), len(end or ""))
        if start and end and start[:common] > end[:common]:
            raise InvalidFilter(f"the date range is reversed: {start} comes after {end}")
        names = tuple(s.strip() for s in (sources or ()) if s and s.strip())
        return cls(start, end, names)

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
    score_lists: Sequence[Sequence[tuple[int, float]]], weights: Sequence[float]
) -> list[tuple[int, float]]:
    """Weighted sum of several `(id, score)` lists: one `(id, fused)` list, best first.

    Scores, not only ranks, are used, and every list is on a fixed scale (cosine similarity;
    keyword scores normalised to [0, 1] by `KeywordIndex`), so the fused score means the same
    for every question and can decide when to decline. A missing score counts as 0.
    """
    fused: dict[int, float] = {}
    for scores, weight in zip(score_lists, weights, strict=True):
        for item, score in scores:
            fused[item] = fused.get(item, 0.0) + weight * score
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


class Retriever:
    """Hybrid search over one loaded `SearchIndex`."""

    def __init__(
        self, index: SearchIndex, candidates: int = 50, weights: FusionWeights | None = None
    ):
        self.index = index
        self.candidates = candidates
        self.weights = weights or FusionWeights()

    def allowed_chunks(self, filters: Filters) -> np.ndarray | None:
        if filters.is_empty():
            return None
        allowed_docs = {
            doc_id
            for doc_id, a in self.index.articles.items()
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
        """The `top_k` best chunks for each question, best first.

        Candidates come from three searches (chunk vectors, sentence vectors, BM25); every
        candidate then gets all three scores exactly, so fusion never mistakes "not proposed"
        for "no match".
        """
        index = self.index
        filters = filters or Filters()
        allowed = self.allowed_chunks(filters)
        if allowed is not None and len(allowed) == 0:
            return [[] for _ in questions]
        k = min(self.candidates, len(index.chunks))
        chunk_params = sentence_params = None
        if allowed is not None:
            k = min(k, len(allowed))
            chunk_params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            allowed_sentences = np.concatenate(
                [np.arange(g.start, g.stop) for g in (index.chunk_sentences[c] for c in allowed)]
            )
            sentence_params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed_sentences))
        _, chunk_ids = index.chunk_vectors.search(query_vectors, k, params=chunk_params)
        _, sentence_ids = index.sentence_vectors.search(query_vectors, k, params=sentence_params)
        w = self.weights
        results = []
        for row, question in enumerate(questions):
            qvec = query_vectors[row]
            keyword_scores = index.keywords.scores(question)
            if allowed is not None:
                mask = np.zeros_like(keyword_scores)
                mask[allowed] = 1.0
                keyword_scores *= mask
            top_keyword = np.argpartition(-keyword_scores, k - 1)[:k]
            candidates = {int(i) for i in chunk_ids[row] if i >= 0}
            candidates |= {int(index.sentence_chunk[i]) for i in sentence_ids[row] if i >= 0}
            candidates |= {int(i) for i in top_keyword if keyword_scores[i] > 0}
            order = sorted(candidates)
            chunk_scores = index.chunk_matrix[order] @ qvec
            best_sentence = [
                float((index.sentence_matrix[g.start : g.stop] @ qvec).max())
                for g in (index.chunk_sentences[c] for c in order)
            ]
            signals = {
                c: (float(chunk_scores[j]), best_sentence[j], float(keyword_scores[c]))
                for j, c in enumerate(order)
            }
            lists = [[(c, scores[n]) for c, scores in signals.items()] for n in range(3)]
            fused = fuse(lists, (w.chunk, w.sentence, w.keyword))[:top_k]
            results.append([Hit(index.chunks[c], score, *signals[c]) for c, score in fused])
        return results
