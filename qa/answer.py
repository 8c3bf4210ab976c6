"""Hits -> answer: pick the sentences that answer the question, quote them, cite them.

Nothing is generated. Each snippet is one or two consecutive sentences copied from an article,
with the offsets that locate it. When the best candidate is not close enough to the question,
the reader declines instead of quoting something unrelated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.config import ReaderWeights
from qa.index import SearchIndex, length_weighted_mean
from qa.lexical import Analyzer
from qa.types import Answer, Citation, Hit, Snippet

DECLINE_DE = "Dazu habe ich im Korpus nichts gefunden."
DECLINE_EN = "I found nothing about that in the corpus."

# What kind of answer a question asks for, and what such an answer looks like in a sentence.
_ANSWER_KINDS = [
    (
        re.compile(
            r"\b(wie ?viele?|wieviel|how (many|much)|wie (hoch|groß|lang|alt|weit|schwer))\b", re.I
        ),
        re.compile(
            r"\d|\b(ein|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|hundert|tausend)\w*\b", re.I
        ),
    ),
    (
        re.compile(r"\b(wann|seit wann|in welchem jahr|when|what year)\b", re.I),
        re.compile(
            r"\b(1[0-9]{3}|20[0-9]{2})\b|\b\d{1,2}\. ?(januar|februar|märz|april|mai|juni|juli|"
            r"august|september|oktober|november|dezember)|jahrhundert",
            re.I,
        ),
    ),
]


@dataclass(frozen=True)
class _Window:
    """One or more consecutive sentences of an article: a possible snippet."""

    doc_id: str
    first: int  # index of the first sentence among the article's sentences
    last: int
    start: int
    end: int
    passage_score: float


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
    ):
        self.index = index
        self.analyzer = analyzer
        self.passages = passages
        self.max_snippets = max_snippets
        self.max_sentences = max_sentences
        self.weights = weights or ReaderWeights()

    def _sentences(self, hits: Sequence[Hit]) -> list[_Window]:
        """The sentences of the best passages, once each, with their passage's relative score."""
        seen: set[int] = set()
        out = []
        top = hits[0].score if hits and hits[0].score > 0 else 1.0
        for hit in hits[: self.passages]:
            for sid in self.index.chunk_sentences[hit.chunk.chunk_id]:
                if sid in seen:
                    continue
                seen.add(sid)
                s = self.index.sentences[sid]
                out.append(_Window(s.doc_id, sid, sid, s.start, s.end, hit.score / top))
        return out

    def _windows(self, sentences: list[_Window], vectors: np.ndarray):
        """Single sentences plus runs of up to `max_sentences` consecutive ones."""
        position = {s.first: i for i, s in enumerate(sentences)}
        windows, window_vectors = [], []
        for s in sentences:
            for size in range(1, self.max_sentences + 1):
                members = [position.get(s.first + k) for k in range(size)]
                if None in members or sentences[members[-1]].doc_id != s.doc_id:
                    break
                parts = [sentences[m] for m in members]
                lengths = [p.end - p.start for p in parts]
                window_vectors.append(length_weighted_mean(vectors[members], lengths))
                windows.append(
                    _Window(
                        s.doc_id,
                        s.first,
                        parts[-1].first,
                        s.start,
                        parts[-1].end,
                        max(p.passage_score for p in parts),
                    )
                )
        return windows, np.array(window_vectors, np.float32).reshape(len(windows), -1)

    def answer_batch(
        self, questions: Sequence[str], query_vectors: np.ndarray, hits: Sequence[Sequence[Hit]]
    ) -> list[Answer]:
        answers = []
        for question, qvec, question_hits in zip(questions, query_vectors, hits):
            sentences = self._sentences(question_hits)
            vectors = self.index.sentence_matrix[[s.first for s in sentences]]
            top_passage = question_hits[0].score if question_hits else 0.0
            answers.append(self._answer(question, qvec, sentences, vectors, top_passage))
        return answers

    def confidence(self, top_passage: float, sentence_similarity: np.ndarray) -> float:
        share = self.weights.confidence_passage
        return share * top_passage + (1 - share) * float(sentence_similarity.max())

    def _text(self, window: _Window) -> str:
        return self.index.articles[window.doc_id].text[window.start : window.end]

    def _answer(
        self,
        question: str,
        qvec: np.ndarray,
        sentences: list[_Window],
        vectors: np.ndarray,
        top_passage: float,
    ) -> Answer:
        if (
            not sentences
            or self.confidence(top_passage, vectors @ qvec) < self.weights.decline_below
        ):
            return Answer(question, abstained=True)
        windows, window_vectors = self._windows(sentences, vectors)
        scores = self._scores(question, windows, window_vectors @ qvec)
        order = np.argsort(-scores, kind="stable")
        best = float(scores[order[0]])
        chosen: list[tuple[_Window, float]] = []
        for i in order:
            if len(chosen) == self.max_snippets:
                break
            window, score = windows[i], float(scores[i])
            if chosen and score < best * self.weights.keep_ratio:
                break
            if any(
                w.doc_id == window.doc_id and w.start < window.end and window.start < w.end
                for w, _ in chosen
            ):
                continue
            chosen.append((window, score))
        snippets = []
        for n, (window, score) in enumerate(chosen, 1):
            article = self.index.articles[window.doc_id]
            citation = Citation(
                n,
                article.doc_id,
                article.title,
                article.date,
                article.source,
                window.start,
                window.end,
            )
            snippets.append(Snippet(self._text(window), score, citation))
        return Answer(question, abstained=False, snippets=tuple(snippets))

    def _scores(self, question: str, windows: list[_Window], similarity: np.ndarray) -> np.ndarray:
        w = self.weights
        question_terms = set(self.analyzer.terms(question))
        kinds = [form for asks, form in _ANSWER_KINDS if asks.search(question)]
        scores = np.empty(len(windows), np.float32)
        for i, window in enumerate(windows):
            text = self._text(window)
            overlap = 0.0
            if question_terms:
                overlap = len(question_terms & set(self.analyzer.terms(text))) / len(question_terms)
            kind = 1.0 if kinds and all(form.search(text) for form in kinds) else 0.0
            excess = max(0, len(text) - w.free_chars) / 100
            scores[i] = (
                w.sentence * similarity[i]
                + w.passage * window.passage_score
                + w.overlap * overlap
                + w.answer_kind * kind
                - w.length * excess
            )
        return scores
