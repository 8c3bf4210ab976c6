"""Take-down: an article removed from the corpus leaves no copy of its text behind.

Where an article's text can be, and what happens to it:

- index versions (`<index>/v-*/`: `articles.jsonl` holds the text, `bm25/` its vocabulary): a
  build writes a new version and deletes every other version right after the switch
  (`qa.index`); `purge_old_versions` checks that and retries, so no old copy survives.
- the embedding cache (`$QA_CACHE_DIR/embeddings.sqlite`): rows are keyed by a SHA-256 of model
  and sentence and hold vectors, never text. A vector can still confirm a guessed sentence, so
  the rows of a removed article's sentences are deleted as well (unless a live article has the
  same sentence).
- the feedback log (`<index>/feedback.jsonl`): the lines whose answer cites a removed article
  (by id or source) are deleted.

`qa index` does this for every article that left the corpus; `qa forget SOURCE` takes an
article out of the live index at once, without re-reading the corpus.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.chunking import sentence_spans
from qa.config import Settings
from qa.embedding import EmbeddingCache
from qa.errors import IndexUnavailable, InvalidInput
from qa.index import CURRENT, live_version
from qa.types import Article

FEEDBACK = "feedback.jsonl"


@dataclass(frozen=True)
class TakeDown:
    """What a take-down removed: articles, feedback lines, cached vectors, old index versions."""

    articles: int = 0
    feedback_lines: int = 0
    cached_vectors: int = 0
    old_versions: int = 0


def live_articles(index_dir: Path) -> dict[str, Article]:
    """The live version's articles by doc_id; empty when there is no readable index."""
    try:
        path = live_version(index_dir) / "articles.jsonl"
        lines = path.read_text("utf-8").splitlines()
        return {a.doc_id: a for a in (Article(**json.loads(line)) for line in lines if line)}
    except (IndexUnavailable, OSError, ValueError, TypeError):
        return {}


def removed_articles(before: Mapping[str, Article], now: Mapping[str, Article]) -> list[Article]:
    """Articles of `before` that left: neither their text (doc_id) nor their source is live.

    An edited article keeps its source and is not a take-down; a renamed one keeps its text.
    """
    sources = {a.source for a in now.values()}
    return [a for d, a in before.items() if d not in now and a.source not in sources]


def after_rebuild(index_dir: Path, before: Mapping[str, Article], settings: Settings) -> TakeDown:
    """After `qa index`: remove every trace of the articles that are no longer in the corpus."""
    now = live_articles(index_dir)
    return scrub(index_dir, removed_articles(before, now), now.values(), settings)


def matches(article: Article, target: str) -> bool:
    """`target` names the article: its doc_id, its source, its file (for `file.jsonl#3`
    records) or a folder (ending in "/") that holds it."""
    source = article.source
    return (
        target in (article.doc_id, source)
        or source.startswith(target + "#")
        or (target.endswith("/") and source.startswith(target))
    )


def forget(
    index_dir: Path, targets: Sequence[str], settings: Settings, feedback: Path | None = None
) -> TakeDown:
    """Take the articles named by `targets` out of the live index now, and scrub their traces
    (also from `feedback`, when the chat writes its ratings elsewhere than the index folder).

    The new version is built from the live one's articles with the live settings; their
    vectors come from the embedding cache, so nothing is re-read and little or nothing embedded.
    """
    from qa.embedding import load_embedder
    from qa.index import SearchIndex, build_index

    index = SearchIndex.load(index_dir)
    articles = index.articles
    unknown = [t for t in targets if not any(matches(a, t) for a in articles.values())]
    if unknown:
        raise InvalidInput(
            f"nothing in {index_dir} matches {', '.join(map(repr, unknown))}: name a source as "
            "`qa ask --json` cites it (file, file#record, folder/) or a doc_id"
        )
    gone = [a for a in articles.values() if any(matches(a, t) for t in targets)]
    kept = [a for a in articles.values() if a not in gone]
    if not kept:
        raise InvalidInput(
            f"forgetting {', '.join(targets)} would leave {index_dir} empty: remove the index "
            "folder instead"
        )
    m = index.manifest
    settings = replace(
        settings,
        model=m.model,
        chunk_size=m.chunk_size,
        chunk_overlap=m.chunk_overlap,
        analyzer_language=m.analyzer,
    )
    embedder = load_embedder(m.model, m.encoder, settings.model_dir, settings.batch_size)
    build_index(kept, index_dir, settings, embedder, index_type=getattr(m, "index_type", "auto"))
    done = scrub(index_dir, gone, kept, settings)
    if feedback is not None and feedback != index_dir / FEEDBACK:
        done = replace(done, feedback_lines=done.feedback_lines + scrub_feedback(feedback, gone))
    return done


