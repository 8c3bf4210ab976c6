"""Article texts on disk, read lazily, so that a loaded index's memory stays flat as it grows.

A version folder holds every article's text once more as one UTF-8 blob, `texts.bin`, with the
byte offset of each article in `texts.npy` (n + 1 offsets, in the order of `articles.jsonl`).
Both are memory-mapped: an article's text is decoded when it is asked for (a small cache keeps
the latest ones), so the texts cost page cache, not heap. At a million sentences the texts held
as Python strings were most of the heap (~0.5 GB of the 0.75 GB, docs/scaling.md).

`articles.jsonl` keeps the texts too: it stays the readable record of the version (take-downs
and cache pruning read it), and an index written before `texts.bin` existed still loads, with
its texts in memory as before.

The tables a new process needs are written once more in forms that load without parsing, so
`qa ask` starts fast: the articles' metadata (no texts) as one JSON object of columns,
`articles.columns.json`, and the sentence and chunk tables as one `.npy` file per numpy column
(`sentences.article.npy`, `chunks.start.npy`, ...), memory-mapped. On the 8k-chunk eval index
parsing the JSON lines took ~0.3 s of a 1.3-1.5 s `qa ask`. The JSON-lines files stay the record
of the version; an index written before the column files existed loads from them as before, and
gives the same answers.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import islice
from pathlib import Path

import numpy as np

from qa.npy import load_npy
from qa.types import Article, Chunk

TEXTS, OFFSETS = "texts.bin", "texts.npy"
ARTICLE_COLUMNS = "articles.columns.json"
# The article fields held as columns (`ArticleStore`), by their `Article.to_dict` names.
ARTICLE_FIELDS = ("doc_id", "title", "date", "source", "url", "publisher")
CHUNK_COLUMNS = ("article", "start", "end", "first", "stop")
RECENT_TEXTS = 1024  # decoded texts kept: a question reads the sentences of a few dozen articles


def write_texts(folder: Path, articles: Sequence[Article]) -> None:
    """`texts.bin` and `texts.npy` for `articles`, in their order."""
    offsets = np.zeros(len(articles) + 1, np.int64)
    with (folder / TEXTS).open("wb") as out:
        for i, article in enumerate(articles):
            data = article.text.encode("utf-8")
            out.write(data)
            offsets[i + 1] = offsets[i] + len(data)
    np.save(folder / OFFSETS, offsets)
    columns = {f: [getattr(a, f) for a in articles] for f in ARTICLE_FIELDS}
    (folder / ARTICLE_COLUMNS).write_text(json.dumps(columns, ensure_ascii=False), "utf-8")


def write_columns(folder: Path, table: str, columns: Mapping[str, np.ndarray]) -> None:
    """`<table>.<column>.npy` for each column (read back by `read_columns`)."""
    for name, column in columns.items():
        np.save(folder / f"{table}.{name}.npy", np.ascontiguousarray(column))


def read_columns(folder: Path, table: str, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The columns `write_columns` wrote, memory-mapped (read-only); None when any is missing
    (an index written before the column files existed: the caller parses the JSON lines).

    Plain `ndarray` views, not `np.memmap`: numpy then treats them as any other array."""
    paths = [folder / f"{table}.{name}.npy" for name in names]
    if not all(path.exists() for path in paths):
        return None
    columns = {name: np.asarray(load_npy(p)) for name, p in zip(names, paths)}
    if len({len(c) for c in columns.values()}) > 1 or any(c.ndim != 1 for c in columns.values()):
        raise ValueError(f"the {table} columns in {folder} differ in length")
    return columns


def iter_json_lines(path: Path, block: int = 4096) -> Iterator:
    """The records of a JSON-lines file, one at a time (the file is never held whole).

    Lines are parsed `block` at a time as one JSON array: half the time of one `json.loads`
    per line, which is most of loading an index of many short sentence rows."""
    with path.open(encoding="utf-8") as lines:
        while True:
            rows = [line for line in islice(lines, block) if line.strip()]
            if not rows:
                return
            yield from json.loads("[" + ",".join(rows) + "]")


def check_article_rows(article: np.ndarray, n_articles: int, what: str) -> None:
    """A column of article rows must name articles the index holds (a damaged or mixed-up
    version folder is refused at load, not by an IndexError at a question)."""
    if len(article) and not 0 <= int(article.min()) <= int(article.max()) < n_articles:
        raise ValueError(f"{what} name articles the index does not hold")


