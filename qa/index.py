"""Chunks + vectors -> a searchable index on disk, written so that a crash never breaks it.

Layout of the index folder:

    CURRENT            name of the live version folder (replaced atomically)
    v-<stamp>/         one complete index: manifest.json, articles.jsonl, chunks.jsonl,
                       vectors.faiss, bm25/
    feedback.jsonl     written by the chat, kept across rebuilds

A build writes a new version folder aside and only then points CURRENT at it, so readers see
either the old or the new index, never a mix; `kill -9` at any moment leaves the old one live.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from qa.chunking import Chunker, sentence_spans
from qa.config import Settings
from qa.embedding import Embedder, EmbeddingCache, embed_with_cache
from qa.lexical import Analyzer, KeywordIndex
from qa.types import Article, Chunk

FORMAT_VERSION = 1
CURRENT = "CURRENT"


class IndexError(RuntimeError):  # noqa: A001 - the natural name inside this module
    """The index is missing, broken, or does not fit the request; the message says what to do."""


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    title_in_passage: bool
    analyzer: str
    corpus_fingerprint: str
    articles: int
    chunks: int
    created: str


@dataclass(frozen=True)
class BuildReport:
    """What a build did; the fields of the `qa index --json` summary line."""

    added: int
    updated: int
    removed: int
    unchanged: int
    chunks: int
    embedded: int
    seconds: float
    index: str


def passage_text(article: Article, chunk: Chunk, with_title: bool) -> str:
    """What the encoder sees for a chunk: its text, optionally after the article's title."""
    return f"{article.title}\n{chunk.text}" if with_title and article.title else chunk.text


def corpus_fingerprint(articles: Sequence[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.source):
        digest.update(f"{article.source}\x00{article.doc_id}\x00".encode())
    return digest.hexdigest()[:16]


class SearchIndex:
    """A loaded index: articles, chunks, dense vectors (FAISS) and keyword index (BM25)."""

    def __init__(
        self,
        manifest: Manifest,
        articles: dict[str, Article],
        chunks: list[Chunk],
        vectors: faiss.Index,
        keywords: KeywordIndex,
        version: str,
    ):
        self.manifest = manifest
        self.articles = articles
        self.chunks = chunks
        self.vectors = vectors
        self.matrix = (
            vectors.reconstruct_n(0, vectors.ntotal)
            if vectors.ntotal
            else np.zeros((0, manifest.dimension), np.float32)
        )
        self.keywords = keywords
        self.version = version
        self._sentences: dict[str, list[tuple[int, int]]] = {}

    def sentences(self, doc_id: str) -> list[tuple[int, int]]:
        """Sentence offsets of an article, computed once per article on first use."""
        if doc_id not in self._sentences:
            self._sentences[doc_id] = sentence_spans(self.articles[doc_id].text)
        return self._sentences[doc_id]

    @classmethod
    def load(cls, index_dir: Path) -> SearchIndex:
        version_dir = live_version(index_dir)
        try:
            manifest = Manifest(**json.loads((version_dir / "manifest.json").read_text("utf-8")))
            if manifest.format_version != FORMAT_VERSION:
                raise IndexError(
                    f"the index in {index_dir} has format {manifest.format_version}, this version "
                    f"reads {FORMAT_VERSION}: rebuild it with `qa index --index {index_dir}`"
                )
            articles = {}
            for line in (version_dir / "articles.jsonl").read_text("utf-8").splitlines():
                article = Article(**json.loads(line))
                articles[article.doc_id] = article
            chunks = []
            for i, line in enumerate(
                (version_dir / "chunks.jsonl").read_text("utf-8").splitlines()
            ):
                doc_id, start, end = json.loads(line)
                chunks.append(Chunk(i, doc_id, start, end, articles[doc_id].text[start:end]))
            vectors = faiss.read_index(str(version_dir / "vectors.faiss"))
            keywords = KeywordIndex.load(version_dir / "bm25", Analyzer(manifest.analyzer))
        except IndexError:
            raise
        except Exception as err:
            raise IndexError(
                f"the index in {index_dir} is unreadable ({type(err).__name__}: {err}); "
                f"rebuild it with `qa index --index {index_dir}`"
            ) from err
        if vectors.ntotal != len(chunks) or len(chunks) != manifest.chunks:
            raise IndexError(
                f"the index in {index_dir} is inconsistent ({vectors.ntotal} vectors, "
                f"{len(chunks)} chunks); rebuild it with `qa index --index {index_dir}`"
            )
        return cls(manifest, articles, chunks, vectors, keywords, version_dir.name)


def live_version(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    if not pointer.exists():
        raise IndexError(
            f"no index in {index_dir}: build one with `qa index --corpus DIR --index {index_dir}`"
        )
    version_dir = index_dir / pointer.read_text("utf-8").strip()
    if not version_dir.is_dir():
        raise IndexError(
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
    except (IndexError, OSError, ValueError, KeyError):
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
) -> BuildReport:
    """Chunk, embed (reusing cached vectors) and write a new index version, then make it live.

    `on_progress(done, total)` is called as chunks are embedded.
    """
    started = time.perf_counter()
    if not articles:
        raise IndexError("nothing to index: the corpus holds no usable articles")
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = _previous_sources(index_dir)
        chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
        chunks: list[Chunk] = []
        for article in articles:
            chunks.extend(chunker.chunk(article, first_id=len(chunks)))
        by_id = {a.doc_id: a for a in articles}
        texts = [passage_text(by_id[c.doc_id], c, settings.title_in_passage) for c in chunks]

        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if on_progress:
                on_progress(done, len(texts))

        cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder.model_name)
        try:
            vectors, embedded = embed_with_cache(embedder, texts, cache, progress)
        finally:
            cache.close()

        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model=embedder.model_name,
            dimension=int(vectors.shape[1]),
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            title_in_passage=settings.title_in_passage,
            analyzer=settings.analyzer_language,
            corpus_fingerprint=corpus_fingerprint(articles),
            articles=len(articles),
            chunks=len(chunks),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        version = _write_version(index_dir, manifest, articles, chunks, vectors, settings)
        _make_live(index_dir, version)

    sources = {a.source: a.doc_id for a in articles}
    return BuildReport(
        added=sum(1 for s in sources if s not in previous),
        updated=sum(1 for s, d in sources.items() if s in previous and previous[s] != d),
        removed=sum(1 for s in previous if s not in sources),
        unchanged=sum(1 for s, d in sources.items() if previous.get(s) == d),
        chunks=len(chunks),
        embedded=embedded,
        seconds=round(time.perf_counter() - started, 3),
        index=str(index_dir),
    )


def _write_version(
    index_dir: Path,
    manifest: Manifest,
    articles: Sequence[Article],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    settings: Settings,
) -> str:
    staging = index_dir / f".tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    _write_json_lines(staging / "articles.jsonl", (a.to_dict() for a in articles))
    _write_json_lines(staging / "chunks.jsonl", ([c.doc_id, c.start, c.end] for c in chunks))
    flat = faiss.IndexFlatIP(manifest.dimension)
    flat.add(vectors)
    faiss.write_index(flat, str(staging / "vectors.faiss"))
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
