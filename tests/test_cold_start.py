"""A new `qa ask` starts loading its encoder before the command line parser is built
(`qa.cli._start_preload`), from a guess that the real parse then confirms or discards."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from qa import cli


@pytest.fixture()
def started(monkeypatch) -> list[Path]:
    """The index folders an early encoder load was started for (nothing is loaded)."""
    calls: list[Path] = []

    def fake_preload(index_dir, models_dir, batch_size):
        calls.append(index_dir)
        return f"encoder for {index_dir}"

    import qa.embedding

    monkeypatch.setattr(qa.embedding, "preload_embedder", fake_preload)
    monkeypatch.setattr(cli, "_EARLY", {})
    return calls


@pytest.mark.parametrize(
    ("argv", "index"),
    [
        (["ask", "Wer?", "--index", "ix"], Path("ix")),
        (
            ["--debug", "--answer-phrase", "rules", "ask", "--index=ix2", "--json", "Wer?"],
            Path("ix2"),
        ),
        (["chat", "--json"], Path("index")),
        (["check", "Die Post erhöht das Porto.", "--index", "ix"], Path("ix")),
    ],
)
def test_query_commands_start_the_encoder_of_their_index(started, argv, index):
    cli._start_preload(argv)
    assert started == [index]
    args = argparse.Namespace(index=index, model=None)
    assert cli._preload(args) == f"encoder for {index}"  # taken once, by the real parse
    assert not cli._EARLY


@pytest.mark.parametrize(
    "argv",
    [
        ["index", "--corpus", "seeds"],
        ["serve", "--index", "ix"],
        ["--model", "other", "ask", "Wer?"],
        ["ask", "--help"],
        ["ask", "Wer?", "--index"],  # a usage error: the real parser reports it
        [],
    ],
)
def test_other_commands_and_bad_usage_start_nothing(started, argv):
    cli._start_preload(argv)
    assert started == []


def test_a_wrong_guess_is_not_used(started, monkeypatch):
    cli._start_preload(["ask", "Wer?", "--index", "ix"])
    args = argparse.Namespace(index=Path("other"), model=None)
    assert cli._preload(args) == f"encoder for {Path('other')}"  # loaded for the real index
    assert started == [Path("ix"), Path("other")]
