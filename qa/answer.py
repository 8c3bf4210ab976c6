"""Hits -> answer: pick the sentences that answer the question, quote them, cite them.

Nothing is generated. Each snippet is one or two consecutive sentences copied from an article,
with the offsets that locate it, and, when the reader can name it, the answer phrase inside it
(a figure, date or name). The choices are made by small fitted models, not hand-set weights:

- a linear ranker over features of every candidate window (similarity of the window, its best
  sentence and its neighbours to the question, the passage's retrieval scores, question words
  found in the window and in the article's headline, answer kind, position, length);
- a logistic decline model over the best window's features: the reader declines when the corpus
  most likely holds no answer, rather than quoting something unrelated;
- a span scorer for the answer phrase (`qa.phrase`).

All three are fitted by `benchmarks/fit_reader.py` on XQuAD-de (tune half), MLQA-de and the
GermanQuAD train subset and stored in `qa/reader_weights.json` (a few hundred numbers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qa import phrase
from qa.config import ReaderWeights
from qa.index import SearchIndex
from qa.lexical import Analyzer
from qa.period import day_of, prefer_newest
from qa.types import Answer, AnswerSpan, Citation, Hit, Sentence, Snippet, http_url

DECLINE_DE = "Dazu habe ich im Korpus nichts gefunden."
DECLINE_EN = "I found nothing about that in the corpus."
WEIGHTS_FILE = Path(__file__).with_name("reader_weights.json")
# How many sentences' and articles' analysed terms a reader keeps (`_TermCache`).
SENTENCE_CACHE = 200_000
ARTICLE_CACHE = 5_000

# The features of a candidate window, in the order of the ranker's weights.
FEATURES = (
    "sim_window",  # question vs the window's vector (length-weighted mean of its sentences)
    "sim_best",  # question vs the window's best sentence
    "sim_neighbour",  # question vs the sentence just before / after the window (the better one)
    "sim_lead",  # question vs the article's first sentence (a lead names who/where)
    "passage_rel",  # the passage's fused score / the best passage's
    "passage_abs",  # the passage's fused score
    "passage_first",  # the window lies in the best passage
    "passage_keyword",  # the passage's normalised BM25 score
    "overlap",  # share of question terms found in the window
    "idf_overlap",  # the same, weighted by the terms' rarity in the corpus
    "idf_context",  # ... found in the window or the article's headline
    "idf_title",  # ... found in the headline alone
    "kind_match",  # the question asks for a number/date/name and the window has one
    "lead",  # the window starts the article
    "position",  # where in the article it starts (0 first sentence .. 1 last)
    "chars",  # length in hundreds of characters
    "two_sentences",
    # Coverage of the question by the whole article (headline and body): stable across archive
    # sizes, unlike similarities, which rise for unanswerable questions as distractors are added.
    "cover_article",  # share of question terms found anywhere in the article
    "idf_article",  # the same, weighted by rarity
    "rare_context",  # share of the question's two rarest terms found in the window or headline
    "rare_article",  # ... found anywhere in the article
    "numbers_missing",  # the question names a figure the article does not hold
    # The same for the two rarest question terms the corpus holds at all (a term it never holds,
    # such as a paraphrase, says nothing about one article), and how rare the rarest known
    # question term missing from the article is (idf over log corpus size: 0 none .. ~1 unique).
    "rare_known_context",
    "rare_known_article",
    "missing_known_idf",
    "unknown_terms",  # share of question terms the corpus never holds (same for every window)
)
# The question-level features of the decline model (from the best window).
DECLINE_FEATURES = (
    "score",  # ranker score of the best window
    "margin",  # best minus second-best window score
    "sim_window",
    "sim_best",
    "passage_abs",
    "passage_keyword",
    "idf_overlap",
    "idf_context",
    "max_idf_context",  # best idf_context of any candidate
    "idf_article",
    "rare_context",
    "rare_article",
    "numbers_missing",
    "max_rare_article",  # best rare_article of any candidate
    "margin_other",  # best score minus the best of another article's windows
    "rare_known_context",
    "rare_known_article",
    "missing_known_idf",
    "unknown_terms",
    "max_rare_known_article",  # best rare_known_article of any candidate
)
_FEATURE_COLUMN = {name: c for c, name in enumerate(FEATURES)}
# Similarity features; they move with the embedder's scale (see `ReaderWeights.decline_below`).
_SIMILARITIES = ("sim_window", "sim_best", "sim_neighbour", "sim_lead", "passage_abs")
_REFERENCE_DECLINE_BELOW = 0.858

_KIND_FORMS = {
    "number": re.compile(
        r"\d|\b(ein|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|hundert|tausend)\w*\b", re.I
    ),
    "date": re.compile(
        r"\b(1[0-9]{3}|20[0-9]{2})\b|\b(januar|februar|märz|april|mai|juni|juli|august|"
        r"september|oktober|november|dezember)\b|jahrhundert",
        re.I,
    ),
    "person": re.compile(r"\b[A-ZÄÖÜ][a-zäöüß]+ [A-ZÄÖÜ][a-zäöüß]+"),
    "place": re.compile(r"\b(in|nach|aus|bei) [A-ZÄÖÜ]"),
}


def _doc_sentence_ranges(sentences: Sequence[Sentence]) -> dict[str, tuple[int, int]]:
    """Each article's sentence ids as `(first, stop)`; an article's sentences are consecutive.
    Reads the index's runs of article rows where it has them (`SentenceTable.article_runs`),
    else its doc_id column (no `Sentence` object per sentence)."""
    runs = getattr(sentences, "article_runs", None)
    if runs is not None:
        ranges: dict[str, tuple[int, int]] = {}
        for doc_id, first, stop in runs():
            ranges[doc_id] = (ranges[doc_id][0] if doc_id in ranges else first, stop)
        return ranges
    column = getattr(sentences, "doc_id_column", None)
    doc_ids = column() if column else [s.doc_id for s in sentences]
    ranges = {}
    for sentence_id, doc_id in enumerate(doc_ids):
        first = ranges[doc_id][0] if doc_id in ranges else sentence_id
        ranges[doc_id] = (first, sentence_id + 1)
    return ranges


@dataclass(frozen=True)
class ReaderModel:
    """The fitted weights (`qa/reader_weights.json`)."""

    ranker: np.ndarray  # one weight per `FEATURES`
    decline: np.ndarray  # one weight per `DECLINE_FEATURES`
    decline_intercept: float
    decline_threshold: float  # decline when P(answerable) is below this
    extra_ratio: float  # further snippets need exp(score - best) >= this
    duplicate_jaccard: float  # word-set overlap from which two snippets count as one
    phrase: np.ndarray  # one weight per `qa.phrase.FEATURES`
    max_phrase_chars: int

    @classmethod
    def from_dict(cls, data: dict) -> ReaderModel:
        if tuple(data["phrase"]["features"]) != phrase.FEATURES:
            raise ValueError("reader weights: phrase features do not match this code")
        return cls(
            _by_name(data["ranker"], FEATURES, "ranker"),
            _by_name(data["decline"], DECLINE_FEATURES, "decline"),
            float(data["decline"]["intercept"]),
            float(data["decline"]["threshold"]),
            float(data["extra"]["ratio"]),
            float(data["extra"]["duplicate_jaccard"]),
            np.array(data["phrase"]["coef"], np.float32),
            int(data["phrase"].get("max_chars", 60)),
        )

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, path: Path = WEIGHTS_FILE) -> ReaderModel:
        return cls.from_dict(json.loads(Path(path).read_text("utf-8")))


def _by_name(part: dict, names: Sequence[str], key: str) -> np.ndarray:
    """The weights of `part` in the order of `names`, matched by feature name.

    A feature the file does not name weighs 0 (weights fitted before it existed stay valid);
    a name the code does not know is an error.
    """
    coef = dict(zip(part["features"], part["coef"], strict=True))
    unknown = set(coef) - set(names)
    if unknown:
        raise ValueError(f"reader weights: {key} features do not match this code: {unknown}")
    return np.array([coef.get(name, 0.0) for name in names], np.float32)


class _Window(NamedTuple):
    """One or more consecutive sentences of an article: a possible snippet. A named tuple, not
    a frozen dataclass: a question makes a few dozen, and a tuple is three times quicker made."""

    doc_id: str
    first: int  # sentence id of the first sentence
    last: int
    start: int
    end: int
    passage: int  # rank of the passage it came from (0 = best)


@dataclass(frozen=True)
class _SentenceColumns:
    """Each sentence's article number, start and end as numpy columns: the index's own
    (`SentenceTable`, memory-mapped) where it has them, else made once from its objects.
    The reader reads a question's few dozen rows from them in bulk, not one object per row."""

    article: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, sentences: Sequence[Sentence]) -> _SentenceColumns:
        columns = [getattr(sentences, name, None) for name in ("article", "start", "end")]
        if all(isinstance(c, np.ndarray) and len(c) == len(sentences) for c in columns):
            # Plain views of the same memory: a `np.memmap`'s indexing runs Python code.
            return cls(*(c.view(np.ndarray) for c in columns))
        numbers: dict[str, int] = {}
        article = [numbers.setdefault(s.doc_id, len(numbers)) for s in sentences]
        start, end = [s.start for s in sentences], [s.end for s in sentences]
        return cls(np.array(article, np.int64), np.array(start, np.int64), np.array(end, np.int64))


