"""Question -> hits: dense (FAISS) and keyword (BM25) search, fused into one ranking."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from qa import ann
from qa.ann import RowFilter
from qa.config import FusionWeights
from qa.errors import InvalidFilter
from qa.index import SearchIndex
from qa.period import Period
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
            raise InvalidFilter(
                f"the date range is reversed: {start} comes after {end}; give the earlier date "
                "as date-from and the later one as date-to"
            )
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
        self._rows: RowFilter | None = None
        self._sentence_bounds: tuple[np.ndarray, np.ndarray] | None = None
        self._coarse: CoarseRows | None = None
        self._searches = 0
        self._build_lock = threading.Lock()

    def allowed_rows(self, filters: Filters) -> tuple[np.ndarray, np.ndarray] | None:
        """Boolean masks over chunks and sentences that `filters` allow; None for no filter.

        A few numpy operations over per-row article numbers (`RowFilter`), so a filter costs
        milliseconds even at millions of sentences.
        """
        if filters.is_empty():
            return None
        if self._rows is None:
            self._rows = RowFilter.of(self.index)
        articles = self._rows.article_mask(filters.date_from, filters.date_to, filters.sources)
        return self._rows.chunk_mask(articles), self._rows.sentence_mask(articles)

    def search_batch(
        self,
        questions: Sequence[str],
        query_vectors: np.ndarray,
        top_k: int = 10,
        filters: Filters | None = None,
        periods: Sequence[Period | None] | None = None,
    ) -> list[list[Hit]]:
        """The `top_k` best chunks for each question, best first.

        Candidates come from three searches (chunk vectors, sentence vectors, BM25); every
        candidate then gets all three scores exactly, so fusion never mistakes "not proposed"
        for "no match".

        `periods[i]`, the period question i names (`qa.period`), is a strong preference, not a
        filter: the three searches are also run within the period's articles, and a chunk of
        an article inside it ranks as if its fused score were `weights.period` higher. Its
        `Hit.score` stays the fused score, so the reader judges relevance unchanged.
        """
        index = self.index
        masks = self.allowed_rows(filters or Filters())
        chunk_mask, sentence_mask = masks if masks is not None else (None, None)
        in_period = self._period_masks(periods or [None] * len(questions), masks)
        k = min(self.candidates, len(index.chunks))
        if chunk_mask is not None:
            k = min(k, int(np.count_nonzero(chunk_mask)))
            if k == 0:
                return [[] for _ in questions]
        chunk_ids, sentence_ids = self.dense(query_vectors, k, chunk_mask, sentence_mask)
        results = []
        for row, question in enumerate(questions):
            qvec = query_vectors[row]
            keyword_scores = index.keywords.scores(question)
            if chunk_mask is not None:
                keyword_scores = np.where(chunk_mask, keyword_scores, 0.0).astype(np.float32)
            top_keyword = np.argpartition(-keyword_scores, k - 1)[:k]
            candidates = {int(i) for i in chunk_ids[row] if i >= 0}
            candidates |= {int(index.sentence_chunk[i]) for i in sentence_ids[row] if i >= 0}
            candidates |= {int(i) for i in top_keyword if keyword_scores[i] > 0}
            period_chunks = in_period[row]
            if period_chunks is not None:
                candidates |= self._period_candidates(qvec, keyword_scores, k, *period_chunks)
            order = np.fromiter(sorted(candidates), np.int64, len(candidates))
            results.append(self._ranked(order, qvec, keyword_scores[order], period_chunks, top_k))
        return results

    def _ranked(
        self,
        order: np.ndarray,
        qvec: np.ndarray,
        kw: np.ndarray,
        period_chunks: tuple | None,
        top_k: int,
    ) -> list[Hit]:
        """The `top_k` best of the candidate chunks `order` (ascending ids), fused.

        `fuse` over the three lists, as arrays: every candidate has all three scores, and the
        sums are the same doubles in the same order, so the same ranking and scores."""
        w, index = self.weights, self.index
        chunk_scores = index.chunk_matrix[order] @ qvec
        best_sentence = self._best_sentences(order, qvec)
        fused = (
            w.chunk * chunk_scores.astype(np.float64)
            + w.sentence * best_sentence.astype(np.float64)
            + w.keyword * kw.astype(np.float64)
        )
        rank_by = fused
        if period_chunks is not None and w.period:
            rank_by = fused + w.period * period_chunks[0][order]
        best = np.lexsort((order, -rank_by))[:top_k]
        columns = (order, fused, chunk_scores, best_sentence, kw)
        rows = zip(*(column[best].tolist() for column in columns))
        return [Hit(index.chunks[c], score, *signals) for c, score, *signals in rows]

    def _best_sentences(self, chunks: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Each chunk's best sentence score: one product over all their sentences' rows and a
        maximum per chunk, instead of one small product per chunk (~1 ms a question)."""
        if self._sentence_bounds is None:
            groups = self.index.chunk_sentences
            self._sentence_bounds = (
                np.fromiter((g.start for g in groups), np.int64, len(groups)),
                np.fromiter((g.stop for g in groups), np.int64, len(groups)),
            )
        starts, stops = (bound[chunks] for bound in self._sentence_bounds)
        lengths = stops - starts
        offsets = np.zeros(len(chunks), np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
        return np.maximum.reduceat(self.index.sentence_matrix[rows] @ qvec, offsets)

    def dense(
        self,
        query_vectors: np.ndarray,
        k: int,
        chunk_mask: np.ndarray | None = None,
        sentence_mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row ids of the `k` nearest chunks and sentences per query (-1 padded), by the
        index's own type (exact or approximate, `qa.ann`), within the masks if given."""
        index = self.index
        chunk_ids = ann.search(
            index.chunk_vectors, _approx_matrix(index, "chunk"), query_vectors, k, chunk_mask
        )
        coarse = self._coarse_sentences() if sentence_mask is None else None
        if coarse is not None:
            found = [coarse.search(index.sentence_matrix, q, k) for q in query_vectors]
            if all(ids is not None for ids in found):
                return chunk_ids, np.stack(found)
        sentence_ids = ann.search(
            index.sentence_vectors,
            _approx_matrix(index, "sentence"),
            query_vectors,
            k,
            sentence_mask,
        )
        return chunk_ids, sentence_ids

    def prepare(self) -> None:
        """Build what makes later searches quicker (`CoarseRows` over the sentence vectors:
        ~0.15 s and a quarter of their memory) now rather than on the second search."""
        self._searches = max(self._searches, 1)
        self._coarse_sentences()

    def _coarse_sentences(self) -> CoarseRows | None:
        """The int8 first pass over an exact index's sentence vectors, made on the second
        search (a process answering one question, `qa ask`, never pays for it)."""
        index = self.index
        self._searches += 1
        if self._searches < 2 or index.manifest.index_type == "approx":
            return None
        if len(index.sentence_matrix) < CoarseRows.MIN_ROWS or not CoarseRows.SUPPORTED:
            return None
        if self._coarse is None:
            with self._build_lock:
                if self._coarse is None:
                    self._coarse = CoarseRows(index.sentence_matrix)
        return self._coarse

    def _period_masks(
        self,
        periods: Sequence[Period | None],
        masks: tuple[np.ndarray, np.ndarray] | None,
    ) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per question: (chunk mask, sentence mask) of the articles inside its period.

        None where the question names no absolute period, or none of the (filtered) articles
        lies inside it, so the search runs exactly as without a period.
        """
        out: list[tuple[np.ndarray, np.ndarray] | None] = []
        seen: dict[tuple[str | None, str | None], tuple[np.ndarray, np.ndarray] | None] = {}
        for period in periods:
            if period is None or period.present:
                out.append(None)
                continue
            key = (period.from_, period.to)
            if key not in seen:
                if self._rows is None:
                    self._rows = RowFilter.of(self.index)
                articles = period_articles(self._rows.dates, period)
                chunks = self._rows.chunk_mask(articles)
                sentences = self._rows.sentence_mask(articles)
                if masks is not None:
                    chunks, sentences = chunks & masks[0], sentences & masks[1]
                seen[key] = (chunks, sentences) if chunks.any() else None
            out.append(seen[key])
        return out

    def _period_candidates(
        self,
        qvec: np.ndarray,
        keyword_scores: np.ndarray,
        k: int,
        *masks: np.ndarray,
    ) -> set[int]:
        """The three searches again, within the period's articles (masks over chunks and
        sentences): their best chunks."""
        chunk_mask = masks[0]
        index = self.index
        chunk_ids, sentence_ids = (ids[0] for ids in self.dense(qvec[None, :], k, *masks))
        inside = np.where(chunk_mask, keyword_scores, 0.0)
        top_keyword = np.argpartition(-inside, min(k, len(inside)) - 1)[:k]
        found = {int(i) for i in chunk_ids if i >= 0}
        found |= {int(index.sentence_chunk[i]) for i in sentence_ids if i >= 0}
        return found | {int(i) for i in top_keyword if inside[i] > 0}


class CoarseRows:
    """An int8 copy of unit row vectors for a quick first pass of an exact search that still
    finds exactly the `k` best rows.

    An exact search over the 47k sentence vectors of the 8k-chunk eval index reads 72 MB of
    floats per question (~5 ms on one core, bound by memory); their int8 copy is 18 MB and
    FAISS scans it in ~2 ms (`QT_8bit_direct_signed`: integer codes, summed exactly). The
    `wide` best rows of the int8 scan are then scored exactly on the float rows, and their
    `k` best are the answer when a bound proves it: a row's int8 score is off from its exact
    one by at most `bound` (Cauchy-Schwarz over both rounding errors), so when the last int8
    candidate plus `bound` stays below the k-th exact score, no row outside the candidates
    can be among the `k` best. Otherwise (7 of 1,200 XQuAD-de and MLQA-de questions with
    `WIDE` 1000) `search` returns None and the caller runs the exact search. The same rows as
    `IndexFlatIP` but between rows of equal score (duplicate sentences), which either may
    return."""

    MIN_ROWS = 20_000  # below, the exact scan is as quick
    # The signed 8-bit codec came with faiss 1.8.x's successors; without it, the exact scan.
    SUPPORTED = hasattr(faiss.ScalarQuantizer, "QT_8bit_direct_signed")
    WIDE = 1000

    def __init__(self, matrix: np.ndarray, block: int = 4096):
        n, dim = matrix.shape
        top = max(float(matrix.max(initial=0.0)), -float(matrix.min(initial=0.0)), 1e-12)
        self.scale = 127.0 / top
        self.rows = n
        self.index = faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT
        )
        self.residual = self.norm = 0.0  # the largest rounding error and int8 row, as norms
        for start in range(0, n, block):
            scaled = np.asarray(matrix[start : start + block], np.float32) * self.scale
            rounded = np.floor(scaled + 0.5)  # the codec floors: add the integers exactly
            self.residual = max(self.residual, float(_row_norms(scaled - rounded).max()))
            self.norm = max(self.norm, float(_row_norms(rounded).max()))
            self.index.add(rounded)

    def search(self, matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray | None:
        """The ids of the `k` rows of `matrix` (the float rows this was made from) with the
        highest inner product with `query`, best first; None when not proven (see above)."""
        wide = min(self.rows, max(self.WIDE, 4 * k))
        if k <= 0 or k > wide:
            return None
        query = np.asarray(query, np.float32)
        q_scale = 127.0 / max(float(np.abs(query).max()), 1e-12)
        scaled = query * q_scale
        q_int = np.rint(scaled)
        scores, ids = self.index.search(q_int[None, :], wide)
        ids = ids[0]
        if (ids < 0).any():
            return None
        exact = matrix[ids] @ query
        best = np.argpartition(-exact, k - 1)[:k] if k < wide else np.arange(wide)
        best = best[np.lexsort((ids[best], -exact[best]))]
        if wide < self.rows:
            q_err = float(np.linalg.norm(scaled - q_int))
            bound = float(np.linalg.norm(q_int)) * self.residual
            bound += q_err * (self.norm + self.residual)
            unit = q_scale * self.scale
            if (float(scores[0, -1]) + bound) / unit >= float(exact[best[-1]]):
                return None
        return ids[best]


def _row_norms(matrix: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix))


def period_articles(dates: np.ndarray, period: Period) -> np.ndarray:
    """Which article dates ("2019", "2019-06", "2019-06-01"; a numpy string array) overlap
    the period: each date is compared at its own precision, so "2019" lies in 2019-03."""
    lengths = np.char.str_len(dates)
    years = np.char.isdigit(dates.astype("U4"))
    keep = np.zeros(len(dates), dtype=bool)
    for n in (4, 7, 10):
        part = dates.astype(f"U{n}")
        match = (lengths == n) & years
        if period.from_:
            match &= part >= period.from_[:n]
        if period.to:
            match &= part <= period.to[:n]
        keep |= match
    return keep


def _approx_matrix(index: SearchIndex, kind: str) -> np.ndarray | None:
    """The float vectors an approximate index re-scores on; None for an exact index."""
    if index.manifest.index_type != "approx":
        return None
    return index.sentence_matrix if kind == "sentence" else index.chunk_matrix
