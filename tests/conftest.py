"""Shared fixtures: one model cache and one real index of the seed articles per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
# Questions the seed corpus answers, for tests that compare two ways of searching it.
SEED_QUESTIONS = (
    "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
    "Wie hoch ist die Zugspitze?",
    "Wer hat WhatsApp gekauft?",
)
SHARED = REPO.parent / "shared"


def seed_sentences() -> list[str]:
    """Every sentence of the seed articles, as the index splits them."""
    from qa.chunking import sentence_spans

    out = []
    for path in sorted(SEEDS.iterdir()):
        text = path.read_text("utf-8")
        out += [text[a:b] for a, b in sentence_spans(text)]
    return out


def ranked_hits(hit_lists) -> list[list[tuple[str, float]]]:
    """Each search's hits as (chunk id, score), in order: what two searches must agree on."""
    return [[(h.chunk.chunk_id, h.score) for h in hits] for hits in hit_lists]


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Model and embedding cache, shared by every test and subprocess in the session.

    `QA_CACHE_DIR` (if set) is reused across sessions, which keeps local reruns fast.
    """
    path = Path(os.environ.get("QA_CACHE_DIR") or tmp_path_factory.mktemp("qa-cache"))
    os.environ["QA_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def settings(cache_dir):
    from qa.config import Settings

    return Settings(cache_dir=cache_dir)


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    for path in SEEDS.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, seed_corpus, settings) -> Path:
    """A real index (real model, real FAISS) of the two seed articles."""
    from qa.cli import run_index

    index_dir = tmp_path_factory.mktemp("seed-index")
    run_index(seed_corpus, index_dir, settings, show_progress=False)
    return index_dir


@pytest.fixture(scope="session")
def service(seed_index, settings):
    from qa.service import QAService

    return QAService(seed_index, settings)


def run_qa(
    *args: str, cwd: Path | None = None, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run the `qa` command line as a user would (same interpreter, shared cache); `stdin` is
    typed into it (`qa chat`)."""
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        cwd=cwd or REPO,
        input=stdin,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"qa {' '.join(args)} failed: {result.stderr}")
    return result


class HashEmbedder:
    """A tiny deterministic stand-in for the model: a unit bag-of-stems vector.

    Texts that share words get similar vectors, so retrieval, fusion, reading and declining can
    be tested as pure logic in milliseconds; the real-model tests check the real thing.
    """

    model_name = "test:hash-embedder"
    batch_size = 32
    dimension = 256

    def __init__(self):
        from qa.lexical import Analyzer

        self._analyzer = Analyzer("german")

    def _encode(self, texts):
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            for term in self._analyzer.terms(text):
                digest = hashlib.blake2b(term.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
            if not out[row].any():
                out[row, 0] = 1.0
        return out

    def encode_queries(self, texts):
        return self._encode(texts)

    def encode_passages(self, texts):
        return self._encode(texts)

    def passage_prefix(self) -> str:
        return ""


@pytest.fixture()
def hash_embedder():
    return HashEmbedder()


@pytest.fixture()
def pure_settings(tmp_path):
    """Settings for indexes made with `hash_embedder`: its similarities are lower than the
    model's, so the reader declines below its own threshold."""
    from qa.config import ReaderWeights, Settings

    return Settings(cache_dir=tmp_path / "cache", reader=ReaderWeights(decline_below=0.45))
