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
SHARED = REPO.parent / "shared"

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


def run_qa(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `qa` command line as a user would (same interpreter, shared cache)."""
    result = subprocess.run(
        [sys.executable, "-m", "qa.cli", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"qa {' '.join(args)} failed: {result.stderr}")
    return result
