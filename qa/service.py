"""The whole question path in one object: load once, then answer many questions.

    service = QAService(Path("index"))
    answer = service.ask("Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?")

Each call takes one `Snapshot` (the live index with the retriever and reader built on it) and
uses it from the first step to the last, so a rebuild that lands mid-question can never mix hits
of one index version with the text of another. `qa ask`, `qa eval` and the chat all go through
`ask_batch`, so what is measured is what users get.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.answer import Reader
from qa.config import Settings
from qa.embedding import Embedder
from qa.errors import IndexUnavailable, InvalidInput
from qa.index import SearchIndex, live_version_name
from qa.lexical import Analyzer
from qa.retrieval import Filters, Retriever
from qa.types import Answer, Article, Hit

MAX_QUESTION_CHARS = 2000
# A rebuild may remove the version folder a reader is about to open; it then tries the new one.
_LOAD_ATTEMPTS = 5


def clean_question(text: str) -> str:
    """The question as searched: control characters dropped, white space collapsed.

    Raises `InvalidInput` for an empty or over-long question: those are errors the user can fix,
    unlike a question without letters or digits, which is declined (see `is_answerable`).
    """
    if len(text) > MAX_QUESTION_CHARS * 4:  # do not even normalise megabytes
        raise InvalidInput(f"the question is too long: at most {MAX_QUESTION_CHARS} characters")
    kept = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    question = " ".join(kept.split())
    if not question:
        raise InvalidInput("the question is empty: type a question to ask")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInput(
            f"the question is too long ({len(question)} characters): "
            f"at most {MAX_QUESTION_CHARS} characters"
        )
    return question


def is_answerable(question: str) -> bool:
    """Whether the question has anything to search for (a letter or a digit)."""
    return any(c.isalnum() for c in question)


@dataclass(frozen=True)
class Snapshot:
    """One index version with everything built on it; immutable, shared between questions."""

    index: SearchIndex
    embedder: Embedder
    retriever: Retriever
    reader: Reader

    @property
    def version(self) -> str:
        return self.index.version


class QAService:
    """Answers questions from the index in `index_dir`, picking up a rebuilt index by itself."""

    def __init__(
        self, index_dir: Path, settings: Settings | None = None, embedder: Embedder | None = None
    ):
        self.index_dir = index_dir
        self.settings = settings or Settings()
        self._embedder = embedder
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        """The live index version, loaded once per version (a rebuild is noticed here)."""
        with self._lock:
            live = live_version_name(self.index_dir)
            if self._snapshot is None or (live and live != self._snapshot.version):
                self._snapshot = self._build_snapshot(self._load_index())
            return self._snapshot

    @property
    def index(self) -> SearchIndex:
        return self.snapshot().index

    @property
    def embedder(self) -> Embedder:
        return self.snapshot().embedder

    def _load_index(self) -> SearchIndex:
        for _ in range(_LOAD_ATTEMPTS - 1):
            tried = live_version_name(self.index_dir)
            try:
                return SearchIndex.load(self.index_dir)
            except IndexUnavailable:
                if live_version_name(self.index_dir) == tried:
                    raise
        return SearchIndex.load(self.index_dir)

    def _build_snapshot(self, index: SearchIndex) -> Snapshot:
        s = self.settings
        if self._embedder is None:
            self._embedder = Embedder(index.manifest.model, s.model_dir, s.batch_size)
        elif self._embedder.model_name != index.manifest.model:
            raise IndexUnavailable(
                f"the index in {self.index_dir} was built with the model "
                f"{index.manifest.model!r}, but {self._embedder.model_name!r} is configured: "
                f"rebuild it with `qa index --index {self.index_dir}` or configure that model"
            )
        reader = Reader(
            index,
            Analyzer(index.manifest.analyzer),
            passages=s.passages,
            max_snippets=s.max_snippets,
            max_sentences=s.max_sentences_per_snippet,
            weights=s.reader,
        )
        retriever = Retriever(index, s.candidates, s.fusion)
        return Snapshot(index, self._embedder, retriever, reader)

    def warm_up(self) -> None:
        """Load index and model now rather than on the first question."""
        self.embedder.encode_queries(["warm up"])

    def ask(self, question: str, filters: Filters | None = None) -> Answer:
        return self.ask_batch([question], filters)[0]

    def ask_batch(self, questions: Sequence[str], filters: Filters | None = None) -> list[Answer]:
        """Answers in the order asked; a question with nothing to search for is declined."""
        cleaned = [clean_question(q) for q in questions]
        searchable = [q for q in cleaned if is_answerable(q)]
        snap = self.snapshot()
        vectors, hits = self._retrieve(snap, searchable, filters)
        read = iter(snap.reader.answer_batch(searchable, vectors, hits))
        return [next(read) if is_answerable(q) else Answer(q, abstained=True) for q in cleaned]

    def retrieve_batch(
        self, questions: Sequence[str], top_k: int | None = None, filters: Filters | None = None
    ) -> tuple[np.ndarray, list[list[Hit]]]:
        """The question vectors and the fused hits of each question (no reading).

        `top_k` defaults to `Settings.top_k`; evaluation asks for deeper rankings.
        """
        cleaned = [clean_question(q) for q in questions]
        return self._retrieve(self.snapshot(), cleaned, filters, top_k)

    def _retrieve(
        self,
        snap: Snapshot,
        questions: Sequence[str],
        filters: Filters | None,
        top_k: int | None = None,
    ) -> tuple[np.ndarray, list[list[Hit]]]:
        if not questions:
            return np.zeros((0, snap.index.manifest.dimension), np.float32), []
        vectors = snap.embedder.encode_queries(questions)
        k = top_k or self.settings.top_k
        return vectors, snap.retriever.search_batch(questions, vectors, k, filters)

    def article(self, doc_id: str) -> Article:
        try:
            return self.index.articles[doc_id]
        except KeyError:
            raise InvalidInput(f"no article with id {doc_id!r} in {self.index_dir}") from None
