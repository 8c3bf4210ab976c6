"""The whole question path in one object: load once, then answer many questions.

    service = QAService(Path("index"))
    answer = service.ask("Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?")

Each call takes one `Snapshot` (the live index with the retriever and reader built on it) and
uses it from the first step to the last, so a rebuild that lands mid-question can never mix hits
of one index version with the text of another. `qa ask`, `qa eval` and the chat all go through
`ask_batch`, so what is measured is what users get.
"""

from __future__ import annotations

import ctypes
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from qa.answer import Reader
from qa.config import Settings
from qa.embedding import Embedder, encoder_of, load_embedder, preload_embedder
from qa.errors import IndexUnavailable, InvalidFilter, InvalidInput
from qa.followup import Context, Query, Turn, mix, resolve
from qa.index import SearchIndex, live_version_name
from qa.lexical import Analyzer
from qa.period import Period, find_period, newest_date, period_boosts
from qa.retrieval import Filters, Retriever
from qa.types import Answer, Article, Hit

if TYPE_CHECKING:
    from qa.claims import CheckResult

MAX_QUESTION_CHARS = 2000
CONTEXT_VECTORS = 256  # follow-up contexts whose vectors are kept (`QAService._vectors`)
# A rebuild may remove the version folder a reader is about to open; it then tries the new one.
_LOAD_ATTEMPTS = 5


def clean_question(text: str) -> str:
    """The question as searched: control characters dropped, white space collapsed.

    Raises `InvalidInput` for an empty or over-long question: those are errors the user can fix,
    unlike a question without letters or digits, which is declined (see `is_answerable`).
    """
    if len(text) > MAX_QUESTION_CHARS * 4:  # do not even normalise megabytes
        raise InvalidInput(f"the question is too long: at most {MAX_QUESTION_CHARS} characters")
    kept = text
    if not text.isprintable():  # it has control (or separator) characters: look at each
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


def answer_valid(texts: list[str], answer_batch, refusal) -> list:
    """`answer_batch` over the texts that `clean_question` accepts, in the order given; each
    refused text gets `refusal(text, message)` in its place, so one bad line in a batch file
    costs only its own answer."""
    results: list = [None] * len(texts)
    good = []
    for i, text in enumerate(texts):
        try:
            clean_question(text)
            good.append(i)
        except InvalidInput as err:
            results[i] = refusal(text, str(err))
    for i, result in zip(good, answer_batch([texts[i] for i in good]) if good else []):
        results[i] = result
    return results


def check_sources(index: SearchIndex, filters: Filters | None) -> None:
    """Refuse a source filter that names nothing in the index: a typo would quietly decline."""
    names = filters.sources if filters else ()
    if not names:
        return
    store = index.articles  # sources and publishers as columns: no article text is read
    if hasattr(store, "publishers"):
        pairs = list(zip(store.sources, store.publishers))
    else:
        pairs = [(a.source, a.publisher) for a in store.values()]
    for name in names:
        if not any(source.startswith(name) or publisher == name for source, publisher in pairs):
            raise InvalidFilter(
                f"the source filter {name!r} matches no article in the index: name a file, a "
                "folder (ending in /) or a publisher as the citations show them"
            )