@dataclass(frozen=True)
class _Article:
    """An article the question's passages touch, with what all its windows share."""

    doc_id: str
    text: str
    first: int  # its sentence ids: first .. stop - 1
    stop: int
    lead_sim: float  # the question's cosine with its first sentence
    title: np.ndarray  # per question term (`_QuestionTerms.terms`): in the headline
    body: np.ndarray  # ... anywhere in the article, headline included
    missing_known_idf: float  # `FEATURES`' missing_known_idf


@dataclass(frozen=True)
class _QuestionTerms:
    """The question's analysed terms and how rare each is in the corpus."""

    q_terms: set[str]
    terms: list[str]  # the same in the order of the boolean rows made against them
    idf: dict[str, float]
    total_idf: float
    rare: set[str]  # the question's two rarest terms
    rare_known: set[str]  # ... among those the corpus holds
    known_idf: dict[str, float]  # idf / log(corpus size) of the terms the corpus holds
    unknown_share: float  # share of question terms the corpus never holds
    numbers: set[str]  # the figures the question names
    known: list[str]  # the terms the corpus holds, sorted
    # The chunks that hold each known term (`KeywordIndex.chunks_with`), read when an article
    # first needs it (`Reader._held_terms`).
    postings: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _QuestionContext:
    """What every candidate window of one question is scored against. The passages' sentences
    are rows of arrays (`ids` ascending), so windows are rows too (`_WindowTable`)."""

    qvec: np.ndarray
    hits: list[Hit]
    ids: np.ndarray  # the passages' sentence ids, ascending
    rank: np.ndarray  # per id: rank of the first passage that holds it
    number: np.ndarray  # per id: its article's number (`_SentenceColumns.article`)
    start: np.ndarray  # per id: its offsets in the article
    end: np.ndarray
    sims: dict[int, float]  # sentence id -> similarity: the ids, their neighbours, leads
    top: float  # the best raw hit score (divisor of `passage_rel`)
    q: _QuestionTerms
    form: re.Pattern[str] | None  # what an answer of the question's kind looks like
    articles: dict[int, _Article] = field(default_factory=dict)  # by number, made on demand


