"""Incremental re-indexing and crash safety, through the public CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import REPO, SEEDS, run_qa

WHATSAPP = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
HAFEN = (
    "Hamburger Hafen meldet Rekordumschlag\n"
    "Der Hamburger Hafen hat im vergangenen Jahr 9,5 Millionen Container umgeschlagen. "
    "Das teilte die Hafenbehörde am Dienstag mit. Grund sei vor allem der Handel mit Asien."
)
BERGBAHN = (
    "Neue Bergbahn am Zugspitzplatt eröffnet\n"
    "Die neue Seilbahn auf die Zugspitze überwindet 1945 Höhenmeter in zehn Minuten. "
    "Betreiber ist die Bayerische Zugspitzbahn."
)


def index_json(corpus, index_dir) -> dict:
    result = run_qa("index", "--corpus", str(corpus), "--index", str(index_dir), "--json")
    return json.loads(result.stdout.splitlines()[-1])


def ask_json(index_dir, question) -> dict:
    return json.loads(run_qa("ask", "--index", str(index_dir), "--json", question).stdout)


def test_reindex_embeds_only_changes_and_forgets_removed_articles(tmp_path, cache_dir):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for seed in SEEDS.iterdir():
        (corpus / seed.name).write_bytes(seed.read_bytes())
    (corpus / "hafen.txt").write_text(HAFEN, encoding="utf-8")
    first = index_json(corpus, index_dir)
    assert (first["added"], first["updated"], first["removed"]) == (3, 0, 0)
    hafen = ask_json(index_dir, "Wie viele Container hat der Hamburger Hafen umgeschlagen?")
    assert "9,5 Millionen Container" in hafen["snippets"][0]["text"]

    (corpus / "hafen.txt").unlink()
    (corpus / "bergbahn.txt").write_text(BERGBAHN, encoding="utf-8")
    (corpus / "kopie.txt").write_text(BERGBAHN, encoding="utf-8")  # agency duplicate
    seed_000 = next(corpus.glob("000_*.txt"))
    # A sentence no earlier run has embedded, even with a cache kept across sessions.
    fresh = f"Ein neuer Schlusssatz mit der Kennung {uuid.uuid4().hex}."
    seed_000.write_text(seed_000.read_text("utf-8") + "\n" + fresh, "utf-8")
    second = index_json(corpus, index_dir)
    assert (second["added"], second["updated"], second["removed"], second["unchanged"]) == (
        1,
        1,
        1,
        1,
    )
    assert second["skipped"] == [{"source": "kopie.txt", "reason": "duplicate of bergbahn.txt"}]
    # Only the new article's sentences and the changed seed's new sentence were embedded.
    assert 0 < second["embedded"] < second["sentences"] / 2

    gone = ask_json(index_dir, "Wie viele Container hat der Hamburger Hafen umgeschlagen?")
    assert all(s["citation"]["source"] != "hafen.txt" for s in gone["snippets"])
    assert gone["abstained"]
    bahn = ask_json(index_dir, "Wie viele Höhenmeter überwindet die neue Zugspitzbahn?")
    assert [s["citation"]["source"] for s in bahn["snippets"]].count("bergbahn.txt") >= 1
    assert all(s["citation"]["source"] != "kopie.txt" for s in bahn["snippets"])


def test_service_picks_up_a_new_index_without_restart(tmp_path, settings):
    from qa.service import QAService

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "hafen.txt").write_text(HAFEN, encoding="utf-8")
    index_json(corpus, index_dir)
    service = QAService(index_dir, settings)
    assert service.ask("Was ist die neue Zugspitzbahn?").abstained
    (corpus / "bergbahn.txt").write_text(BERGBAHN, encoding="utf-8")
    index_json(corpus, index_dir)
    answer = service.ask("Wie viele Höhenmeter überwindet die neue Zugspitzbahn?")
    assert not answer.abstained and "1945 Höhenmeter" in answer.snippets[0].text


def _many_articles(folder, count: int) -> None:
    """Real seed text, made into distinct articles, enough to keep indexing busy for a while."""
    paragraphs = [
        p
        for seed in sorted(SEEDS.iterdir())
        for p in seed.read_text("utf-8").split("\n")
        if len(p) > 80
    ]
    for i in range(count):
        body = "\n".join(f"Meldung {i}-{j}: {p}" for j, p in enumerate(paragraphs))
        (folder / f"meldung_{i:04d}.txt").write_text(f"Meldung Nummer {i}\n{body}", "utf-8")


def _cached_vectors(cache) -> int:
    try:
        with sqlite3.connect(cache / "embeddings.sqlite", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_during_indexing_keeps_the_old_index_and_resumes(tmp_path, cache_dir):
    # A cache of its own (sharing only the model) so the kill lands in real embedding work.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(cache_dir / "models", target_is_directory=True)
    run_qa("--help")  # the model folder exists once any test built the seed index
    env = os.environ | {"QA_CACHE_DIR": str(cache)}
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for seed in SEEDS.iterdir():
        (corpus / seed.name).write_bytes(seed.read_bytes())
    cli = [sys.executable, "-m", "qa.cli"]
    subprocess.run(
        [*cli, "index", "--corpus", str(corpus), "--index", str(index_dir)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=600,
    )
    _many_articles(corpus, 60)

    proc = subprocess.Popen(
        [*cli, "index", "--corpus", str(corpus), "--index", str(index_dir)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while _cached_vectors(cache) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is not None:
        pytest.fail("indexing finished before it could be killed; make the corpus larger")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before_kill = _cached_vectors(cache)

    # The last complete index still answers.
    ask = subprocess.run(
        [*cli, "ask", "--index", str(index_dir), "--json", WHATSAPP],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    answer = json.loads(ask.stdout)
    assert "18 Milliarden" in answer["snippets"][0]["text"]

    # The next run completes and does not redo the work finished before the kill.
    rerun = subprocess.run(
        [*cli, "index", "--corpus", str(corpus), "--index", str(index_dir), "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    summary = json.loads(rerun.stdout.splitlines()[-1])
    assert summary["added"] == 60 and summary["unchanged"] == 2
    assert summary["embedded"] <= summary["sentences"] - done_before_kill
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
