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

from qa.embedding import Embedder
from qa.index import SearchIndex
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
class ReaderWeights:
    """How a candidate sentence's score is made; chosen on held-out data (docs/results.md)."""

    sentence: float = 1.0
    passage: float = 0.3
    overlap: float = 0.2
    answer_kind: float = 0.05
    # Below this similarity of the best sentence to the question, the reader declines.
    decline_below: float = 0.80
    # Extra snippets must score at least this share of the best one.
    keep_ratio: float = 0.9


@dataclass(frozen=True)
class _Candidate:
    doc_id: str
    index: int  # position among the article's sentences
    start: int
    end: int
    passage_score: float


class Reader:
    """Selects and cites answer sentences from the hits of one question (or a batch)."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        analyzer: Analyzer,
        passages: int = 3,
        max_snippets: int = 3,
        max_sentences: int = 2,
        weights: ReaderWeights = ReaderWeights(),
    ):
        self.index = index
        self.embedder = embedder
        self.analyzer = analyzer
        self.passages = passages
        self.max_snippets = max_snippets
        self.max_sentences = max_sentences
        self.weights = weights

    def _candidates(self, hits: Sequence[Hit]) -> list[_Candidate]:
        seen: set[tuple[str, int]] = set()
        out = []
        top = hits[0].score if hits else 1.0
        for hit in hits[: self.passages]:
            chunk = hit.chunk
            for i, (start, end) in enumerate(self.index.sentences(chunk.doc_id)):
                if end <= chunk.start or start >= chunk.end or (chunk.doc_id, i) in seen:
                    continue
                seen.add((chunk.doc_id, i))
                out.append(_Candidate(chunk.doc_id, i, start, end, hit.score / top))
        return out

    def answer_batch(
        self, questions: Sequence[str], query_vectors: np.ndarray, hits: Sequence[Sequence[Hit]]
    ) -> list[Answer]:
        candidates = [self._candidates(h) for h in hits]
        texts = [
            self.index.articles[c.doc_id].text[c.start : c.end] for cs in candidates for c in cs
        ]
        vectors = self.embedder.encode_passages(texts)
        answers, offset = [], 0
        for question, qvec, cands in zip(questions, query_vectors, candidates):
            similarity = vectors[offset : offset + len(cands)] @ qvec
            offset += len(cands)
            answers.append(self._answer(question, cands, similarity))
        return answers

    def _answer(self, question: str, cands: list[_Candidate], similarity: np.ndarray) -> Answer:
        if not cands or float(similarity.max()) < self.weights.decline_below:
            return Answer(question, abstained=True)
        scores = self._scores(question, cands, similarity)
        order = np.argsort(-scores)
        best = float(scores[order[0]])
        chosen: list[tuple[int, int, str, float]] = []  # (start, end, doc_id, score)
        for ci in order:
            if len(chosen) == self.max_snippets:
                break
            score = float(scores[ci])
            if chosen and score < best * self.weights.keep_ratio:
                break
            cand = cands[ci]
            start, end = self._extend(cand, cands, scores)
            if any(d == cand.doc_id and s < end and start < e for s, e, d, _ in chosen):
                continue
            chosen.append((start, end, cand.doc_id, score))
        snippets = []
        for n, (start, end, doc_id, score) in enumerate(chosen, 1):
            article = self.index.articles[doc_id]
            citation = Citation(n, doc_id, article.title, article.date, article.source, start, end)
            snippets.append(Snippet(article.text[start:end], score, citation))
        return Answer(question, abstained=False, snippets=tuple(snippets))

    def _scores(self, question: str, cands: list[_Candidate], similarity: np.ndarray) -> np.ndarray:
        w = self.weights
        question_terms = set(self.analyzer.terms(question))
        kinds = [sentence_form for asks, sentence_form in _ANSWER_KINDS if asks.search(question)]
        scores = np.empty(len(cands), np.float32)
        for i, cand in enumerate(cands):
            text = self.index.articles[cand.doc_id].text[cand.start : cand.end]
            overlap = 0.0
            if question_terms:
                overlap = len(question_terms & set(self.analyzer.terms(text))) / len(question_terms)
            kind = 1.0 if kinds and all(form.search(text) for form in kinds) else 0.0
            scores[i] = (
                w.sentence * similarity[i]
                + w.passage * cand.passage_score
                + w.overlap * overlap
                + w.answer_kind * kind
            )
        return scores

    def _extend(
        self, cand: _Candidate, cands: list[_Candidate], scores: np.ndarray
    ) -> tuple[int, int]:
        """Add the better-scoring neighbour sentence when a second sentence is allowed."""
        if self.max_sentences < 2:
            return cand.start, cand.end
        neighbours = {
            c.index: (c, float(scores[i]))
            for i, c in enumerate(cands)
            if c.doc_id == cand.doc_id and abs(c.index - cand.index) == 1
        }
        if not neighbours:
            return cand.start, cand.end
        other, _ = max(neighbours.values(), key=lambda pair: pair[1])
        # A short sentence rarely stands alone; a long one does.
        if cand.end - cand.start >= 120:
            return cand.start, cand.end
        return min(cand.start, other.start), max(cand.end, other.end)