@dataclass(frozen=True)
class _WindowTable:
    """One question's candidate windows as arrays, by first sentence, then size."""

    row: np.ndarray  # the row (in `_QuestionContext.ids`) of the window's first sentence
    size: np.ndarray  # its number of sentences
    passage: np.ndarray  # rank of the passage it came from (0 = best)
    article: np.ndarray  # its article, as an index into `articles`
    articles: list[_Article]


@dataclass(frozen=True)
class Candidates:
    """The candidate windows of one question with their features (rows follow `windows`)."""

    windows: list[_Window]
    features: np.ndarray  # len(windows) x len(FEATURES)


class Reader:
    """Selects and cites answer sentences from the hits of one question (or a batch).

    It encodes nothing: every sentence's vector was stored at index time.
    """

    def __init__(
        self,
        index: SearchIndex,
        analyzer: Analyzer,
        passages: int = 3,
        max_snippets: int = 3,
        max_sentences: int = 2,
        weights: ReaderWeights | None = None,
        model: ReaderModel | None = None,
        phrase_encoder=None,
    ):
        self.index = index
        self.analyzer = analyzer
        self.passages = passages
        self.max_snippets = max_snippets
        self.max_sentences = max_sentences
        self.weights = weights or ReaderWeights()
        self.model = model or ReaderModel.load()
        # The encoder whose token states the answer-phrase head reads (`qa.phrase.find_phrase`;
        # the int8 encoder has them); None: the linear phrase scorer alone.
        self.phrase_encoder = phrase_encoder
        self._shift = _REFERENCE_DECLINE_BELOW - self.weights.decline_below
        self._sim_columns = [FEATURES.index(f) for f in _SIMILARITIES]
        self._doc_sentences = _doc_sentence_ranges(index.sentences)
        self._columns = _SentenceColumns.of(index.sentences)
        # Analysed terms, made once per sentence, article and headline. Bounded: a long-running
        # server over a large archive would otherwise end up holding every sentence's terms.
        self._sentence_terms = _TermCache(SENTENCE_CACHE)
        self._article_term_sets = _TermCache(ARTICLE_CACHE)
        self._title_terms = _TermCache(ARTICLE_CACHE)
        # The question terms an article holds are read from the keyword index's postings
        # (`_held_terms`) when its terms are this analyzer's: same analyzer, same language.
        keywords = index.keywords
        self._postings = (
            hasattr(keywords, "chunks_with")
            and type(keywords.analyzer) is type(analyzer)
            and keywords.analyzer.language == analyzer.language
        )
        # Per article: its chunks (`_exact_chunks`) and which terms asked about so far it holds.
        self._chunk_spans = _TermCache(ARTICLE_CACHE)

    # --- candidates and their features --------------------------------------------------------

    def candidates(self, question: str, qvec: np.ndarray, hits: Sequence[Hit]) -> Candidates:
        """Every window of 1..`max_sentences` sentences of the best passages, with features.

        The windows are rows of arrays and their features a few array operations over all of
        them, not Python per window: this runs for every question a warm server answers."""
        hits = list(hits[: self.passages])
        if not hits:
            return Candidates([], np.zeros((0, len(FEATURES)), np.float32))
        context = self._question_context(question, qvec, hits)
        table = self._window_table(context)
        features = self._features(context, table)
        if self._shift:
            features[:, self._sim_columns] += self._shift
        return Candidates(_window_objects(context, table), features)

    def _question_context(
        self, question: str, qvec: np.ndarray, hits: list[Hit]
    ) -> _QuestionContext:
        """The passages' sentences, their similarities and the question's terms and kind."""
        index = self.index
        passage_of: dict[int, int] = {}
        for rank, hit in enumerate(hits):
            for sid in index.chunk_sentences[hit.chunk.chunk_id]:
                passage_of.setdefault(sid, rank)
        ids = sorted(passage_of)
        # Neighbours too: a window's context is evidence even outside the passage.
        around = sorted(set(ids) | {i - 1 for i in ids} | {i + 1 for i in ids})
        around = [i for i in around if 0 <= i < len(index.sentences)]
        sims = dict(zip(around, (index.sentence_matrix[around] @ qvec).tolist()))
        rows = np.asarray(ids, np.int64)
        # The best raw score: a period boost may have put a lower one first (`qa.retrieval`).
        best_hit = max(hit.score for hit in hits)
        return _QuestionContext(
            qvec=qvec,
            hits=hits,
            ids=rows,
            rank=np.array([passage_of[i] for i in ids], np.int64),
            number=self._columns.article[rows],
            start=self._columns.start[rows],
            end=self._columns.end[rows],
            sims=sims,
            top=best_hit if best_hit > 0 else 1.0,
            q=self._question_terms(question),
            form=_KIND_FORMS.get(phrase.question_kind(question)),
        )

    def _question_terms(self, question: str) -> _QuestionTerms:
        q_terms = set(self.analyzer.terms(question))
        idf, df = self._idf(q_terms)
        known = [t for t in q_terms if df[t] > 0]
        log_n = math.log(1 + max(len(self.index.chunks), 1))
        return _QuestionTerms(
            q_terms=q_terms,
            terms=sorted(q_terms),
            idf=idf,
            total_idf=sum(idf.values()) or 1.0,
            rare=set(sorted(q_terms, key=lambda t: (-idf[t], t))[:2]),
            rare_known=set(sorted(known, key=lambda t: (-idf[t], t))[:2]),
            known_idf={t: idf[t] / log_n for t in known},
            unknown_share=1 - len(known) / len(q_terms) if q_terms else 0.0,
            numbers={t for t in q_terms if t[0].isdigit()},
            known=sorted(known),
        )

    def _window_table(self, context: _QuestionContext) -> _WindowTable:
        """Every window of 1..`max_sentences` consecutive sentences that stays inside the chosen
        passages and inside one article, by first sentence, then size."""
        ids, number, rank = context.ids, context.number, context.rank
        rows, sizes, passages = [np.arange(len(ids))], [np.ones(len(ids), np.int64)], [rank]
        ok, low = np.ones(len(ids), bool), rank
        for size in range(2, self.max_sentences + 1):
            # From row p: the window a sentence shorter was one, and the next sentence id
            # follows it among the passages' sentences, in the same article.
            step = ids[size - 1 :] == ids[size - 2 : -1] + 1
            step &= number[size - 1 :] == number[size - 2 : -1]
            ok, low = ok[:-1] & step, np.minimum(low[:-1], rank[size - 1 :])
            picked = np.flatnonzero(ok)
            rows.append(picked)
            sizes.append(np.full(len(picked), size, np.int64))
            passages.append(low[picked])
        row, size, passage = (np.concatenate(x) for x in (rows, sizes, passages))
        order = np.lexsort((size, row))
        row, size, passage = row[order], size[order], passage[order]
        # Each window's article as an index into `articles` (a question touches a few).
        position: dict[int, int] = {}
        articles, article = [], []
        for n, sid in zip(number[row].tolist(), ids[row].tolist()):
            if n not in position:
                position[n] = len(articles)
                articles.append(self._article(context, n, sid))
            article.append(position[n])
        return _WindowTable(row, size, passage, np.array(article, np.int64), articles)

    def _article(self, context: _QuestionContext, number: int, sid: int) -> _Article:
        """Article `number` (that of sentence `sid`), made once per question."""
        made = context.articles.get(number)
        if made is not None:
            return made
        doc_id = self.index.sentences[sid].doc_id
        article = self.index.articles[doc_id]
        first, stop = self._doc_sentences[doc_id]
        title_terms = self._title(doc_id, article.title)
        q = context.q
        in_article = self._held_terms(q, doc_id, article.text, title_terms)
        lead_sim = context.sims.get(first)
        if lead_sim is None:
            lead_sim = float(self.index.sentence_matrix[first] @ context.qvec)
            context.sims[first] = lead_sim
        made = context.articles[number] = _Article(
            doc_id,
            article.text,
            first,
            stop,
            lead_sim,
            np.array([t in title_terms for t in q.terms], bool),
            np.array([t in in_article for t in q.terms], bool),
            max((v for t, v in q.known_idf.items() if t not in in_article), default=0.0),
        )
        return made

    def _features(self, context: _QuestionContext, table: _WindowTable) -> np.ndarray:
        """The feature rows (`FEATURES` order) of all windows at once: the question terms each
        window, headline and article holds are boolean rows (windows x question terms), so the
        shares and idf sums are a few array operations instead of set operations per window."""
        first_row, last_row = table.row, table.row + table.size - 1
        first, start, end = context.ids[first_row], context.start[first_row], context.end[last_row]
        per_article = np.array([(a.first, a.stop) for a in table.articles], np.int64)
        doc_first, doc_stop = per_article.reshape(-1, 2)[table.article].T
        found = self._found(context, first_row, last_row)
        n_terms = len(context.q.terms)
        shape = (len(table.articles), n_terms)
        title = np.array([a.title for a in table.articles], bool).reshape(shape)
        body = np.array([a.body for a in table.articles], bool).reshape(shape)
        hits, passage = context.hits, table.passage
        columns = {
            **self._similarity_columns(context, table, doc_first, doc_stop),
            "passage_rel": np.array([h.score / context.top for h in hits])[passage],
            "passage_abs": np.array([h.score for h in hits])[passage],
            "passage_first": passage == 0,
            "passage_keyword": np.array([h.lexical_score for h in hits])[passage],
            **_term_columns(context.q, found, title[table.article], body[table.article]),
            "kind_match": self._kind_matches(context, table, start, end),
            "lead": first == doc_first,
            "position": (first - doc_first) / np.maximum(doc_stop - doc_first - 1, 1),
            "chars": (end - start) / 100,
            "two_sentences": table.size > 1,
            "missing_known_idf": np.array([a.missing_known_idf for a in table.articles]),
            "unknown_terms": context.q.unknown_share,
        }
        columns["missing_known_idf"] = columns["missing_known_idf"][table.article]
        features = np.empty((len(table.row), len(FEATURES)), np.float32)
        for c, name in enumerate(FEATURES):
            features[:, c] = columns[name]
        return features

    def _found(
        self, context: _QuestionContext, first_row: np.ndarray, last_row: np.ndarray
    ) -> np.ndarray:
        """Which question terms each window holds (windows x `_QuestionTerms.terms`): counts
        per sentence, summed over the window's rows by prefix sums."""
        terms, held = context.q.terms, []
        columns = (context.ids, context.number, context.start, context.end)
        for sid, number, start, end in zip(*(c.tolist() for c in columns)):
            sentence = self._terms(sid, context.articles[number].text, start, end)
            held.append([t in sentence for t in terms])
        counts = np.zeros((len(held) + 1, len(terms)), np.int64)
        counts[1:] = np.cumsum(np.array(held, np.int64).reshape(len(held), len(terms)), axis=0)
        return counts[last_row + 1] - counts[first_row] > 0

    def _kind_matches(
        self, context: _QuestionContext, table: _WindowTable, start: np.ndarray, end: np.ndarray
    ) -> np.ndarray | float:
        """Whether each window holds what an answer of the question's kind looks like."""
        form = context.form
        if form is None:
            return 0.0
        texts = [table.articles[a].text for a in table.article.tolist()]
        spans = zip(texts, start.tolist(), end.tolist())
        return np.array([form.search(text[a:b]) is not None for text, a, b in spans], bool)

    def _similarity_columns(
        self,
        context: _QuestionContext,
        table: _WindowTable,
        doc_first: np.ndarray,
        doc_stop: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The question's cosine with each window as a whole, its best sentence, the best
        sentence just outside it (in its article), and the article's lead sentence."""
        sims, ids, size = context.sims, context.ids, table.size
        sim = np.array([sims[i] for i in ids.tolist()], np.float64)  # per row
        first_row = table.row
        first, last = ids[first_row], ids[first_row + size - 1]
        best = sim[first_row]
        for k in range(1, self.max_sentences):
            further = sim[np.minimum(first_row + k, len(sim) - 1)]
            best = np.where(size > k, np.maximum(best, further), best)

        def neighbour(sentence_ids: np.ndarray, inside: np.ndarray) -> np.ndarray:
            got = [sims.get(i, 0.0) for i in sentence_ids.tolist()]
            return np.where(inside, np.array(got, np.float64), -np.inf)

        before = neighbour(first - 1, first - 1 >= doc_first)
        after = neighbour(last + 1, last + 1 < doc_stop)
        beside = np.maximum(before, after)
        return {
            "sim_window": self._window_sims(context, table, sim),
            "sim_best": best,
            "sim_neighbour": np.where(np.isneginf(beside), 0.0, beside),
            "sim_lead": np.array([a.lead_sim for a in table.articles])[table.article],
        }

    def _window_sims(
        self, context: _QuestionContext, table: _WindowTable, sim: np.ndarray
    ) -> np.ndarray:
        """The question's cosine with each window's vector: a sentence's own similarity, or of
        several the cosine with their `length_weighted_mean` (`_window_vectors`)."""
        whole = sim[table.row]
        for size in range(2, self.max_sentences + 1):
            picked = np.flatnonzero(table.size == size)
            if len(picked):
                vectors = self._window_vectors(context.ids[table.row[picked]], size)
                whole[picked] = [float(vector @ context.qvec) for vector in vectors]
        return whole

    def _window_vectors(self, firsts: Sequence[int], size: int) -> np.ndarray:
        """The unit vectors `qa.index.length_weighted_mean` makes of the `size` sentences from
        each of `firsts`, in one product for all; norms and division done as it does them (the
        same bits: a dot per row, not a matrix norm)."""
        rows = np.asarray(firsts, np.int64)[:, None] + np.arange(size)
        lengths = (self._columns.end[rows] - self._columns.start[rows]).astype(np.float32)
        vectors = np.matmul(lengths[:, None, :], self.index.sentence_matrix[rows])[:, 0, :]
        norms = np.sqrt(np.array([v.dot(v) for v in vectors], np.float32))
        return vectors / np.maximum(norms, np.float32(1e-9))[:, None]

    def _idf(self, terms: set[str]) -> tuple[dict[str, float], Mapping[str, int]]:
        """Rarity of each question term among the corpus' chunks (unknown terms: rarest), and
        the chunk counts it is computed from."""
        n = max(len(self.index.chunks), 1)
        df = self.index.keywords.document_frequency(sorted(terms))
        return {t: math.log(1 + n / (1 + df[t])) for t in terms}, df

    def _terms(self, sentence_id: int, text: str, start: int, end: int) -> frozenset[str]:
        """A sentence's analysed terms (`text[start:end]` of its article), made once."""
        terms = self._sentence_terms.get(sentence_id)
        if terms is None:
            terms = frozenset(self.analyzer.terms(text[start:end]))
            self._sentence_terms.put(sentence_id, terms)
        return terms

    def _held_terms(
        self, q: _QuestionTerms, doc_id: str, text: str, title_terms: set[str]
    ) -> set[str]:
        """The question terms an article holds, headline included.

        Only these matter, so they are read from the keyword index's postings (is one of the
        article's chunks among a term's chunks?) where `_exact_chunks` shows that gives what
        analysing the article gives; else the article is analysed (`_article_terms`). On the
        8k-chunk eval index, where most questions read articles not read before, that takes the
        reader's part of a warm ask from ~4.9 to ~3.5 ms at p50 and from ~10.7 to ~5.3 at p95.
        Which terms asked about an article it holds is kept with it: a later question reads
        only the postings of terms not asked about it before."""
        span = self._chunk_spans.get(doc_id)
        if span is None:
            chunks = self._exact_chunks(doc_id, text)
            span = (*chunks, {}) if chunks else False
            self._chunk_spans.put(doc_id, span)
        if not span:
            return q.q_terms & self._article_terms(doc_id, text, title_terms)
        c0, c1, holds = span
        for term in q.known:
            if term not in holds:  # not asked about this article before
                chunks = q.postings.get(term)
                if chunks is None:
                    chunks = q.postings[term] = self.index.keywords.chunks_with(term)
                i = int(chunks.searchsorted(c0))
                holds[term] = i < len(chunks) and int(chunks[i]) < c1
        return (q.q_terms & title_terms).union(t for t in q.known if holds[t])

    def _exact_chunks(self, doc_id: str, text: str) -> tuple[int, int] | None:
        """The chunks `[c0, c1)` of an article whose keyword-index terms are exactly the terms of
        its sentences (`_article_terms` without the headline), or None if that is not shown.

        It holds when the article's sentences are all of its text but white space (what
        `_article_terms` analyses as one text) and the chunks are substrings of it that start
        and end at white space (or its ends) and together hold every character but white
        space: `Analyzer.terms` reads token by token and no token holds white space, so the
        chunks' tokens are then the text's (the keyword index holds each chunk's text analysed by
        the same analyzer, `qa.index`). Overlap does not matter (a union); a chunk cut inside a
        word, or a sentence cut inside one, falls back to analysing the article."""
        if not self._postings:
            return None
        first, stop = self._doc_sentences[doc_id]
        starts = self._columns.start[first:stop].tolist()
        ends = self._columns.end[first:stop].tolist()
        gaps = zip(ends[:-1], starts[1:])
        if text[: starts[0]].strip() or text[ends[-1] :].strip():
            return None
        if not all(text[a:b].isspace() for a, b in gaps):
            return None
        # Its chunks: those holding its sentences (`sentence_chunk` names the last chunk that
        # holds each), and any before them that hold only its first sentences.
        groups = self.index.chunk_sentences
        holders = self.index.sentence_chunk[first:stop]
        c0, c1 = int(holders.min()), int(holders.max()) + 1
        while c0 > 0 and first <= groups[c0 - 1].start < stop:
            c0 -= 1
        covered = 0
        for chunk in sorted(self.index.chunks[c0:c1], key=lambda c: c.start):
            a, b = chunk.start, chunk.end
            if chunk.doc_id != doc_id or not 0 <= a < b <= len(text) or text[a:b] != chunk.text:
                return None
            if a > 0 and not text[a - 1].isspace() or b < len(text) and not text[b].isspace():
                return None
            if text[covered:a].strip():
                return None  # text outside every chunk
            covered = max(covered, b)
        return (c0, c1) if not text[covered:].strip() else None

    def _article_terms(self, doc_id: str, text: str, title_terms: set[str]) -> frozenset[str]:
        """The analysed terms of an article's headline and sentences, made once per article.

        Sentences with only white space between them are analysed as one text (~40 % quicker
        than one call each, a question's first reading of an article): the same terms, since
        `Analyzer.terms` reads token by token and no token holds white space."""
        terms = self._article_term_sets.get(doc_id)
        if terms is None:
            first, stop = self._doc_sentences[doc_id]
            starts = self._columns.start[first:stop].tolist()
            ends = self._columns.end[first:stop].tolist()
            if all(text[a:b].isspace() for a, b in zip(ends[:-1], starts[1:])):
                body = [frozenset(self.analyzer.terms(text[starts[0] : ends[-1]]))]
            else:
                sentences = zip(range(first, stop), starts, ends)
                body = [self._terms(i, text, a, b) for i, a, b in sentences]
            terms = frozenset(title_terms).union(*body)
            self._article_term_sets.put(doc_id, terms)
        return terms

    def _title(self, doc_id: str, title: str) -> set[str]:
        terms = self._title_terms.get(doc_id)
        if terms is None:
            terms = set(self.analyzer.terms(title or ""))
            self._title_terms.put(doc_id, terms)
        return terms

    # --- scoring, declining, choosing ---------------------------------------------------------

    def scores(
        self, candidates: Candidates, prior: Mapping[str, float] | None = None
    ) -> np.ndarray:
        """The ranker's score of every window (a log-odds scale), plus an optional prior.

        `prior` maps a doc_id to an additive score (e.g. a date boost); windows of other
        articles get 0.
        """
        scores = candidates.features @ self.model.ranker
        if prior:
            scores = scores + np.array(
                [prior.get(w.doc_id, 0.0) for w in candidates.windows], np.float32
            )
        return scores

    def answerable(self, candidates: Candidates, scores: np.ndarray) -> float:
        """P(the corpus holds the answer), from the decline model."""
        docs = [w.doc_id for w in candidates.windows]
        z = decline_features(candidates.features, scores, docs) @ self.model.decline
        return 1 / (1 + math.exp(-(float(z) + self.model.decline_intercept)))

    def answer_batch(
        self,
        questions: Sequence[str],
        query_vectors: np.ndarray,
        hits: Sequence[Sequence[Hit]],
        priors: Sequence[Mapping[str, float] | None] | None = None,
        newest_first: Sequence[bool] | None = None,
    ) -> list[Answer]:
        """One answer per question; `priors[i]` (optional) boosts articles for question i.

        `newest_first[i]` ranks a newer near-equal alternative above an older one
        (`qa.period.prefer_newest`): for questions that name no period, or "now".
        """
        answers = []
        for n, (question, qvec, question_hits) in enumerate(zip(questions, query_vectors, hits)):
            prior = priors[n] if priors else None
            newest = bool(newest_first[n]) if newest_first else False
            answers.append(self._answer(question, qvec, question_hits, prior, newest))
        return answers

    def _answer(
        self,
        question: str,
        qvec: np.ndarray,
        hits: Sequence[Hit],
        prior: Mapping | None,
        newest_first: bool = False,
    ) -> Answer:
        candidates = self.candidates(question, qvec, hits)
        if not candidates.windows:
            return Answer(question, abstained=True)
        # Whether to answer at all is judged without the date preferences: a period says which
        # evidence to prefer, not that there is any.
        plain = self.scores(candidates)
        if self.answerable(candidates, plain) < self.model.decline_threshold:
            return Answer(question, abstained=True)
        scores = self.scores(candidates, prior) if prior else plain
        if newest_first:
            scores = self._prefer_newest(candidates.windows, scores)
        chosen = self.choose(candidates, scores)
        snippets = []
        for n, (window, score, duplicates) in enumerate(chosen, 1):
            text = self._text(window)
            also = tuple(self._citation(0, w) for w in duplicates)
            snippets.append(
                Snippet(
                    text,
                    score,
                    self._citation(n, window),
                    # The phrase is looked for in the first snippet only: it is the answer.
                    answer=self._phrase(question, window, text) if n == 1 else None,
                    also=also,
                )
            )
        return Answer(question, abstained=False, snippets=tuple(snippets))

    def _prefer_newest(self, windows: Sequence[_Window], scores: np.ndarray) -> np.ndarray:
        """`qa.period.prefer_newest` over the windows, by their articles' dates and vectors."""
        dates = self.index.article_dates()
        days = [_day_of(dates[w.doc_id]) for w in windows]
        if sum(day is not None for day in days) < 2:
            return scores
        vectors = np.empty((len(windows), self.index.sentence_matrix.shape[1]), np.float32)
        for size in sorted({w.last - w.first + 1 for w in windows}):
            picked = [k for k, w in enumerate(windows) if w.last - w.first + 1 == size]
            vectors[picked] = self._window_vectors([windows[k].first for k in picked], size)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        w = self.weights
        margin = w.recency_margin * self.band
        return prefer_newest(scores, days, vectors, margin, w.recency_similarity)

    @property
    def band(self) -> float:
        """How far below the best a window may score and still be shown (the fitted
        `extra_ratio` as a score difference): the unit of the time preferences, so they keep
        their strength when the ranker is refitted on another scale."""
        return -math.log(min(max(self.model.extra_ratio, 1e-9), 1.0))

    def choose(
        self, candidates: Candidates, scores: np.ndarray
    ) -> list[tuple[_Window, float, list[_Window]]]:
        """The snippets to show (see `choose`)."""
        texts = self._texts(candidates.windows)
        picked = choose(
            candidates.windows,
            texts,
            scores,
            self.model.extra_ratio,
            self.model.duplicate_jaccard,
            self.max_snippets,
        )
        return [
            (candidates.windows[i], float(scores[i]), [candidates.windows[j] for j in twins])
            for i, twins in picked
        ]

    def _phrase(self, question: str, window: _Window, text: str) -> AnswerSpan | None:
        span = phrase.find_phrase(
            question, text, self.model.phrase, self.phrase_encoder, self.model.max_phrase_chars
        )
        if span is None:
            return None
        start, end = span
        if end - start > self.model.max_phrase_chars:
            return None
        return AnswerSpan(text[start:end], window.start + start, window.start + end)

    def _citation(self, n: int, window: _Window) -> Citation:
        article = self.index.articles[window.doc_id]
        return Citation(
            n,
            article.doc_id,
            article.title,
            article.date,
            article.source,
            window.start,
            window.end,
            http_url(article.url),
        )

    def _text(self, window: _Window) -> str:
        return self.index.articles[window.doc_id].text[window.start : window.end]

    def _texts(self, windows: Sequence[_Window]) -> list[str]:
        """The windows' texts, each article read once (not once per window)."""
        articles: dict[str, str] = {}
        texts = []
        for w in windows:
            text = articles.get(w.doc_id)
            if text is None:
                text = articles[w.doc_id] = self.index.articles[w.doc_id].text
            texts.append(text[w.start : w.end])
        return texts


# An article date's first day (`qa.period.day_of`), parsed once per date string.
_day_of = lru_cache(maxsize=1 << 12)(day_of)


def _term_columns(
    q: _QuestionTerms, found: np.ndarray, title: np.ndarray, body: np.ndarray
) -> dict[str, np.ndarray | float]:
    """The features read from which question terms (columns: `q.terms`) each window holds
    (`found`), its article's headline holds (`title`) and its article holds (`body`)."""
    terms, n, total = q.terms, len(q.q_terms), q.total_idf
    idf = np.array([q.idf[t] for t in terms], np.float64)
    near = found | title  # in the window or the headline

    def share(part: set[str], held: np.ndarray) -> np.ndarray | float:
        if not part:
            return 0.0
        return (held & np.array([t in part for t in terms], bool)).sum(axis=1) / len(part)

    numbers = np.array([t in q.numbers for t in terms], bool)
    return {
        "overlap": found.sum(axis=1) / n if n else 0.0,
        "idf_overlap": found @ idf / total,
        "idf_context": near @ idf / total,
        "idf_title": title @ idf / total,
        "cover_article": body.sum(axis=1) / n if n else 0.0,
        "idf_article": body @ idf / total,
        "rare_context": share(q.rare, near),
        "rare_article": share(q.rare, body),
        "numbers_missing": (numbers & ~body).any(axis=1),
        "rare_known_context": share(q.rare_known, near),
        "rare_known_article": share(q.rare_known, body),
    }


def _window_objects(context: _QuestionContext, table: _WindowTable) -> list[_Window]:
    """The windows of `table` as `_Window`s (what `choose` and the citations read)."""
    first_row, last_row = table.row, table.row + table.size - 1
    doc_ids = [table.articles[a].doc_id for a in table.article.tolist()]
    columns = (
        context.ids[first_row],
        context.ids[last_row],
        context.start[first_row],
        context.end[last_row],
        table.passage,
    )
    return [_Window(doc_id, *row) for doc_id, *row in zip(doc_ids, *(c.tolist() for c in columns))]


class _TermCache:
    """Analysed terms by key, forgotten all at once when `limit` keys are held: bounded memory
    with no bookkeeping on a hit (the reader asks it for every sentence it reads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: dict = {}

    def get(self, key):
        return self._items.get(key)

    def put(self, key, value) -> None:
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)


def decline_features(
    features: np.ndarray, scores: np.ndarray, doc_ids: Sequence[str]
) -> np.ndarray:
    """The decline model's inputs (`DECLINE_FEATURES`) from one question's candidates
    (`doc_ids`: the article of each candidate window)."""
    order = np.argsort(-scores, kind="stable")
    top = float(scores[order[0]])
    best = features[order[0]]
    second = float(scores[order[1]]) if len(order) > 1 else top - 5.0
    # The best window of another article: the first one in score order.
    other = next(
        (float(scores[i]) for i in order.tolist() if doc_ids[i] != doc_ids[order[0]]), None
    )
    col = _FEATURE_COLUMN.__getitem__
    return np.array(
        [
            top,
            top - second,
            best[col("sim_window")],
            best[col("sim_best")],
            best[col("passage_abs")],
            best[col("passage_keyword")],
            best[col("idf_overlap")],
            best[col("idf_context")],
            float(features[:, col("idf_context")].max()),
            best[col("idf_article")],
            best[col("rare_context")],
            best[col("rare_article")],
            best[col("numbers_missing")],
            float(features[:, col("rare_article")].max()),
            min(top - other, 5.0) if other is not None else 5.0,
            best[col("rare_known_context")],
            best[col("rare_known_article")],
            best[col("missing_known_idf")],
            best[col("unknown_terms")],
            float(features[:, col("rare_known_article")].max()),
        ],
        np.float32,
    )


def choose(
    windows: Sequence[_Window],
    texts: Sequence[str],
    scores: np.ndarray,
    extra_ratio: float,
    duplicate_jaccard: float,
    max_snippets: int,
) -> list[tuple[int, list[int]]]:
    """The best window, then others only when close in score and not the same evidence.

    A window is kept after the first only when exp(score - best) >= `extra_ratio` (the ranker's
    scores are log-odds, so this is a ratio of probabilities). A window overlapping a chosen one
    is skipped; a near-copy of a chosen one in another article (the same agency sentence in
    another paper: word-set Jaccard >= `duplicate_jaccard`) adds its citation to that snippet
    instead. Returns `(window index, [indexes of its near-copies])`, best first.
    """
    order = np.argsort(-scores, kind="stable")
    floor = float(scores[order[0]]) + math.log(max(extra_ratio, 1e-9))
    chosen: list[tuple[int, list[int]]] = []
    words: list[set[str]] = []
    for i in order:
        i = int(i)
        window = windows[i]
        if chosen and float(scores[i]) < floor:
            break
        if any(_overlaps(windows[k], window) for k, _ in chosen):
            continue
        mine = _words(texts[i])
        twin = next(
            (
                n
                for n, other in enumerate(words)
                if windows[chosen[n][0]].doc_id != window.doc_id
                and _jaccard(mine, other) >= duplicate_jaccard
            ),
            None,
        )
        if twin is not None:
            if not any(_overlaps(windows[k], window) for k in chosen[twin][1]):
                chosen[twin][1].append(i)
            continue
        if len(chosen) == max_snippets:
            break
        chosen.append((i, []))
        words.append(mine)
    return chosen


def _overlaps(a: _Window, b: _Window) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


_WORD = re.compile(r"\w+", re.U)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
