"""Evaluation metrics: small pure functions, testable with hand-made lists.

- retrieval: `hit@1`, `hit@3` on the articles the answer *cites* (an abstention cites nothing, so
  it is a miss); `hit@5`, `mrr@10` (and `ranking_hit@1/3`) on the retrieval ranking alone, i.e.
  the distinct articles of `Retriever.search_batch` in hit order for the same query vectors;
- answers: `snippet@1` / `snippet@3` (the first / any of the first three snippets holds a gold
  answer, case and white space ignored), `mean_snippet_chars`, `snippets_per_answer` (answered
  questions only); `phrase_f1` / `phrase_em`: snippet 1's answer phrase against the gold answers
  (SQuAD token F1 with MLQA's German article removal; no phrase or a decline scores 0);
- abstention: `declined` (false refusals on the set's own questions) and, with `--unanswerable`,
  `unanswerable_declined` (another set's questions asked against this corpus).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qa.phrase import exact_match, token_f1
from qa.types import Answer, Hit

RANK_DEPTH = 10

# Which step each metric measures: printed in the table and part of the JSON line.
METRIC_SOURCES = {
    "hit@1": "cited articles of the answer (abstained = miss)",
    "hit@3": "cited articles of the answer (abstained = miss)",
    "hit@5": "retrieval ranking (distinct articles in hit order)",
    "mrr@10": "retrieval ranking (distinct articles in hit order)",
    "ranking_hit@1": "retrieval ranking (distinct articles in hit order)",
    "ranking_hit@3": "retrieval ranking (distinct articles in hit order)",
    "snippet@1": "first snippet holds a gold answer (case, spacing ignored)",
    "snippet@3": "one of the first three snippets holds a gold answer",
    "mean_snippet_chars": "mean length of the snippets given",
    "declined": "share of the set's own questions declined (false refusals)",
    "phrase_f1": "token F1 of snippet 1's answer phrase vs gold (missing or declined = 0)",
    "phrase_em": "exact match of snippet 1's answer phrase (missing or declined = 0)",
    "snippets_per_answer": "snippets shown per answered question",
    "unanswerable_declined": "share of the other set's questions declined (higher is better)",
}


def normalise(text: str) -> str:
    """Case-folded, NFC, white space collapsed: how answers and snippets are compared."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def contains_answer(snippet: str, answers: Iterable[str]) -> bool:
    """Whether the snippet holds one of the gold answer texts (case and spacing ignored)."""
    text = normalise(snippet)
    return any(gold and gold in text for gold in map(normalise, answers))


def snippet_hit(snippets: Sequence[str], answers: Iterable[str], k: int) -> float:
    """1.0 when one of the first `k` snippets holds a gold answer, else 0.0."""
    answers = list(answers)
    return 1.0 if any(contains_answer(s, answers) for s in snippets[:k]) else 0.0


def distinct(ids: Iterable[str]) -> list[str]:
    """The ids in first-seen order without repeats (chunks of one article -> one entry)."""
    return list(dict.fromkeys(ids))


def hit_at(ranked_ids: Sequence[str], gold: str, k: int) -> float:
    """1.0 when `gold` is among the first `k` ids, else 0.0."""
    return 1.0 if gold in ranked_ids[:k] else 0.0


def mrr_at(ranked_ids: Sequence[str], gold: str, k: int) -> float:
    """Reciprocal rank of `gold` within the first `k` ids (0.0 when it is not there)."""
    for rank, doc_id in enumerate(ranked_ids[:k], start=1):
        if doc_id == gold:
            return 1.0 / rank
    return 0.0


def mean(values: Iterable[float]) -> float:
    """The arithmetic mean; 0.0 for no values, so an empty split reports zeros, not an error."""
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def cited_articles(answer: Answer) -> list[str]:
    """The distinct articles an answer cites, in snippet order (empty when it abstained)."""
    return distinct(s.citation.doc_id for s in answer.snippets)


def ranked_articles(hits: Sequence[Hit], depth: int = RANK_DEPTH) -> list[str]:
    """The distinct articles of a retrieval ranking in hit order, at most `depth`."""
    return distinct(h.chunk.doc_id for h in hits)[:depth]


@dataclass(frozen=True)
class Outcome:
    """What happened to one question: the record behind every metric (`--details`)."""

    qid: str
    question: str
    half: str
    gold: str
    answers: tuple[str, ...]
    abstained: bool
    cited: tuple[str, ...]
    ranked: tuple[str, ...]
    snippets: tuple[str, ...]
    phrase: str | None = None  # snippet 1's answer phrase, when the reader named one


def _best(measure, outcome: Outcome) -> float:
    """The best score of snippet 1's phrase against any gold answer (0 when there is none)."""
    if outcome.abstained or not outcome.phrase:
        return 0.0
    return max((measure(outcome.phrase, gold) for gold in outcome.answers), default=0.0)


def summarise(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Retrieval and answer metrics of a list of outcomes (see `METRIC_SOURCES`)."""

    def avg(values: Iterable[float]) -> float:
        return round(mean(values), 4)

    lengths = [len(s) for o in outcomes for s in o.snippets]
    return {
        "hit@1": avg(hit_at(o.cited, o.gold, 1) for o in outcomes),
        "hit@3": avg(hit_at(o.cited, o.gold, 3) for o in outcomes),
        "hit@5": avg(hit_at(o.ranked, o.gold, 5) for o in outcomes),
        "mrr@10": avg(mrr_at(o.ranked, o.gold, 10) for o in outcomes),
        "ranking_hit@1": avg(hit_at(o.ranked, o.gold, 1) for o in outcomes),
        "ranking_hit@3": avg(hit_at(o.ranked, o.gold, 3) for o in outcomes),
        "snippet@1": avg(snippet_hit(o.snippets, o.answers, 1) for o in outcomes),
        "snippet@3": avg(snippet_hit(o.snippets, o.answers, 3) for o in outcomes),
        "mean_snippet_chars": round(mean(lengths), 1),
        "declined": avg(o.abstained for o in outcomes),
        "phrase_f1": avg(_best(token_f1, o) for o in outcomes),
        "phrase_em": avg(_best(exact_match, o) for o in outcomes),
        "snippets_per_answer": round(
            mean(len(o.snippets) for o in outcomes if not o.abstained and o.snippets), 3
        ),
    }