class ArticleStore(Mapping[str, Article]):
    """The articles of a loaded index by doc_id: metadata as columns, texts from disk.

    `Article` objects are made on access. `position[doc_id]` is an article's row, the number
    `ChunkTable` and `SentenceTable` store; `dates`, `sources`, `publishers` are columns by row.
    """

    def __init__(self, records: Iterable[dict], folder: Path | None = None):
        self.doc_ids: list[str] = []
        self.titles: list[str] = []
        self.dates: list[str | None] = []
        self.sources: list[str] = []
        self.urls: list[str | None] = []
        self.publishers: list[str | None] = []
        in_memory: list[str] = []
        on_disk = folder is not None and (folder / TEXTS).exists()
        for record in records:
            self.doc_ids.append(record["doc_id"])
            self.titles.append(record["title"])
            self.dates.append(record.get("date"))
            self.sources.append(record["source"])
            self.urls.append(record.get("url"))
            self.publishers.append(record.get("publisher"))
            if not on_disk:
                in_memory.append(record["text"])
        self._open(folder if on_disk else None, in_memory)

    def _open(self, folder: Path | None, in_memory: list[str]) -> None:
        """Index the columns; texts from `folder`'s `texts.bin`, else from `in_memory`."""
        self.position = {d: i for i, d in enumerate(self.doc_ids)}
        self._texts = in_memory
        self._blob: mmap.mmap | bytes = b""
        self._offsets = np.zeros(len(self.doc_ids) + 1, np.int64)
        if folder is not None:
            self._offsets = load_npy(folder / OFFSETS)
            if len(self._offsets) != len(self.doc_ids) + 1:
                raise ValueError(
                    f"{OFFSETS} has {len(self._offsets) - 1} articles, not {len(self)}"
                )
            with (folder / TEXTS).open("rb") as f:
                if int(self._offsets[-1]) > 0:
                    self._blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.text = lru_cache(maxsize=RECENT_TEXTS)(self._text)
        self._dates_by_id: dict[str, str | None] | None = None

    @classmethod
    def load(cls, folder: Path) -> ArticleStore:
        """The articles of the version in `folder`: texts memory-mapped when written so, the
        metadata from `articles.columns.json` when written, else from `articles.jsonl`."""
        if not ((folder / ARTICLE_COLUMNS).exists() and (folder / TEXTS).exists()):
            return cls(iter_json_lines(folder / "articles.jsonl"), folder)
        columns = json.loads((folder / ARTICLE_COLUMNS).read_bytes())
        if len({len(columns[f]) for f in ARTICLE_FIELDS}) > 1:
            raise ValueError(f"the columns of {ARTICLE_COLUMNS} differ in length")
        store = cls.__new__(cls)
        store.doc_ids, store.titles = columns["doc_id"], columns["title"]
        store.dates, store.sources = columns["date"], columns["source"]
        store.urls, store.publishers = columns["url"], columns["publisher"]
        store._open(folder, [])
        return store

    def _text(self, row: int) -> str:
        """Article `row`'s text (decoded from the blob, or held in memory for old indexes)."""
        if self._texts:
            return self._texts[row]
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return self._blob[start:end].decode("utf-8")

    def article(self, row: int) -> Article:
        return Article(
            self.doc_ids[row],
            self.titles[row],
            self.dates[row],
            self.sources[row],
            self.text(row),
            self.urls[row],
            self.publishers[row],
        )

    def __getitem__(self, doc_id: str) -> Article:
        return self.article(self.position[doc_id])

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.position

    def __iter__(self) -> Iterator[str]:
        return iter(self.doc_ids)

    def __len__(self) -> int:
        return len(self.doc_ids)

    def texts(self) -> Iterator[str]:
        """Every article's text in row order, without making `Article` objects (the page's
        example questions look for words in all of them)."""
        return (self._text(row) for row in range(len(self)))

    def dates_by_id(self) -> dict[str, str | None]:
        """doc_id -> date, made once (a question's period boost reads it; no texts decoded)."""
        if self._dates_by_id is None:
            self._dates_by_id = dict(zip(self.doc_ids, self.dates))
        return self._dates_by_id


def article_columns(articles: Mapping[str, Article], *fields: str) -> list[list]:
    """The given `ARTICLE_FIELDS` of every article, one list per field: an `ArticleStore`'s own
    columns (no `Article` is made, no text decoded: ~0.1 s on every page load of the 8k-chunk
    eval index), else read from each `Article` of any other mapping."""
    stored = [getattr(articles, f"{field}s", None) for field in fields]
    if all(isinstance(column, list) for column in stored):
        return stored
    rows = list(articles.values())
    return [[getattr(article, field) for article in rows] for field in fields]


class ColumnRows(Sequence):
    """A read-only sequence whose items are made on demand from numpy columns (one row per
    item, `article` the first column), so a million rows cost arrays, not Python objects."""

    article: np.ndarray

    def _row(self, i: int):
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.article)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._row(i)


class ChunkTable(ColumnRows, Sequence[Chunk]):
    """The chunks of a loaded index as numpy columns; a `Chunk` (with its text, read from the
    `ArticleStore`) is made on access instead of holding every chunk's text in memory."""

    def __init__(self, rows: Iterable[Sequence], articles: ArticleStore):
        self.articles = articles
        columns: list[list[int]] = [[], [], [], [], []]
        for doc_id, a, b, f, s in rows:
            for column, value in zip(columns, (articles.position[doc_id], a, b, f, s)):
                column.append(value)
        article, start, end, first, stop = (np.array(c, np.int64) for c in columns)
        self.article = article.astype(np.int32)
        self.start, self.end, self.first, self.stop = start, end, first, stop

    @classmethod
    def load(cls, folder: Path, articles: ArticleStore) -> ChunkTable:
        """The chunks of the version in `folder`: from the column files when written, else
        from `chunks.jsonl`."""
        columns = read_columns(folder, "chunks", CHUNK_COLUMNS)
        if columns is None:
            return cls(iter_json_lines(folder / "chunks.jsonl"), articles)
        table = cls.__new__(cls)
        table.articles = articles
        table.article, table.start, table.end, table.first, table.stop = (
            columns[c] for c in CHUNK_COLUMNS
        )
        check_article_rows(table.article, len(articles), f"chunks in {folder}")
        return table

    def groups(self) -> list[range]:
        """For each chunk the range of sentence ids it holds."""
        return [range(f, s) for f, s in zip(self.first.tolist(), self.stop.tolist())]

    def _row(self, i: int) -> Chunk:
        row = int(self.article[i])
        start, end = int(self.start[i]), int(self.end[i])
        return Chunk(
            int(i), self.articles.doc_ids[row], start, end, self.articles.text(row)[start:end]
        )

    def doc_id_column(self) -> list[str]:
        """Every chunk's doc_id, in order, without reading texts."""
        ids = self.articles.doc_ids
        return [ids[a] for a in self.article.tolist()]
