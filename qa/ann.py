"""Vectors -> a FAISS index of a chosen type, and search over it with row filters.

Two types, recorded in the manifest as `index_type`:

- `exact`: `IndexFlatIP`, every query scores every vector. Best quality, and fast enough below
  `AUTO_EXACT_BELOW` sentences (docs/scaling.md has the measurements behind the threshold).
- `approx`: an inverted file (IVF, about sqrt(n) lists) of 48-byte product-quantised codes
  (PQ 96x4, scanned with SIMD: FAISS "fast-scan"), trained on a sample. A query reads half
  of the lists, takes a few thousand candidates and re-scores them exactly against the float
  vectors, which stay on disk (`<name>.npy`, memory-mapped, shared between replicas through the
  page cache). The codes (56 bytes a vector with its id) are held in memory. Indexes written
  before fast-scan (PQ 48x8, memory-mapped codes) load and search unchanged.

`auto` (the default of `qa index`) means exact below `AUTO_EXACT_BELOW` sentences, approx above.

Filters arrive as a boolean mask over the rows, built with a few numpy operations (see
`RowFilter`), never by a Python loop over every chunk: FAISS skips masked-out rows through an
`IDSelectorBitmap`; a narrow filter (few rows) is searched exactly over just its rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexUnavailable, InvalidInput
from qa.npy import load_npy
from qa.store import article_columns

INDEX_TYPES = ("exact", "approx", "auto")
# Exact search over this many 384-dim vectors costs ~28 ms CPU a query (p95, one thread) and
# 0.38 GB of floats in the heap; above it, `auto` picks the approximate index (docs/scaling.md).
AUTO_EXACT_BELOW = 250_000
PQ_SUBQUANTIZERS = 96  # 4 bits each: 48 bytes per vector (PQ 96x4, fast-scan)
PQ_MIN_VECTORS = 256 * 39  # below this, 8-bit scalar codes (too few vectors to train PQ well)
# Candidates fetched per query (at least; 4 per requested result), then re-scored exactly.
# 4-bit codes rank coarsely; re-scoring a few thousand floats costs ~4 ms and brings recall@10
# at 1M sentences from 0.88 (1,000) to 0.95 (docs/scaling.md has the table).
RERANK_MIN, RERANK = 4000, 4
TRAIN_PER_LIST = 40  # training sample: this many vectors per inverted list
MAX_LISTS = 1024  # reached at ~1M vectors
# Share of the lists read per query (applied at search time, so it holds for indexes written
# with another setting too). Questions and sentences embed apart (e5 "query:" vs "passage:"),
# so a question's nearest sentences spread over many lists: a few percent, the usual, loses
# recall badly; on real vectors a quarter gives 0.93, half 0.98 (docs/scaling.md).
NPROBE_SHARE = 0.5
# ... but at most this many codes scanned per query: search cost grows with the codes read, and
# at 10M vectors half the lists cost ~80 ms CPU against ~50 ms for a quarter (docs/scaling.md).
MAX_SCAN = 2_500_000
# How an exact index is read: its vectors memory-mapped where this FAISS can (see `read`).
MMAP_FLAT = getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
# A filter leaving at most this many rows is searched exactly over those rows only.
EXACT_FILTER_ROWS = 20_000


def resolve_type(index_type: str, n_sentences: int) -> str:
    """`exact` or `approx` for a build of `n_sentences` sentences."""
    if index_type not in INDEX_TYPES:
        raise InvalidInput(
            f"unknown index type {index_type!r}: use one of {', '.join(INDEX_TYPES)}"
        )
    if index_type == "auto":
        return "exact" if n_sentences < AUTO_EXACT_BELOW else "approx"
    return index_type


def n_lists(n: int) -> int:
    """Inverted lists for `n` vectors: a power of two near sqrt(n), at least 1, at most
    `MAX_LISTS`. A query reads a share of the lists, so more lists do not make it cheaper;
    they only make the build slower (every vector is compared with every list's centre)."""
    if n < 64:
        return 1
    return max(1, min(2 ** round(math.log2(math.sqrt(n))), n // TRAIN_PER_LIST, MAX_LISTS))


def build(matrix: np.ndarray, index_type: str, seed: int = 0) -> faiss.Index:
    """A FAISS index of `index_type` (`exact` or `approx`) over unit row vectors."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    dim = matrix.shape[1]
    if index_type == "exact":
        index = faiss.IndexFlatIP(dim)
        index.add(matrix)
        return index
    if index_type != "approx":
        raise InvalidInput(f"cannot build an index of type {index_type!r}")
    lists = n_lists(len(matrix))
    quantizer = faiss.IndexFlatIP(dim)
    if len(matrix) >= PQ_MIN_VECTORS and dim % PQ_SUBQUANTIZERS == 0:
        ip = faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexIVFPQFastScan(quantizer, dim, lists, PQ_SUBQUANTIZERS, 4, ip)
        index.pq.cp.niter = 10
    else:  # too few vectors to train 256 codes per sub-space: 8-bit scalar codes instead
        qt = faiss.ScalarQuantizer.QT_8bit
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists, qt, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    sample_size = min(len(matrix), max(lists * TRAIN_PER_LIST, PQ_MIN_VECTORS))
    rows = np.random.default_rng(seed).choice(len(matrix), sample_size, replace=False)
    # Many OpenMP threads spin badly on a shared machine; training is cheap enough on one.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.train(matrix[np.sort(rows)])
    finally:
        faiss.omp_set_num_threads(threads)
    for start in range(0, len(matrix), 65536):
        index.add(matrix[start : start + 65536])
    index.nprobe = max(1, math.ceil(lists * NPROBE_SHARE))
    return index


def write(folder: Path, name: str, matrix: np.ndarray, index_type: str) -> None:
    """`<name>.faiss` (and, for `approx`, the float vectors as `<name>.npy`) in `folder`."""
    index = build(matrix, index_type)
    faiss.write_index(index, str(folder / f"{name}.faiss"))
    if index_type == "approx":
        np.save(folder / f"{name}.npy", np.ascontiguousarray(matrix, dtype=np.float32))


def read(folder: Path, name: str, index_type: str) -> tuple[faiss.Index, np.ndarray | None]:
    """The FAISS index and, for `approx`, the memory-mapped float vectors (else None).

    An exact index's vectors are memory-mapped (`IO_FLAG_MMAP_IFC`) instead of copied into the
    heap: reading the 72 MB of the 8k-chunk eval index's sentences took ~0.08 s of a new
    `qa ask`, and replicas share the pages. Inverted lists FAISS can map (the PQ 48x8 codes of
    older approximate indexes) are memory-mapped too; fast-scan codes are read into memory.
    A rebuild writes a new folder and deletes the old one, whose mapped files stay readable
    for as long as they are mapped (they are never written in place).
    """
    path = folder / f"{name}.faiss"
    if index_type == "exact":
        return faiss.read_index(str(path), MMAP_FLAT), None
    if index_type != "approx":
        raise IndexUnavailable(f"unknown index type {index_type!r} in {folder}")
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    matrix = load_npy(folder / f"{name}.npy")
    return index, matrix


def bitmap_selector(mask: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray]:
    """An `IDSelectorBitmap` for a boolean row mask, and the bytes it points into (keep them)."""
    bits = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)), bits


def search(
    index: faiss.Index,
    matrix: np.ndarray | None,
    queries: np.ndarray,
    k: int,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Row ids of the `k` best vectors per query (padded with -1), best first.

    `matrix` holds the float vectors (needed for `approx`, whose candidates are re-scored on
    them); `mask` keeps only the rows where it is True.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n = index.ntotal
    k = min(k, n)
    if k <= 0 or len(queries) == 0:
        return np.full((len(queries), max(k, 0)), -1, np.int64)
    allowed = None
    if mask is not None:
        allowed = int(np.count_nonzero(mask))
        if allowed == 0:
            return np.full((len(queries), k), -1, np.int64)
    if matrix is None:  # exact
        params = None
        if mask is not None:
            selector, _bits = bitmap_selector(mask)
            params = faiss.SearchParameters(sel=selector)
        return index.search(queries, k, params=params)[1]
    if allowed is not None and allowed <= EXACT_FILTER_ROWS:
        rows = np.flatnonzero(mask)
        return _top_rows(rows, np.asarray(matrix[rows]) @ queries.T, k)
    nlist = faiss.extract_index_ivf(index).nlist
    nprobe = max(1, math.ceil(nlist * min(NPROBE_SHARE, MAX_SCAN / n)))
    params = faiss.SearchParametersIVF(nprobe=nprobe)
    if mask is not None:
        # A filter keeping a share f of the rows finds ~f of each list's vectors: read 1/f lists.
        params.nprobe = min(nlist, math.ceil(nprobe * n / allowed))
        selector, _bits = bitmap_selector(mask)
        params.sel = selector
    candidates = index.search(queries, min(n, max(k * RERANK, RERANK_MIN)), params=params)[1]
    return rerank(matrix, queries, candidates, k)


def rerank(matrix: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The `k` best of each query's candidate rows, scored exactly on `matrix`."""
    out = np.full((len(queries), k), -1, np.int64)
    for row, (query, ids) in enumerate(zip(queries, candidates)):
        ids = np.unique(ids[ids >= 0])
        if len(ids):
            top = _top_rows(ids, (np.asarray(matrix[ids]) @ query)[:, None], k)[0]
            out[row, : len(top)] = top[:k]
    return out


def _top_rows(rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """For scores of shape (len(rows), queries): each query's `k` best rows, best first."""
    out = np.full((scores.shape[1], k), -1, np.int64)
    take = min(k, len(rows))
    for q in range(scores.shape[1]):
        column = scores[:, q]
        best = np.argpartition(-column, take - 1)[:take] if take < len(rows) else np.arange(take)
        best = best[np.argsort(-column[best], kind="stable")]
        out[q, :take] = rows[best]
    return out


class RowFilter:
    """Per-row article numbers and article dates/sources, so a filter is a few numpy operations.

    `chunk_article[c]` / `sentence_article[s]`: the position of the row's article in
    `doc_ids`. A mask over articles then indexes into these arrays (no loop over rows).
    """

    def __init__(
        self,
        doc_ids: list[str],
        dates: list[str | None],
        sources: list[str],
        publishers: list[str | None],
        chunk_doc_ids: list[str],
        sentence_doc_ids: list[str],
    ):
        position = {d: i for i, d in enumerate(doc_ids)}
        self.doc_ids = doc_ids
        self.dates = np.array([d or "" for d in dates], dtype="U10")
        self.has_date = np.array([bool(d) for d in dates], dtype=bool)
        self.sources = np.array(sources, dtype=object)
        self.publishers = np.array([p or "" for p in publishers], dtype=object)
        self.chunk_article = _positions(chunk_doc_ids, position)
        self.sentence_article = _positions(sentence_doc_ids, position)

    @classmethod
    def of(cls, index) -> RowFilter:
        """From a loaded `SearchIndex` (its articles, chunks and sentences), reading the
        columns of its `ArticleStore` / `ChunkTable` / `SentenceTable` (no texts)."""
        return cls(
            *article_columns(index.articles, "doc_id", "date", "source", "publisher"),
            _doc_id_column(index.chunks),
            _doc_id_column(index.sentences),
        )

    def article_mask(self, date_from: str | None, date_to: str | None, sources=()) -> np.ndarray:
        """Articles allowed by an inclusive range of ISO date prefixes and source prefixes."""
        keep = np.ones(len(self.doc_ids), dtype=bool)
        if date_from or date_to:
            keep &= self.has_date
        if date_from:
            # For ISO strings, "the date's first len(d) characters >= d" is just "date >= d".
            keep &= self.dates >= date_from
        if date_to:
            keep &= self.dates.astype(f"U{len(date_to)}") <= date_to
        if sources:
            by_source = np.zeros(len(self.doc_ids), dtype=bool)
            for s in sources:
                by_source |= np.fromiter(
                    (x.startswith(s) for x in self.sources), bool, len(self.sources)
                )
                by_source |= self.publishers == s
            keep &= by_source
        return keep

    def chunk_mask(self, articles: np.ndarray) -> np.ndarray:
        return articles[self.chunk_article]

    def sentence_mask(self, articles: np.ndarray) -> np.ndarray:
        return articles[self.sentence_article]


def _doc_id_column(rows) -> list[str]:
    """Each row's doc_id: from the table's own column when it has one."""
    if hasattr(rows, "doc_id_column"):
        return rows.doc_id_column()
    return [r.doc_id for r in rows]


def _positions(doc_ids: list[str], position: dict[str, int]) -> np.ndarray:
    out = np.empty(len(doc_ids), np.int32)
    last, value = None, -1
    for i, doc_id in enumerate(doc_ids):  # rows of one article are consecutive: one lookup each
        if doc_id != last:
            last, value = doc_id, position[doc_id]
        out[i] = value
    return out