def scrub(
    index_dir: Path, removed: Sequence[Article], live: Iterable[Article], settings: Settings
) -> TakeDown:
    """Delete old index versions, the removed articles' cached vectors and feedback lines."""
    live = list(live)
    versions = purge_old_versions(index_dir)
    if not removed:
        return TakeDown(old_versions=versions)
    return TakeDown(
        articles=len(removed),
        feedback_lines=scrub_feedback(index_dir / FEEDBACK, removed),
        cached_vectors=drop_cached_vectors(settings.cache_dir / "embeddings.sqlite", removed, live),
        old_versions=versions,
    )


def purge_old_versions(index_dir: Path) -> int:
    """Delete every version folder but the live one (and leftovers of crashed builds).

    `qa.index` already does this after each switch, ignoring errors; here an error is fatal,
    because a version left behind would keep a removed article's text.
    """
    try:
        live = (index_dir / CURRENT).read_text("utf-8").strip()
    except OSError:
        return 0
    removed = 0
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry.name != live and entry.name.startswith(("v-", ".tmp-")):
            try:
                shutil.rmtree(entry)
            except FileNotFoundError:  # a concurrent build removed it first
                continue
            except OSError as err:
                raise IndexUnavailable(
                    f"cannot delete the old index version {entry} ({err.strerror}); it may hold "
                    "removed articles: delete it by hand"
                ) from err
            removed += 1
    return removed


def _cites(entry: dict, doc_ids: set[str], sources: set[str]) -> bool:
    answer = entry.get("answer") if isinstance(entry, dict) else None
    snippets = answer.get("snippets", []) if isinstance(answer, dict) else []
    for snippet in snippets:
        citation = snippet.get("citation", {}) if isinstance(snippet, dict) else {}
        if citation.get("doc_id") in doc_ids or citation.get("source") in sources:
            return True
    return False


def scrub_feedback(path: Path, removed: Sequence[Article]) -> int:
    """Delete the feedback lines that cite a removed article; returns how many.

    The log is rewritten aside and swapped in under the same lock the chat appends with, so a
    rating given meanwhile is neither lost nor torn. Unreadable lines are kept as they are.
    """
    if not path.exists():
        return 0
    doc_ids = {a.doc_id for a in removed}
    sources = {a.source for a in removed}
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        lines = handle.read().splitlines(keepends=True)
        kept = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                kept.append(line)
                continue
            if not _cites(entry, doc_ids, sources):
                kept.append(line)
        dropped = len(lines) - len(kept)
        if dropped:
            tmp = path.with_name(f".{path.name}.tmp")
            with tmp.open("w", encoding="utf-8") as out:
                out.writelines(kept)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
    return dropped


def drop_cached_vectors(
    cache_path: Path, removed: Sequence[Article], live: Sequence[Article]
) -> int:
    """Delete the cached vectors of the removed articles' sentences (for every model in the
    cache), except sentences a live article also has; returns how many rows went."""
    if not cache_path.exists():
        return 0
    keep = {_sentence for a in live for _sentence in sentences(a)}
    texts = {s for a in removed for s in sentences(a)} - keep
    if not texts:
        return 0
    db = sqlite3.connect(str(cache_path), timeout=60)
    try:
        models = [m for (m,) in db.execute("SELECT DISTINCT model FROM vectors")]
        keys = [(m, EmbeddingCache.key(m + "\x00" + t)) for m in models for t in texts]
        with db:
            before = db.total_changes
            db.executemany("DELETE FROM vectors WHERE model = ? AND key = ?", keys)
            deleted = db.total_changes - before
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as err:
        raise IndexUnavailable(f"cannot clean the embedding cache {cache_path}: {err}") from err
    finally:
        db.close()
    return deleted


def sentences(article: Article) -> list[str]:
    """The article's sentences as the index embeds them (the cache's keys)."""
    return [article.text[start:end] for start, end in sentence_spans(article.text)]
