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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa import phrase
from qa.config import ReaderWeights
from qa.index import SearchIndex, length_weighted_mean
from qa.lexical import Analyzer
from qa.period import day_of, prefer_newest
from qa.types import Answer, AnswerSpan, Citation, Hit, Sentence, Snippet, http_url

DECLINE_DE = "Dazu habe ich im Korpus nichts gefunden."
DECLINE_EN = "I found nothing about that in the corpus."
WEIGHTS_FILE = Path(__file__).with_name("reader_weights.json")

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


@dataclass(frozen=True)
class _Window:
    """One or more consecutive sentences of an article: a possible snippet."""

    doc_id: str
    first: int  # sentence id of the first sentence
    last: int
    start: int
    end: int
    passage: int  # rank of the passage it came from (0 = best)


@dataclass
class _QuestionContext:
    """What every candidate window of one question is scored against."""

    qvec: np.ndarray
    hits: list[Hit]
    passage_of: dict[int, int]  # sentence id -> rank of the first passage that holds it
    sims: dict[int, float]  # sentence id -> similarity to the question; leads added on demand
    top: float  # the best raw hit score (divisor of `passage_rel`)
    q_terms: set[str]
    idf: dict[str, float]
    total_idf: float
    rare: set[str]  # the question's two rarest terms
    rare_known: set[str]  # ... among those the corpus holds
    known_idf: dict[str, float]  # idf / log(corpus size) of the terms the corpus holds
    unknown_share: float  # share of question terms the corpus never holds
    numbers: set[str]  # the figures the question names
    form: re.Pattern[str] | None  # what an answer of the question's kind looks like


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
        self._title_terms: dict[str, set[str]] = {}
        self._sentence_terms: dict[int, frozenset[str]] = {}
        self._article_term_sets: dict[str, frozenset[str]] = {}

    # --- candidates and their features --------------------------------------------------------

    def candidates(self, question: str, qvec: np.ndarray, hits: Sequence[Hit]) -> Candidates:
        """Every window of 1..`max_sentences` sentences of the best passages, with features."""
        hits = list(hits[: self.passages])
        if not hits:
            return Candidates([], np.zeros((0, len(FEATURES)), np.float32))
        context = self._question_context(question, qvec, hits)
        windows, rows = [], []
        for sid in sorted(context.passage_of):
            self._add_windows_from(context, sid, windows, rows)
        features = np.array(rows, np.float32).reshape(len(rows), len(FEATURES))
        if self._shift:
            features[:, self._sim_columns] += self._shift
        return Candidates(windows, features)

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
        # The best raw score: a period boost may have put a lower one first (`qa.retrieval`).
        best_hit = max(hit.score for hit in hits)
        top = best_hit if best_hit > 0 else 1.0
        q_terms = set(self.analyzer.terms(question))
        idf, df = self._idf(q_terms)
        total_idf = sum(idf.values()) or 1.0
        rare = set(sorted(q_terms, key=lambda t: (-idf[t], t))[:2])
        known = [t for t in q_terms if df[t] > 0]
        log_n = math.log(1 + max(len(index.chunks), 1))
        known_idf = {t: idf[t] / log_n for t in known}
        rare_known = set(sorted(known, key=lambda t: (-idf[t], t))[:2])
        unknown_share = 1 - len(known) / len(q_terms) if q_terms else 0.0
        numbers = {t for t in q_terms if t[0].isdigit()}
        kind = phrase.question_kind(question)
        return _QuestionContext(
            qvec=qvec,
            hits=hits,
            passage_of=passage_of,
            sims=sims,
            top=top,
            q_terms=q_terms,
            idf=idf,
            total_idf=total_idf,
            rare=rare,
            rare_known=rare_known,
            known_idf=known_idf,
            unknown_share=unknown_share,
            numbers=numbers,
            form=_KIND_FORMS.get(kind),
        )

    def _add_windows_from(
        self, context: _QuestionContext, sid: int, windows: list[_Window], rows: list[tuple]
    ) -> None:
        """Append every window that starts at sentence `sid` (and its feature row)."""
        index = self.index
        doc_id = index.sentences[sid].doc_id
        article = index.articles[doc_id]
        title_terms = self._title(doc_id, article.title)
        article_terms = self._article_terms(doc_id, title_terms)
        for size in range(1, self.max_sentences + 1):
            last = sid + size - 1
            # A window stays inside the chosen passages and inside one article.
            if last not in context.passage_of or index.sentences[last].doc_id != doc_id:
                break
            start, end = index.sentences[sid].start, index.sentences[last].end
            passage = min(context.passage_of[m] for m in range(sid, last + 1))
            window = _Window(doc_id, sid, last, start, end, passage)
            rows.append(
                self._window_features(context, window, article.text, title_terms, article_terms)
            )
            windows.append(window)

    def _window_features(
        self,
        context: _QuestionContext,
        window: _Window,
        article_text: str,
        title_terms: set[str],
        article_terms: frozenset[str],
    ) -> tuple[float, ...]:
        """The feature row (`FEATURES` order) of one window."""
        q_terms = context.q_terms
        sid, last = window.first, window.last
        size = last - sid + 1
        members = list(range(sid, last + 1))
        doc_first, doc_stop = self._doc_sentences[window.doc_id]
        window_sim, best_sim, neighbour_sim, lead_sim = self._similarities(context, window)
        hit = context.hits[window.passage]
        terms = set().union(*(self._terms(m) for m in members))
        found = q_terms & terms
        in_title = q_terms & title_terms
        n_doc = max(doc_stop - doc_first - 1, 1)
        idf, total_idf, form = context.idf, context.total_idf, context.form
        text = article_text[window.start : window.end]
        in_article = q_terms & article_terms
        rare = context.rare
        return (
            window_sim,
            best_sim,
            neighbour_sim,
            lead_sim,
            hit.score / context.top,
            hit.score,
            1.0 if window.passage == 0 else 0.0,
            hit.lexical_score,
            len(found) / len(q_terms) if q_terms else 0.0,
            sum(idf[t] for t in found) / total_idf,
            sum(idf[t] for t in found | in_title) / total_idf,
            sum(idf[t] for t in in_title) / total_idf,
            1.0 if form is not None and form.search(text) else 0.0,
            1.0 if sid == doc_first else 0.0,
            (sid - doc_first) / n_doc,
            (window.end - window.start) / 100,
            1.0 if size > 1 else 0.0,
            len(in_article) / len(q_terms) if q_terms else 0.0,
            sum(idf[t] for t in in_article) / total_idf,
            len(rare & (found | in_title)) / len(rare) if rare else 0.0,
            len(rare & in_article) / len(rare) if rare else 0.0,
            1.0 if context.numbers - article_terms else 0.0,
            _share(context.rare_known, found | in_title),
            _share(context.rare_known, in_article),
            max((v for t, v in context.known_idf.items() if t not in in_article), default=0.0),
            context.unknown_share,
        )

    def _similarities(
        self, context: _QuestionContext, window: _Window
    ) -> tuple[float, float, float, float]:
        """The question's cosine with the window as a whole, its best sentence, the best
        sentence just outside it, and the article's lead sentence."""
        index, sims = self.index, context.sims
        sid, last = window.first, window.last
        members = list(range(sid, last + 1))
        doc_first, doc_stop = self._doc_sentences[window.doc_id]
        if sid == last:
            window_sim = sims[sid]
        else:
            parts = [index.sentences[m] for m in members]
            vector = length_weighted_mean(
                index.sentence_matrix[members], [p.end - p.start for p in parts]
            )
            window_sim = float(vector @ context.qvec)
        neighbours = [
            sims[i] for i in (sid - 1, last + 1) if i in sims and doc_first <= i < doc_stop
        ]
        lead_sim = sims.get(doc_first)
        if lead_sim is None:
            # Cached in `sims`, so later windows of the article may also use it as a neighbour.
            lead_sim = float(index.sentence_matrix[doc_first] @ context.qvec)
            sims[doc_first] = lead_sim
        return window_sim, max(sims[m] for m in members), max(neighbours, default=0.0), lead_sim

    def _idf(self, terms: set[str]) -> tuple[dict[str, float], Mapping[str, int]]:
        """Rarity of each question term among the corpus' chunks (unknown terms: rarest), and
        the chunk counts it is computed from."""
        n = max(len(self.index.chunks), 1)
        df = self.index.keywords.document_frequency(sorted(terms))
        return {t: math.log(1 + n / (1 + df[t])) for t in terms}, df

    def _terms(self, sentence_id: int) -> frozenset[str]:
        """A sentence's analysed terms, computed once per sentence."""
        terms = self._sentence_terms.get(sentence_id)
        if terms is None:
            s = self.index.sentences[sentence_id]
            text = self.index.articles[s.doc_id].text[s.start : s.end]
            terms = self._sentence_terms[sentence_id] = frozenset(self.analyzer.terms(text))
        return terms

    def _article_terms(self, doc_id: str, title_terms: set[str]) -> frozenset[str]:
        """The analysed terms of an article's headline and body, computed once per article."""
        terms = self._article_term_sets.get(doc_id)
        if terms is None:
            first, stop = self._doc_sentences[doc_id]
            terms = frozenset(title_terms).union(*(self._terms(i) for i in range(first, stop)))
            self._article_term_sets[doc_id] = terms
        return terms

    def _title(self, doc_id: str, title: str) -> set[str]:
        terms = self._title_terms.get(doc_id)
        if terms is None:
            terms = self._title_terms[doc_id] = set(self.analyzer.terms(title or ""))
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
        days = [day_of(self.index.articles[w.doc_id].date) for w in windows]
        if sum(day is not None for day in days) < 2:
            return scores
        vectors = np.array(
            [
                length_weighted_mean(
                    self.index.sentence_matrix[w.first : w.last + 1],
                    [s.end - s.start for s in self.index.sentences[w.first : w.last + 1]],
                )
                for w in windows
            ],
            np.float32,
        )
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
        texts = [self._text(w) for w in candidates.windows]
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


def _share(part: set[str], found: set[str]) -> float:
    return len(part & found) / len(part) if part else 0.0


def decline_features(
    features: np.ndarray, scores: np.ndarray, doc_ids: Sequence[str]
) -> np.ndarray:
    """The decline model's inputs (`DECLINE_FEATURES`) from one question's candidates
    (`doc_ids`: the article of each candidate window)."""
    order = np.argsort(-scores, kind="stable")
    top = float(scores[order[0]])
    best = features[order[0]]
    second = float(scores[order[1]]) if len(order) > 1 else top - 5.0
    others = [float(scores[i]) for i in order if doc_ids[i] != doc_ids[order[0]]]
    col = FEATURES.index
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
            min(top - others[0], 5.0) if others else 5.0,
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
