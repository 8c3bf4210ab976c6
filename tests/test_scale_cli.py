"""`qa index --index-type` and `qa serve --read-only` as a user runs them (real model, FAISS)."""

from __future__ import annotations

import json

from tests.conftest import run_qa

QUESTIONS = (
    "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
    "Wer hat WhatsApp gegründet?",
)


def manifest(index_dir) -> dict:
    version = (index_dir / "CURRENT").read_text().strip()
    return json.loads((index_dir / version / "manifest.json").read_text())


def test_approx_index_answers_like_the_exact_one(seed_corpus, seed_index, tmp_path):
    approx = tmp_path / "approx"
    run_qa("index", "--corpus", str(seed_corpus), "--index", str(approx), "--index-type", "approx")
    assert manifest(approx)["index_type"] == "approx"
    assert manifest(seed_index)["index_type"] == "exact"  # auto, small corpus
    version = approx / (approx / "CURRENT").read_text().strip()
    assert (version / "sentences.npy").exists()  # float vectors for re-scoring, memory-mapped
    batch = tmp_path / "questions.txt"
    batch.write_text("\n".join(QUESTIONS), "utf-8")
    answers = [
        run_qa("ask", "--index", str(d), "--json", "--batch", str(batch)).stdout.splitlines()
        for d in (seed_index, approx)
    ]
    assert answers[0] == answers[1]
    dated = run_qa("ask", "--index", str(approx), "--json", "--date-from", "1990", QUESTIONS[0])
    assert "abstained" in json.loads(dated.stdout)


def test_old_manifest_without_index_type_loads_as_exact(seed_index, tmp_path):
    import shutil

    from qa.index import SearchIndex

    copy = tmp_path / "old"
    shutil.copytree(seed_index, copy)
    path = copy / (copy / "CURRENT").read_text().strip() / "manifest.json"
    data = json.loads(path.read_text())
    data.pop("index_type")
    path.write_text(json.dumps(data))
    for name in ("texts.bin", "texts.npy"):  # written since texts are read from disk
        (path.parent / name).unlink()
    old, new = SearchIndex.load(copy), SearchIndex.load(seed_index)
    assert old.manifest.index_type == "exact"
    assert list(old.chunks) == list(new.chunks)  # texts from articles.jsonl instead
    assert [old.articles[d] for d in old.articles] == [new.articles[d] for d in new.articles]


def test_read_only_serve_never_indexes(seed_corpus, tmp_path):
    missing = tmp_path / "none"
    result = run_qa(
        "serve", "--read-only", "--index", str(missing), "--corpus", str(seed_corpus), check=False
    )
    assert result.returncode == 1 and "qa index" in result.stderr
    assert not missing.exists()


def test_feedback_off_writes_nothing(tmp_path):
    from qa.types import Answer
    from qa.ui.app import FeedbackLog

    entry = FeedbackLog(None).record("Frage?", Answer("Frage?", True), "up")
    assert entry["rating"] == "up" and not list(tmp_path.iterdir())
    FeedbackLog(tmp_path / "f.jsonl").record("Frage?", Answer("Frage?", True), "down")
    assert json.loads((tmp_path / "f.jsonl").read_text())["rating"] == "down"
