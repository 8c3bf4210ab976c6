"""Take-down: an article deleted from the corpus leaves no trace after the next `qa index`, and
`qa forget` removes one at once. Its text must be found in no file under the index folder or the
cache folder (index versions, embedding cache with its WAL, feedback log)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qa.chunking import sentence_spans
from qa.embedding import EmbeddingCache
from tests.conftest import REPO

# Two articles nobody else has: words that occur nowhere else, so any hit is a leftover.
LEFT = (
    "Ulmenhausener Brückengeheimnis\n"
    "Der Stadtrat von Ulmenhausen ließ die Zebrabrücke für 7,3 Millionen Euro sanieren. "
    "Die Arbeiten an der Zebrabrücke dauerten neunzehn Monate. Anwohner klagten über den Lärm."
)
FORGOTTEN = (
    "Quappenrieder Wasserstreit\n"
    "In Quappenried stritten zwei Fischereivereine um den Zugang zum Krötenweiher. "
    "Das Landgericht wies beide Klagen ab. Der Krötenweiher bleibt für alle offen."
)


def run(env: dict, *args) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def world(tmp_path_factory, seed_corpus, cache_dir):
    """A private cache (the model linked in from the shared one), a corpus of the seeds and the
    two articles, and its index."""
    root = tmp_path_factory.mktemp("takedown")
    cache = root / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(cache_dir / "models", target_is_directory=True)
    corpus = root / "corpus"
    shutil.copytree(seed_corpus, corpus)
    (corpus / "bruecke.txt").write_text(LEFT, "utf-8")
    (corpus / "weiher.txt").write_text(FORGOTTEN, "utf-8")
    env = os.environ | {"QA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    run(env, "index", "--corpus", corpus, "--index", root / "index")
    return {"root": root, "cache": cache, "corpus": corpus, "index": root / "index", "env": env}


def files_with(folders: list[Path], words: tuple[str, ...]) -> list[str]:
    """Every file below the folders (not following links) whose bytes contain one of the words."""
    needles = [w.encode("utf-8") for w in words]
    found = []
    for folder in folders:
        for dirpath, _, names in os.walk(folder, followlinks=False):
            for name in names:
                path = Path(dirpath, name)
                if path.is_symlink():
                    continue
                data = path.read_bytes()
                found += [f"{path}: {n.decode()}" for n in needles if n in data]
    return found


def cached_rows(cache: Path, text: str) -> int:
    """Rows of the embedding cache that hold vectors of the text's sentences (any model)."""
    db = sqlite3.connect(str(cache / "embeddings.sqlite"))
    try:
        models = [m for (m,) in db.execute("SELECT DISTINCT model FROM vectors")]
        spans = list(sentence_spans(text))
        keys = [EmbeddingCache.key(f"{m}\x00{text[a:b]}") for m in models for a, b in spans]
        marks = ",".join("?" * len(keys))
        query = f"SELECT COUNT(*) FROM vectors WHERE key IN ({marks})"
        return db.execute(query, keys).fetchone()[0]
    finally:
        db.close()


def live_articles(index: Path) -> dict[str, dict]:
    version = (index / "CURRENT").read_text("utf-8").strip()
    lines = (index / version / "articles.jsonl").read_text("utf-8").splitlines()
    return {a["source"]: a for a in map(json.loads, lines)}


def feedback_line(article: dict, question: str) -> str:
    """A feedback entry as the chat writes it, quoting the article's first sentence."""
    start, end = next(iter(sentence_spans(article["text"])))
    citation = {"n": 1, "doc_id": article["doc_id"], "title": article["title"]}
    citation |= {"date": article["date"], "source": article["source"], "start": start, "end": end}
    snippet = {"text": article["text"][start:end], "score": 1.2, "citation": citation}
    answer = {"question": question, "abstained": False, "snippets": [snippet]}
    entry = {"time": "2026-01-01T00:00:00+00:00", "question": question, "answer": answer}
    return json.dumps(entry | {"rating": "up"}, ensure_ascii=False) + "\n"


def test_forget_removes_an_article_at_once(world):
    index, cache, env = world["index"], world["cache"], world["env"]
    words = ("Quappenried", "Krötenweiher")
    if "weiher.txt" not in live_articles(index):
        pytest.skip("weiher.txt is no longer indexed (the tests ran in another order)")
    doc_id = live_articles(index)["weiher.txt"]["doc_id"]
    result = run(env, "forget", "weiher.txt", "--index", index, "--json")

    assert json.loads(result.stdout)["articles"] == 1
    assert "weiher.txt" not in live_articles(index)
    assert "003_7389650ab9ad13f7.txt" in live_articles(index)
    assert files_with([index, cache], words) == []
    assert cached_rows(cache, FORGOTTEN) == 0
    shown = subprocess.run(
        [sys.executable, "-m", "qa.cli", "show", doc_id, "--index", str(index)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert shown.returncode == 1 and doc_id in shown.stderr


def test_an_article_deleted_from_the_corpus_is_gone_after_the_next_index(world):
    index, cache, corpus, env = world["index"], world["cache"], world["corpus"], world["env"]
    words = ("Ulmenhausen", "Zebrabrücke")
    articles = live_articles(index)
    assert "bruecke.txt" in articles and files_with([index], words)  # the search finds it
    assert cached_rows(cache, LEFT) >= 3
    feedback = index / "feedback.jsonl"
    with feedback.open("a", encoding="utf-8") as out:
        out.write(feedback_line(articles["bruecke.txt"], "Was kostete die Brücke?"))
        out.write(feedback_line(articles["003_7389650ab9ad13f7.txt"], "Wer gründete WhatsApp?"))
    # Copies a crashed build or an undeletable old version might have left behind.
    live = (index / "CURRENT").read_text("utf-8").strip()
    shutil.copytree(index / live, index / "v-20000101-000000-old")
    shutil.copytree(index / live, index / ".tmp-crashed")

    (corpus / "bruecke.txt").unlink()
    (corpus / "weiher.txt").unlink(missing_ok=True)
    result = run(env, "index", "--corpus", corpus, "--index", index, "--json")

    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["removed"] >= 1
    assert summary["takedown"]["articles"] >= 1 and summary["takedown"]["feedback_lines"] == 1
    assert summary["takedown"]["cached_vectors"] >= 3
    assert files_with([index, cache], words) == []
    assert cached_rows(cache, LEFT) == 0
    kept = feedback.read_text("utf-8").splitlines()
    assert len(kept) == 1 and "WhatsApp" in json.loads(kept[0])["question"]
    assert sorted(p.name for p in index.iterdir() if p.is_dir()) == [
        (index / "CURRENT").read_text("utf-8").strip()
    ]