def release_free_heap() -> None:
    """Give the heap that loading freed back to the system. glibc keeps freed memory for
    reuse, and loading frees a lot once (parsed JSON lines, the encoder's session build):
    ~15 MB of `qa serve`'s resident memory (docs/benchmarks.md "Encoders")."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


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
    # The archive's "now" (its newest article date): relative words in questions resolve to it.
    anchor: date | None = None

    @property
    def version(self) -> str:
        return self.index.version


class QAService:
    """Answers questions from the index in `index_dir`, picking up a rebuilt index by itself."""

    def __init__(
        self,
        index_dir: Path,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        preloaded: Embedder | None = None,
    ):
        """`embedder`: the one configured (an index built with another model is refused);
        `preloaded`: one already loading for this index (`qa.embedding.preload_embedder`),
        used if it is what the index was built with."""
        self.index_dir = index_dir
        self.settings = settings or Settings()
        self._embedder = embedder
        self._preloaded = preloaded  # see `_preload_embedder`
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._context_vectors: dict[tuple[str, str, str], np.ndarray] = {}  # see `_vectors`
        self._context_lock = threading.Lock()
        # The chat server answers concurrent questions together (`qa.serving.Batcher`).
        self.batcher = None
        # A question's exact FAISS searches are small; their OpenMP threads waited on each
        # other on the shared 2-core machine (warm ask on the 8k-chunk index: 81 ms with two,
        # 29 ms with one; docs/benchmarks.md "Encoders"). Concurrency comes from the callers.
        faiss.omp_set_num_threads(1)

    def snapshot(self) -> Snapshot:
        """The live index version, loaded once per version (a rebuild is noticed here)."""
        with self._lock:
            live = live_version_name(self.index_dir)
            if self._snapshot is None or (live and live != self._snapshot.version):
                if self._snapshot is None:
                    self._preload_embedder()
                self._snapshot = self._build_snapshot(self._load_index())
            return self._snapshot

    @property
    def index(self) -> SearchIndex:
        return self.snapshot().index

    @property
    def embedder(self) -> Embedder:
        return self.snapshot().embedder

    def _preload_embedder(self) -> None:
        """Start loading the encoder the manifest names before the index loads: the int8 one
        loads in a background thread (`OnnxEmbedder.preload`), on the other core, so a new
        `qa ask` or `qa serve` waits for the longer of the two, not their sum."""
        if self._embedder is None and self._preloaded is None:
            s = self.settings
            self._preloaded = preload_embedder(self.index_dir, s.model_dir, s.batch_size)

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
        built = index.manifest.encoder
        pre, wanted = self._preloaded, (index.manifest.model, built)
        if self._embedder is None and pre and (pre.model_name, encoder_of(pre)) == wanted:
            self._embedder = pre
        elif self._embedder is None:
            self._embedder = load_embedder(index.manifest.model, built, s.model_dir, s.batch_size)
        elif self._embedder.model_name != index.manifest.model:
            raise IndexUnavailable(
                f"the index in {self.index_dir} was built with the model "
                f"{index.manifest.model!r}, but {self._embedder.model_name!r} is configured: "
                f"rebuild it with `qa index --index {self.index_dir}` or configure that model"
            )
        elif encoder_of(self._embedder) != built:
            # Quantised and fp32 vectors are close but not equal: never mix the two.
            self._embedder = load_embedder(index.manifest.model, built, s.model_dir, s.batch_size)
        reader = Reader(
            index,
            Analyzer(index.manifest.analyzer),
            passages=s.passages,
            max_snippets=s.max_snippets,
            max_sentences=s.max_sentences_per_snippet,
            weights=s.reader,
            phrase_encoder=self._embedder if s.answer_phrase == "head" else None,
        )
        retriever = Retriever(index, s.candidates, s.fusion)
        anchor = newest_date(index.article_dates().values())
        return Snapshot(index, self._embedder, retriever, reader, anchor)

    def warm_up(self) -> None:
        """Load index and model now rather than on the first question, and build what makes
        searches quicker (`Retriever.prepare`)."""
        embedder = self.embedder
        if hasattr(embedder, "warm_up"):
            embedder.warm_up()  # the int8 encoder's sessions (`OnnxEmbedder.warm_up`)
        embedder.encode_queries(["warm up"])
        self.snapshot().retriever.prepare()
        # The date patterns and dateparser's German and English data (~0.5 s on first use).
        find_period("vor einem Jahr im März 2020", self.snapshot().anchor or date(2020, 1, 1))
        release_free_heap()

    def ask(
        self, question: str, filters: Filters | None = None, history: Sequence[Turn] = ()
    ) -> Answer:
        """One answer. With `history` (the conversation's earlier turns, oldest first) a
        follow-up question is resolved against it, as in `ask_in_context`."""
        if history:
            return self.ask_in_context(question, history, filters)[0]
        if self.batcher is not None:
            return self.batcher.ask(question, filters)
        return self.ask_batch([question], filters)[0]

    def ask_in_context(
        self, question: str, history: Sequence[Turn], filters: Filters | None = None
    ) -> tuple[Answer, Context | None]:
        """A chat turn: the answer, and the context it leaned on (None: self-contained).

        A follow-up ("Und in Deutschland?") is searched together with the last self-contained
        question and its answer's names, its own words weighted higher (`qa.followup`); a
        self-contained question is answered exactly as `ask` answers it.
        """
        query = resolve(clean_question(question), history)
        if self.batcher is not None:
            return self.batcher.ask(query.question, filters, query.context), query.context
        return self.ask_batch([query.question], filters, [query.context])[0], query.context

    def ask_batch(
        self,
        questions: Sequence[str],
        filters: Filters | None = None,
        contexts: Sequence[Context | None] | None = None,
    ) -> list[Answer]:
        """Answers in the order asked; a question with nothing to search for is declined.

        `contexts[i]`, when given and not None, is what question i leans on (`ask_in_context`).
        """
        cleaned = [clean_question(q) for q in questions]
        contexts = [None] * len(cleaned) if contexts is None else contexts
        queries = [Query(q, c) for q, c in zip(cleaned, contexts, strict=True) if is_answerable(q)]
        searchable = [q.question for q in queries]
        snap = self.snapshot()
        check_sources(snap.index, filters)
        periods = self.periods(snap, [q.text for q in queries], filters)
        vectors, hits = self._retrieve(snap, queries, filters, periods=periods)
        dates = snap.index.article_dates()  # made once per index, no texts read
        weight = self.settings.reader.period * snap.reader.band
        answers = snap.reader.answer_batch(
            searchable,
            vectors,
            hits,
            priors=[period_boosts(p, dates, weight) for p in periods],
            newest_first=[p is None or p.present for p in periods],
        )
        read = iter(replace(a, period=p) for a, p in zip(answers, periods, strict=True))
        return [next(read) if is_answerable(q) else Answer(q, abstained=True) for q in cleaned]

    def periods(
        self, snap: Snapshot, questions: Sequence[str], filters: Filters | None = None
    ) -> list[Period | None]:
        """The period each question names (`qa.period`), resolved against the archive's newest
        date. An explicit date filter wins: with one, no period is read from the questions."""
        if filters is not None and (filters.date_from or filters.date_to):
            return [None] * len(questions)
        return [find_period(q, snap.anchor) for q in questions]

    def check(self, claim: str, filters: Filters | None = None) -> CheckResult:
        return self.check_batch([claim], filters)[0]

    def check_batch(
        self, claims: Sequence[str], filters: Filters | None = None
    ) -> list[CheckResult]:
        """Check claims against the archive (`qa check`, the chat's claim mode, `/check`).

        The same path as a question: the same retrieval and reader on one snapshot, and the
        same calibrated decline (-> `not_found`). The reader's snippets are the evidence the
        claim's parts are aligned in (`qa.claims`).
        """
        from qa.claims import Passage, check

        answers = self.ask_batch(claims, filters)
        return [
            check(
                answer.question,
                [Passage(s.text, s.score, s.citation) for s in answer.snippets],
                found=not answer.abstained,
            )
            for answer in answers
        ]

    def retrieve_batch(
        self, questions: Sequence[str], top_k: int | None = None, filters: Filters | None = None
    ) -> tuple[np.ndarray, list[list[Hit]]]:
        """The question vectors and the fused hits of each question (no reading).

        `top_k` defaults to `Settings.top_k`; evaluation asks for deeper rankings.
        """
        cleaned = [clean_question(q) for q in questions]
        snap = self.snapshot()
        periods = self.periods(snap, cleaned, filters)
        return self._retrieve(snap, [Query(q) for q in cleaned], filters, top_k, periods)

    def _retrieve(
        self,
        snap: Snapshot,
        queries: Sequence[Query],
        filters: Filters | None,
        top_k: int | None = None,
        periods: Sequence[Period | None] | None = None,
    ) -> tuple[np.ndarray, list[list[Hit]]]:
        if not queries:
            return np.zeros((0, snap.index.manifest.dimension), np.float32), []
        vectors = self._vectors(snap, queries)
        k = top_k or self.settings.top_k
        texts = [q.text for q in queries]
        return vectors, snap.retriever.search_batch(texts, vectors, k, filters, periods)

    def _vectors(self, snap: Snapshot, queries: Sequence[Query]) -> np.ndarray:
        """The query vectors; a follow-up's is mixed with its context's (`qa.followup.mix`).

        A chain of follow-ups leans on the same context again and again, so context vectors
        are kept (`CONTEXT_VECTORS` of them, by model and encoder): each further follow-up of
        a chain then costs one encode, not two. The same vector either way: a text's vector
        does not depend on what it is encoded with. Questions themselves are always encoded."""
        vectors = snap.embedder.encode_queries([q.question for q in queries])
        leaning = [(i, q.context) for i, q in enumerate(queries) if q.context is not None]
        if leaning:
            encoder = (snap.embedder.model_name, encoder_of(snap.embedder))
            keys = [(*encoder, c.text) for _, c in leaning]
            with self._context_lock:
                known = {k: self._context_vectors.get(k) for k in keys}
            missing = [k for k, v in known.items() if v is None]
            if missing:
                fresh = snap.embedder.encode_queries([key[-1] for key in missing])
                known.update(zip(missing, fresh))
                with self._context_lock:
                    self._context_vectors.update(zip(missing, fresh))
                    while len(self._context_vectors) > CONTEXT_VECTORS:  # the oldest go first
                        del self._context_vectors[next(iter(self._context_vectors))]
            for (i, _), key in zip(leaning, keys):
                vectors[i] = mix(vectors[i], known[key])
        return vectors

    def article(self, doc_id: str) -> Article:
        try:
            return self.index.articles[doc_id]
        except KeyError:
            raise InvalidInput(f"no article with id {doc_id!r} in {self.index_dir}") from None
