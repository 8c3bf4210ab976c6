"""The values that flow between the steps: articles -> chunks -> hits -> answer.

All are small frozen dataclasses; a step returns new values and never mutates what it got.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from qa.period import Period


@dataclass(frozen=True)
class Article:
    """One news article as read from the corpus.

    `text` is the article body exactly as indexed; every offset elsewhere points into it.
    """

    doc_id: str
    title: str
    date: str | None
    source: str
    text: str
    url: str | None = None
    publisher: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Skipped:
    """A corpus file (or record) that was not indexed, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article, `article.text[start:end]`; its id is its vector's row."""

    sentence_id: int
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A span `text == article.text[start:end]` of one article, the unit of retrieval."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the scores it was fused from."""

    chunk: Chunk
    score: float
    dense_score: float = 0.0
    sentence_score: float = 0.0
    lexical_score: float = 0.0


@dataclass(frozen=True)
class Citation:
    """Where a snippet stands: `article.text[start:end] == snippet.text`."""

    n: int
    doc_id: str
    title: str
    date: str | None
    source: str
    start: int
    end: int
    # The article's web address, only when it is an http(s) URL (see `http_url`).
    url: str | None = None


def http_url(url: str | None) -> str | None:
    """`url` when it is an absolute http or https URL, else None.

    Only such URLs are cited and linked: a `javascript:` or `data:` URL from a corpus file must
    never become a link.
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (
        parts.scheme.lower() in ("http", "https")
        and parts.netloc
        and not any(c.isspace() or ord(c) < 32 for c in url)
    ):
        return url
    return None


@dataclass(frozen=True)
class AnswerSpan:
    """The answer phrase inside a snippet: `article.text[start:end] == text`."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Snippet:
    text: str
    score: float
    citation: Citation
    # The figure, date or name that answers, when the reader can name it.
    answer: AnswerSpan | None = None
    # Near-copies of this snippet in other articles (the same agency text): their citations.
    also: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class Answer:
    question: str
    abstained: bool
    snippets: tuple[Snippet, ...] = field(default_factory=tuple)
    # The time the question named ("2019", "aktuell"), resolved against the archive; None if none.
    period: Period | None = None

    def to_dict(self) -> dict:
        """The public JSON contract of `qa ask --json` (extend, never rename or drop)."""
        return {
            "question": self.question,
            "abstained": self.abstained,
            "snippets": [
                {
                    "text": s.text,
                    "score": round(s.score, 4),
                    "citation": asdict(s.citation),
                    "answer": asdict(s.answer) if s.answer else None,
                    "also": [asdict(c) for c in s.also],
                }
                for s in self.snippets
            ],
            "period": self.period.to_dict() if self.period else None,
        }
