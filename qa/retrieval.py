"""Question -> hits: dense (FAISS) and keyword (BM25) search, fused into one ranking."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import faiss
import numpy as np

from qa import ann, cores
from qa.ann import RowFilter
from qa.config import FusionWeights
from qa.errors import InvalidFilter
from qa.index import SearchIndex
from qa.lexical import KeywordIndex
from qa.period import Period
from qa.types import Hit

DATE_FORMS = "YYYY, YYYY-MM or YYYY-MM-DD (for example 2019, 2019-03 or 2019-03-31)"
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
T = TypeVar("T")


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
        self._helper: ThreadPoolExecutor | None = None  # `helper_thread`
        self._helper_lock = threading.Lock()

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
        # One task for all keyword searches: a stemmer must not stem on two threads at once.
        keywords = partial(_keyword_scores, index.keywords, questions)
        chunk_ids, sentence_ids, (all_keyword_scores,) = self._dense(
            query_vectors, k, chunk_mask, sentence_mask, [keywords]
        )
        results = []
        for row, keyword_scores in enumerate(all_keyword_scores):
            qvec = query_vectors[row]
            if chunk_mask is not None:
                keyword_scores = np.where(chunk_mask, keyword_scores, 0.0).astype(np.float32)
            top_keyword = np.argpartition(-keyword_scores, k - 1)[:k]
            found = [self._proposed(chunk_ids[row], sentence_ids[row], top_keyword, keyword_scores)]
            period_chunks = in_period[row]
            if period_chunks is not None:
                found.append(self._period_candidates(qvec, keyword_scores, k, *period_chunks))
            order = np.unique(np.concatenate(found))  # ascending, as the ranking expects
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
        chunk_ids, sentence_ids, _ = self._dense(query_vectors, k, chunk_mask, sentence_mask)
        return chunk_ids, sentence_ids

    def _dense(
        self,
        query_vectors: np.ndarray,
        k: int,
        chunk_mask: np.ndarray | None,
        sentence_mask: np.ndarray | None,
        also: Sequence[Callable[[], T]] = (),
    ) -> tuple[np.ndarray, np.ndarray, list[T]]:
        """`dense`, and the results of the tasks `also` (the keyword searches), which run
        alongside the scans: on a second core, Python scores keywords while FAISS scans."""
        index = self.index
        chunks = partial(
            ann.search,
            index.chunk_vectors,
            _approx_matrix(index, "chunk"),
            query_vectors,
            k,
            chunk_mask,
        )
        coarse = self._coarse_sentences() if sentence_mask is None else None
        if coarse is None:
            chunk_ids, *done = run_shared([chunks, *also])
        else:
            codes = coarse.codes(query_vectors)
            scans = coarse.scans(codes, k)
            chunk_ids, *scanned = run_shared([chunks, *scans, *also], self.helper_thread())
            scanned, done = scanned[: len(scans)], scanned[len(scans) :]
            found = coarse.search(index.sentence_matrix, query_vectors, k, codes, scanned)
            if all(ids is not None for ids in found):
                return chunk_ids, np.stack(found), done
        sentence_ids = ann.search(
            index.sentence_vectors,
            _approx_matrix(index, "sentence"),
            query_vectors,
            k,
            sentence_mask,
        )
        return chunk_ids, sentence_ids, done

    def helper_thread(self) -> Executor | None:
        """A second thread for a question's scans, only while another core is free (no other
        task runnable: `qa.cores`), as the int8 encoder decides for its spinning threads. With
        the cores taken, a second thread would only wait for one and slow the question down.
        Made on first use; its thread ends when this retriever is dropped."""
        if not cores.free_cores_for(2):
            return None
        with self._helper_lock:
            if self._helper is None:
                # OpenMP thread counts are per thread: one, as `QAService` sets for its own.
                self._helper = ThreadPoolExecutor(
                    1, "qa-scan", initializer=faiss.omp_set_num_threads, initargs=(1,)
                )
        return self._helper

    def prepare(self) -> None:
        """Build what makes later searches quicker (`CoarseRows` over the sentence vectors:
        ~0.3 s and a quarter of their memory) now rather than on the second search."""
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
                    # Two parts: a second core scans the first while this thread scans the
                    # chunks and the second part (`_dense`), both about as long: a float row
                    # of the exact chunk scan takes two int8 rows' time.
                    rows = len(index.sentence_matrix)
                    cut = (rows + 2 * len(index.chunks)) // 2
                    self._coarse = CoarseRows(index.sentence_matrix, [cut])
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
    ) -> np.ndarray:
        """The three searches again, within the period's articles (masks over chunks and
        sentences): the chunks they propose."""
        chunk_mask = masks[0]
        chunk_ids, sentence_ids = (ids[0] for ids in self.dense(qvec[None, :], k, *masks))
        inside = np.where(chunk_mask, keyword_scores, 0.0)
        top_keyword = np.argpartition(-inside, min(k, len(inside)) - 1)[:k]
        return self._proposed(chunk_ids, sentence_ids, top_keyword, inside)

    def _proposed(
        self,
        chunk_ids: np.ndarray,
        sentence_ids: np.ndarray,
        top_keyword: np.ndarray,
        keyword_scores: np.ndarray,
    ) -> np.ndarray:
        """The chunks the three searches propose (with repeats): the nearest chunks, the
        chunks of the nearest sentences, the best keyword chunks that match at all."""
        return np.concatenate(
            [
                chunk_ids[chunk_ids >= 0],
                self.index.sentence_chunk[sentence_ids[sentence_ids >= 0]],
                top_keyword[keyword_scores[top_keyword] > 0],
            ]
        ).astype(np.int64, copy=False)


class CoarseRows:
    """An int8 copy of row vectors for a quick first pass of an exact search that still finds
    exactly the `k` best rows.

    An exact search over the 47k sentence vectors of the 8k-chunk eval index reads 72 MB of
    floats per question (~5 ms on one core); their int8 copy is 18 MB and FAISS scans it in
    ~2 ms (`QT_8bit_direct_signed`: integer codes and an integer query, summed exactly). The
    `WIDE` best rows of the int8 scan are scored exactly on the float rows, and their `k` best
    are the answer when a bound proves it: a row's int8 score is off from its exact one by at
    most `bound` (Cauchy-Schwarz over both rounding errors), so when the last int8 candidate
    plus `bound` stays below the k-th exact score, no row outside the candidates can be among
    the `k` best. Otherwise `search` gives None and the caller runs the exact search.

    The codes are of the rows less their mean, each dimension scaled to its own range: every
    row shares most of its direction with the others (the mean of the unit sentence vectors
    has length 0.9), and the proof only needs differences between rows. That halves the
    rounding error of one scale over the raw rows, so 400 candidates prove what 1,000
    hardly did (XQuAD-de and MLQA-de on the 8k-chunk index: 1,099 of 1,100 questions proven
    with 400; 4 of 500 unproven with 1,000 before). The same rows as `IndexFlatIP`; of rows
    of equal score (duplicate sentences) the first, as `IndexFlatIP` keeps them too.

    The rows are kept as parts, split at `cuts` (one FAISS index each), so that a free core
    scans one while this thread scans the other (`run_shared`). One after the other, two
    parts cost what one index costs (~2 ms); a range selector over one index cost ~0.5 ms
    more."""

    MIN_ROWS = 20_000  # below, the exact scan is as quick
    # The signed 8-bit codec came with faiss 1.8.x's successors; without it, the exact scan.
    SUPPORTED = hasattr(faiss.ScalarQuantizer, "QT_8bit_direct_signed")
    WIDE = 400
    # Covers the float rounding of the exact scores compared (float32 products of 384 terms
    # err by ~1e-5 at most) and of the bound itself; the bound is ~0.008.
    MARGIN = 1e-4

    def __init__(self, matrix: np.ndarray, cuts: Sequence[int] = (), block: int = 4096):
        n, dim = matrix.shape
        self.rows = n
        total = np.zeros(dim)
        for start in range(0, n, block):
            total += np.asarray(matrix[start : start + block]).sum(axis=0, dtype=np.float64)
        mean = (total / max(n, 1)).astype(np.float32)
        top = np.zeros(dim, np.float32)
        for start in range(0, n, block):
            rows = np.asarray(matrix[start : start + block])
            np.maximum(top, np.abs(rows - mean).max(axis=0), out=top)
        scales = (127.0 / np.maximum(top, 1e-12)).astype(np.float32)
        # In float32, as the codes are made: the proof's float rounding is within `MARGIN`.
        self.mean, self.scales = mean.astype(np.float64), scales.astype(np.float64)
        self.residual = self.norm = 0.0  # the largest rounding error and code row, as norms
        ends = [0, *sorted(c for c in set(cuts) if 0 < c < n), n]
        self.parts = []  # (first row, FAISS index of the part's codes)
        for lo, hi in zip(ends, ends[1:]):
            part = faiss.IndexScalarQuantizer(
                dim, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT
            )
            for start in range(lo, hi, block):
                scaled = (np.asarray(matrix[start : min(hi, start + block)]) - mean) * scales
                codes = np.floor(scaled + 0.5)  # in [-127, 127]: the codec stores them exactly
                self.residual = max(self.residual, float(_row_norms(scaled - codes).max()))
                self.norm = max(self.norm, float(_row_norms(codes).max()))
                part.add(codes)
            self.parts.append((lo, part))

    def codes(self, queries: np.ndarray) -> np.ndarray:
        """The integer query codes the scans take: rows of `queries / scales`, each scaled to
        127 at its largest entry and rounded (FAISS would round them itself)."""
        scaled = np.asarray(queries, np.float64) / self.scales
        scaled *= 127.0 / np.maximum(np.abs(scaled).max(axis=1, keepdims=True), 1e-300)
        return np.rint(scaled).astype(np.float32)

    def scans(self, codes: np.ndarray, k: int) -> list[Callable[[], tuple]]:
        """The int8 scans of `search`, one per part, to run anywhere (`run_shared`); each
        gives (scores, ids, rows in its part)."""
        wide = max(self.WIDE, 4 * k)
        return [partial(self._scan, codes, wide, lo, part) for lo, part in self.parts]

    @staticmethod
    def _scan(codes: np.ndarray, wide: int, lo: int, part: faiss.Index) -> tuple:
        scores, ids = part.search(codes, min(wide, part.ntotal))
        return scores, ids + lo, part.ntotal

    def search(
        self,
        matrix: np.ndarray,
        queries: np.ndarray,
        k: int,
        codes: np.ndarray | None = None,
        scanned: list[tuple] | None = None,
    ) -> list[np.ndarray | None] | np.ndarray | None:
        """Per query: the ids of the `k` rows of `matrix` (the float rows this was made from)
        with the highest inner product with it, best first; None where not proven (see
        above). `codes`, `scanned`: what `codes` and `scans` gave, if they ran already.
        For one query as a vector, its ids (or None) alone."""
        queries = np.asarray(queries, np.float32)
        if queries.ndim == 1:
            return self.search(matrix, queries[None, :], k, codes, scanned)[0]
        if k <= 0 or k > self.rows:
            return [None] * len(queries)
        codes = self.codes(queries) if codes is None else codes
        if scanned is None:
            scanned = [scan() for scan in self.scans(codes, k)]
        return [
            self._proven(matrix, queries[i], codes[i], k, scanned, i) for i in range(len(codes))
        ]

    def _proven(
        self,
        matrix: np.ndarray,
        query: np.ndarray,
        code: np.ndarray,
        k: int,
        scanned: list[tuple],
        i: int,
    ) -> np.ndarray | None:
        """Query i's `k` best rows among the `WIDE` best int8 rows of the parts, when the
        bound proves them.

        The candidates are scored exactly best int8 score first, `4 k` of them and then
        twice as many each round, until the bound proves the `k` best: three questions in
        four need 200 rows (~0.2 ms less than scoring 400, most of it reading float rows)."""
        scores = np.concatenate([found[0][i] for found in scanned])
        ids = np.concatenate([found[1][i] for found in scanned])
        left_out = [  # at least the int8 score of any row a part did not return
            float(found[0][i, -1]) for found in scanned if found[0].shape[1] < found[2]
        ]
        order = np.argsort(-scores, kind="stable")[: max(self.WIDE, 4 * k)]
        if len(order) < len(ids):  # the parts' best together: only the best `WIDE`
            left_out.append(float(scores[order[-1]]))
        scores, ids = scores[order], ids[order]
        scaled = np.asarray(query, np.float64) / self.scales
        unit = 127.0 / max(float(np.abs(scaled).max()), 1e-300)
        q_err = float(np.linalg.norm(scaled * unit - code))
        bound = q_err * self.norm / unit + float(np.linalg.norm(scaled)) * self.residual
        # A row's exact score is at most this plus its int8 score / unit.
        offset = float(query @ self.mean) + bound + self.MARGIN
        exact = np.zeros(0, np.float32)
        while True:
            done = min(len(ids), max(4 * k, 2 * len(exact)))
            # Row by row (not `@`, whose rounding depends on a row's place in the block): a
            # row scores the same whichever rows come with it, so no split changes a tie.
            fresh = np.einsum("ij,j->i", matrix[ids[len(exact) : done]], query)
            exact = np.concatenate([exact, fresh])
            best = np.lexsort((ids[:done], -exact))[:k]  # of equal scores, the first rows
            rest = left_out + ([float(scores[done])] if done < len(ids) else [])
            if not rest or offset + max(rest) / unit < float(exact[best[-1]]):
                return ids[best]
            if done == len(ids):
                return None


def run_shared(tasks: Sequence[Callable[[], T]], helper: Executor | None = None) -> list[T]:
    """The tasks' results, in order: run by this thread and, when `helper` is given, by the
    helper's thread too. Each takes the next task not yet started, so a helper that gets no
    core (or starts late) costs no waiting: this thread runs what it has not begun.

    FAISS releases the GIL while it scans, so two scans run on two cores at once."""
    results: list = [None] * len(tasks)
    claim = itertools.count()
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(claim)
            if i >= len(tasks):
                return
            results[i] = tasks[i]()

    other = helper.submit(work) if helper is not None and len(tasks) > 1 else None
    work()
    if other is not None and not other.cancel():
        other.result()  # its last task, or nothing left to do
    return results


def _keyword_scores(keywords: KeywordIndex, questions: Sequence[str]) -> list[np.ndarray]:
    return [keywords.scores(q) for q in questions]


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
