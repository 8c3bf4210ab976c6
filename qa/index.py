"""Chunks + vectors -> a searchable index on disk, written so that a crash never breaks it.

Layout of the index folder:

    CURRENT            name of the live version folder (replaced atomically)
    v-<stamp>/         one complete index: manifest.json, articles.jsonl, sentences.jsonl,
                       chunks.jsonl, sentences.faiss, chunks.faiss, bm25/, and the same
                       tables again in forms that load without parsing (`qa.store`):
                       texts.bin, texts.npy, articles.columns.json, sentences.<column>.npy,
                       chunks.<column>.npy
    feedback.jsonl     written by the chat, kept across rebuilds

A build writes a new version folder aside and only then points CURRENT at it, so readers see
either the old or the new index, never a mix; `kill -9` at any moment leaves the old one live.

The encoder runs once per *sentence*. A chunk's vector is the length-weighted mean of its
sentences' vectors: the model mean-pools over tokens, so this stays close to encoding the chunk
(cosine 0.97 on XQuAD-de), and it leaves every sentence's own vector ready for the reader, so
answering a question encodes nothing but the question.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from qa import ann
from qa.chunking import Chunker, sentence_spans
from qa.config import Settings
from qa.embedding import Embedder, EmbeddingCache, cache_name, embed_with_cache, encoder_of
from qa.errors import IndexUnavailable
from qa.lexical import Analyzer, KeywordIndex
from qa.store import (
    CHUNK_COLUMNS,
    ArticleStore,
    ChunkTable,
    ColumnRows,
    check_article_rows,
    iter_json_lines,
    read_columns,
    write_columns,
    write_texts,
)
from qa.types import Article, Chunk, Sentence

FORMAT_VERSION = 2
CURRENT = "CURRENT"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    analyzer: str
    corpus_fingerprint: str
    articles: int
    sentences: int
    chunks: int
    created: str
    # `exact` (IndexFlatIP) or `approx` (IVF-PQ + float vectors on disk); see qa/ann.py.
    index_type: str = "exact"
    # The encoder that made the vectors (`qa.embedding.ENCODERS`); questions must use the same.
    # Manifests written before the int8 encoder existed lack it: they are fp32.
    encoder: str = "fp32"


@dataclass(frozen=True)
class BuildReport:
    """What a build did; the fields of the `qa index --json` summary line.

    `embedded` counts the sentences the encoder ran on (the rest came from the cache).
    """

    added: int
    updated: int
    removed: int
    unchanged: int
    chunks: int
    sentences: int
    embedded: int
    seconds: float
    index: str


def corpus_fingerprint(articles: Sequence[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.source):
        digest.update(f"{article.source}\x00{article.doc_id}\x00".encode())
    return digest.hexdigest()[:16]


def length_weighted_mean(vectors: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """The unit vector of consecutive sentences, from their own vectors.

    The model mean-pools over tokens, so weighting each sentence's vector by its length stays
    close to encoding the sentences together, at no encoder cost.
    """
    vector = np.asarray(lengths, np.float32) @ vectors
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def mean_vectors(
    sentence_vectors: np.ndarray, sentences: Sequence[Sentence], groups: Sequence[range]
) -> np.ndarray:
    """One unit vector per group of sentences: their length-weighted mean."""
    out = np.zeros((len(groups), sentence_vectors.shape[1]), np.float32)
    for row, group in enumerate(groups):
        lengths = [sentences[i].end - sentences[i].start for i in group]
        out[row] = length_weighted_mean(sentence_vectors[group.start : group.stop], lengths)
    return out


SENTENCE_COLUMNS = ("article", "start", "end")


class SentenceTable(ColumnRows, Sequence[Sentence]):
    """The sentences of a loaded index as numpy columns (~12 bytes each instead of ~200 for a
    list of objects: it matters at millions of sentences); a `Sentence` is made on access."""

    def __init__(self, rows: Iterable[Sequence], positions: dict[str, int] | None = None):
        """`rows`: `[doc_id, start, end]` each. `positions`: doc_id -> article row (as in
        `ArticleStore.position`, so `article` numbers the store's rows); by default the
        articles are numbered in order of appearance."""
        names: dict[str, int] = dict(positions or {})
        self._doc_ids: list[str] = list(names)
        article, start, end = array("i"), array("q"), array("q")
        for doc_id, a, b in rows:  # rows of one article are consecutive
            if doc_id not in names:
                names[doc_id] = len(self._doc_ids)
                self._doc_ids.append(doc_id)
            article.append(names[doc_id])
            start.append(a)
            end.append(b)
        self.article = np.array(article, np.int32)
        self.start, self.end = np.array(start, np.int64), np.array(end, np.int64)

    @classmethod
    def load(cls, folder: Path, articles: ArticleStore) -> SentenceTable:
        """The sentences of the version in `folder`, numbered by the rows of `articles`: from
        the memory-mapped column files when written, else from `sentences.jsonl`."""
        columns = read_columns(folder, "sentences", SENTENCE_COLUMNS)
        if columns is None:
            return cls(iter_json_lines(folder / "sentences.jsonl"), articles.position)
        table = cls.__new__(cls)
        table._doc_ids = articles.doc_ids
        table.article, table.start, table.end = (columns[c] for c in SENTENCE_COLUMNS)
        check_article_rows(table.article, len(articles), f"sentences in {folder}")
        return table

    def _row(self, i: int) -> Sentence:
        doc_id = self._doc_ids[self.article[i]]
        return Sentence(int(i), doc_id, int(self.start[i]), int(self.end[i]))

    def doc_id_column(self) -> list[str]:
        """Every sentence's doc_id, in order, without making `Sentence` objects."""
        return [self._doc_ids[a] for a in self.article.tolist()]

    def article_runs(self) -> list[tuple[str, int, int]]:
        """`(doc_id, first, stop)` of each run of consecutive sentences of one article, in
        order: a few numpy operations instead of a Python step per sentence (~40 ms of a new
        `qa ask` on the 8k-chunk eval index, as `qa.answer` read them from `doc_id_column`)."""
        if not len(self.article):
            return []
        starts = np.flatnonzero(np.diff(self.article)) + 1
        firsts = [0, *starts.tolist()]
        stops = [*starts.tolist(), len(self.article)]
        rows = self.article[firsts].tolist()
        return [(self._doc_ids[r], a, b) for r, a, b in zip(rows, firsts, stops)]


class SearchIndex:
    """A loaded index: articles, sentences, chunks, their vectors (FAISS) and BM25."""

    def __init__(
        self,
        manifest: Manifest,
        articles: Mapping[str, Article],
        sentences: Sequence[Sentence],
        chunks: Sequence[Chunk],
        chunk_sentences: list[range],
        sentence_vectors: faiss.Index,
        chunk_vectors: faiss.Index,
        keywords: KeywordIndex,
        version: str,
        sentence_matrix: np.ndarray | None = None,
        chunk_matrix: np.ndarray | None = None,
    ):
        self.manifest = manifest
        self.articles = articles
        self.sentences = sentences
        self.chunks = chunks
        self.chunk_sentences = chunk_sentences
        self.sentence_vectors = sentence_vectors
        self.chunk_vectors = chunk_vectors
        self.keywords = keywords
        self.version = version
        # Plain matrices for exact scoring of candidates (FAISS finds them); an approximate
        # index brings its own, memory-mapped from disk.
        if sentence_matrix is None:
            sentence_matrix = _matrix(sentence_vectors, manifest.dimension)
        if chunk_matrix is None:
            chunk_matrix = _matrix(chunk_vectors, manifest.dimension)
        self.sentence_matrix = sentence_matrix
        self.chunk_matrix = chunk_matrix
        self.sentence_chunk = np.zeros(len(sentences), np.int64)
        for chunk_id, group in enumerate(chunk_sentences):
            self.sentence_chunk[group.start : group.stop] = chunk_id
        self._dates: dict[str, str | None] | None = None

    def article_dates(self) -> dict[str, str | None]:
        """doc_id -> date of every article, made once and without reading any text."""
        if self._dates is None:
            store = self.articles
            if isinstance(store, ArticleStore):
                self._dates = store.dates_by_id()
            else:
                self._dates = {doc_id: a.date for doc_id, a in store.items()}
        return self._dates

    @classmethod
    def load(cls, index_dir: Path) -> SearchIndex:
        version_dir = live_version(index_dir)
        try:
            manifest = Manifest(**json.loads((version_dir / "manifest.json").read_text("utf-8")))
        except (OSError, ValueError, TypeError) as err:
            raise IndexUnavailable(
                f"the index in {index_dir} has no readable manifest ({err}); this version reads "
                f"format {FORMAT_VERSION}: rebuild it with `qa index --index {index_dir}`"
            ) from err
        if manifest.format_version != FORMAT_VERSION:
            raise IndexUnavailable(
                f"the index in {index_dir} has format {manifest.format_version}, this version "
                f"reads {FORMAT_VERSION}: rebuild it with `qa index --index {index_dir}`"
            )
        try:
            # Texts stay on disk (`qa.store`); chunks and sentences are numpy columns.
            articles = ArticleStore.load(version_dir)
            sentences = SentenceTable.load(version_dir, articles)
            chunks = ChunkTable.load(version_dir, articles)
            groups = chunks.groups()
            sentence_vectors, sentence_matrix = ann.read(
                version_dir, "sentences", manifest.index_type
            )
            chunk_vectors, chunk_matrix = ann.read(version_dir, "chunks", manifest.index_type)
            keywords = KeywordIndex.load(version_dir / "bm25", Analyzer(manifest.analyzer))
        except (OSError, ValueError, TypeError, LookupError, RuntimeError) as err:
            raise IndexUnavailable(
                f"the index in {index_dir} is unreadable ({type(err).__name__}: {err}); "
                f"rebuild it with `qa index --index {index_dir}`"
            ) from err
        if (sentence_vectors.ntotal, chunk_vectors.ntotal) != (len(sentences), len(chunks)):
            raise IndexUnavailable(
                f"the index in {index_dir} is inconsistent ({sentence_vectors.ntotal} vectors "
                f"for {len(sentences)} sentences); rebuild it with `qa index --index {index_dir}`"
            )
        return cls(
            manifest,
            articles,
            sentences,
            chunks,
            groups,
            sentence_vectors,
            chunk_vectors,
            keywords,
            version_dir.name,
            sentence_matrix,
            chunk_matrix,
        )


class _Owner:
    """Keeps a FAISS index alive for as long as a numpy view of its storage exists."""

    def __init__(self, index: faiss.Index, view: np.ndarray):
        self.index = index
        self.__array_interface__ = view.__array_interface__


def _matrix(vectors: faiss.Index, dimension: int) -> np.ndarray:
    """The float vectors of an exact (flat) index, as a read-only view of FAISS's own storage.

    A copy (`reconstruct_n`) would hold every vector twice in memory (72 MB more for the 47k
    sentences of the 8k-chunk eval index); other index types keep their vectors elsewhere.
    """
    if vectors.ntotal == 0:
        return np.zeros((0, dimension), np.float32)
    if not isinstance(vectors, faiss.IndexFlat):
        return vectors.reconstruct_n(0, vectors.ntotal)
    flat = faiss.rev_swig_ptr(vectors.get_xb(), vectors.ntotal * vectors.d)
    view = np.asarray(_Owner(vectors, flat.reshape(vectors.ntotal, vectors.d)))
    view.flags.writeable = False
    return view


def _read_json_lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def live_version(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    if not pointer.exists():
        raise IndexUnavailable(
            f"no index in {index_dir}: build one with `qa index --corpus DIR --index {index_dir}`"
        )
    version_dir = index_dir / pointer.read_text("utf-8").strip()
    if not version_dir.is_dir():
        raise IndexUnavailable(
            f"the index in {index_dir} points at a missing folder; rebuild it with "
            f"`qa index --index {index_dir}`"
        )
    return version_dir


def live_version_name(index_dir: Path) -> str | None:
    """The live version's name, or None; cheap enough to call before every question."""
    try:
        return (index_dir / CURRENT).read_text("utf-8").strip()
    except OSError:
        return None


def _previous_sources(index_dir: Path) -> dict[str, str]:
    """source -> doc_id of the live index, or empty when there is none (or it is unreadable)."""
    try:
        path = live_version(index_dir) / "articles.jsonl"
        records = (json.loads(line) for line in path.read_text("utf-8").splitlines())
        return {r["source"]: r["doc_id"] for r in records}
    except (IndexUnavailable, OSError, ValueError, KeyError):
        return {}


def _write_json_lines(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())


def build_index(
    articles: Sequence[Article],
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    on_progress: Callable[[int, int], None] | None = None,
    index_type: str = "auto",
) -> BuildReport:
    """Chunk, embed (reusing cached vectors) and write a new index version, then make it live.

    `on_progress(done, total)` is called as chunks are embedded. `index_type`: exact, approx
    or auto (by the number of sentences, see `qa.ann`).
    """
    started = time.perf_counter()
    if not articles:
        raise IndexUnavailable("nothing to index: the corpus holds no usable articles")
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = _previous_sources(index_dir)
        sentences, chunks, groups = segment(articles, settings)
        by_id = {a.doc_id: a for a in articles}
        texts = [by_id[s.doc_id].text[s.start : s.end] for s in sentences]
        vectors, embedded = embed_texts(texts, settings, embedder, on_progress)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model=embedder.model_name,
            encoder=encoder_of(embedder),
            dimension=int(vectors.shape[1]),
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            analyzer=settings.analyzer_language,
            corpus_fingerprint=corpus_fingerprint(articles),
            articles=len(articles),
            sentences=len(sentences),
            chunks=len(chunks),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            index_type=ann.resolve_type(index_type, len(sentences)),
        )
        version = _write_version(
            index_dir, manifest, articles, sentences, chunks, groups, vectors, settings
        )
        _make_live(index_dir, version)

    sources = {a.source: a.doc_id for a in articles}
    return BuildReport(
        added=sum(1 for s in sources if s not in previous),
        updated=sum(1 for s, d in sources.items() if s in previous and previous[s] != d),
        removed=sum(1 for s in previous if s not in sources),
        unchanged=sum(1 for s, d in sources.items() if previous.get(s) == d),
        chunks=len(chunks),
        sentences=len(sentences),
        embedded=embedded,
        seconds=round(time.perf_counter() - started, 3),
        index=str(index_dir),
    )


def embed_texts(
    texts: Sequence[str],
    settings: Settings,
    embedder: Embedder,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Passage vectors of `texts` through the persistent cache; returns them and how many
    the encoder ran on. `on_progress(done, total)` follows along."""
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, len(texts))

    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", cache_name(embedder))
    try:
        return embed_with_cache(embedder, texts, cache, progress)
    finally:
        cache.close()


def segment(
    articles: Sequence[Article], settings: Settings
) -> tuple[list[Sentence], list[Chunk], list[range]]:
    """Every article's sentences and chunks, numbered across the corpus.

    Returns the sentences, the chunks, and for each chunk the range of sentence ids it holds.
    """
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    groups: list[range] = []
    for article in articles:
        first_sentence = len(sentences)
        for start, end in sentence_spans(article.text):
            sentences.append(Sentence(len(sentences), article.doc_id, start, end))
        own = sentences[first_sentence:]
        for chunk in chunker.chunk(article, first_id=len(chunks)):
            inside = [s.sentence_id for s in own if s.start < chunk.end and chunk.start < s.end]
            chunks.append(chunk)
            groups.append(range(inside[0], inside[-1] + 1))
    return sentences, chunks, groups


def _write_version(
    index_dir: Path,
    manifest: Manifest,
    articles: Sequence[Article],
    sentences: Sequence[Sentence],
    chunks: Sequence[Chunk],
    groups: Sequence[range],
    sentence_vectors: np.ndarray,
    settings: Settings,
) -> str:
    staging = index_dir / f".tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    _write_json_lines(staging / "articles.jsonl", (a.to_dict() for a in articles))
    write_texts(staging, articles)
    _write_json_lines(staging / "sentences.jsonl", ([s.doc_id, s.start, s.end] for s in sentences))
    _write_json_lines(
        staging / "chunks.jsonl",
        ([c.doc_id, c.start, c.end, g.start, g.stop] for c, g in zip(chunks, groups)),
    )
    _write_table_columns(staging, articles, sentences, chunks, groups)
    for name, matrix in (
        ("sentences", sentence_vectors),
        ("chunks", mean_vectors(sentence_vectors, sentences, groups)),
    ):
        ann.write(staging, name, matrix, manifest.index_type)
    analyzer = Analyzer(settings.analyzer_language)
    KeywordIndex.build([c.text for c in chunks], analyzer).save(staging / "bm25")
    (staging / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2), "utf-8")
    for path in staging.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    version = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    os.rename(staging, index_dir / version)
    return version


def _write_table_columns(
    folder: Path,
    articles: Sequence[Article],
    sentences: Sequence[Sentence],
    chunks: Sequence[Chunk],
    groups: Sequence[range],
) -> None:
    """The sentence and chunk tables as `.npy` columns (`SentenceTable.load`,
    `ChunkTable.load`): what the JSON lines hold, with doc_ids as article rows."""
    row = {a.doc_id: i for i, a in enumerate(articles)}
    write_columns(
        folder,
        "sentences",
        {
            "article": np.array([row[s.doc_id] for s in sentences], np.int32),
            "start": np.array([s.start for s in sentences], np.int64),
            "end": np.array([s.end for s in sentences], np.int64),
        },
    )
    columns = {
        "article": np.array([row[c.doc_id] for c in chunks], np.int32),
        "start": np.array([c.start for c in chunks], np.int64),
        "end": np.array([c.end for c in chunks], np.int64),
        "first": np.array([g.start for g in groups], np.int64),
        "stop": np.array([g.stop for g in groups], np.int64),
    }
    write_columns(folder, "chunks", {c: columns[c] for c in CHUNK_COLUMNS})


def _make_live(index_dir: Path, version: str) -> None:
    pointer_tmp = index_dir / f".{CURRENT}.tmp"
    with pointer_tmp.open("w", encoding="utf-8") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    dir_fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    # Old versions and leftovers of crashed builds go only after the switch. A running chat
    # holds everything it needs in memory, so removing the folder under it is safe.
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry.name != version and entry.name.startswith(("v-", ".tmp-")):
            shutil.rmtree(entry, ignore_errors=True)
