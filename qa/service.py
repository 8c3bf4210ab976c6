"""The whole question path in one object: load once, then answer many questions.

    service = QAService(Path("index"))
    answer = service.ask("Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?")

`qa ask`, `qa eval` and the chat all go through `ask_batch`, so what is measured is what users get.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.answer import Reader
from qa.config import Settings
from qa.embedding import Embedder
from qa.index import IndexError, SearchIndex, live_version_name
from qa.lexical import Analyzer
from qa.retrieval import Filters, Retriever
from qa.types import Answer, Article, Hit


class QAService:
    """Answers questions from the index in `index_dir`, picking up a rebuilt index by itself."""

    def __init__(
        self, index_dir: Path, settings: Settings | None = None, embedder: Embedder | None = None
    ):
        self.index_dir = index_dir
        self.settings = settings or Settings()
        self._embedder = embedder
        self._index: SearchIndex | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> SearchIndex:
        """The live index; reloaded when `qa index` has made a new version live."""
        with self._lock:
            live = live_version_name(self.index_dir)
            if self._index is None or (live and live != self._index.version):
                self._index = self._load()
            return self._index

    def _load(self) -> SearchIndex:
        index = SearchIndex.load(self.index_dir)
        if self._embedder is None:
            self._embedder = Embedder(
                index.manifest.model, self.settings.model_dir, self.settings.batch_size
            )
        elif self._embedder.model_name != index.manifest.model:
            raise IndexError(
                f"the index in {self.index_dir} was built with the model "
                f"{index.manifest.model!r}, but {self._embedder.model_name!r} is configured: "
                f"rebuild it with `qa index --index {self.index_dir}` or configure that model"
            )
        return index

    @property
    def embedder(self) -> Embedder:
        self.index  # noqa: B018 - loading the index decides which model to use
        assert self._embedder is not None
        return self._embedder

    def warm_up(self) -> None:
        """Load index and model now rather than on the first question."""
        self.embedder.encode_queries(["warm up"])

    def ask(self, question: str, filters: Filters | None = None) -> Answer:
        return self.ask_batch([question], filters)[0]

    def retrieve_batch(
        self, questions: Sequence[str], top_k: int = 10, filters: Filters | None = None
    ) -> tuple[np.ndarray, list[list[Hit]]]:
        """The question vectors and the `top_k` fused hits of each question (no reading)."""
        questions = [q.strip() for q in questions]
        if any(not q for q in questions):
            raise ValueError("a question is empty: type a question to ask")
        index = self.index
        retriever = Retriever(index, self.settings.candidates, self.settings.fusion)
        vectors = self.embedder.encode_queries(questions)
        return vectors, retriever.search_batch(questions, vectors, top_k=top_k, filters=filters)

    def ask_batch(self, questions: Sequence[str], filters: Filters | None = None) -> list[Answer]:
        questions = [q.strip() for q in questions]
        vectors, hits = self.retrieve_batch(questions, top_k=10, filters=filters)
        s = self.settings
        reader = Reader(
            self.index,
            Analyzer(self.index.manifest.analyzer),
            max_snippets=s.max_snippets,
            max_sentences=s.max_sentences_per_snippet,
            weights=s.reader,
        )
        return reader.answer_batch(questions, vectors, hits)

    def article(self, doc_id: str) -> Article:
        try:
            return self.index.articles[doc_id]
        except KeyError:
            raise KeyError(f"no article with id {doc_id!r} in {self.index_dir}") from None
