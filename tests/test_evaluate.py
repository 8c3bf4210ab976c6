"""`qa eval`: the metric functions on hand-made cases, the dataset reader, and one real CLI run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.config import Settings, apply_overrides, settable
from qa.corpus import article_id
from qa.errors import EvalError, InvalidInput
from qa.eval.datasets import load_dataset, merge, select, spread
from qa.eval.metrics import (
    Outcome,
    contains_answer,
    distinct,
    hit_at,
    mrr_at,
    percentile,
    snippet_hit,
    summarise,
)
from qa.types import Article

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
XQUAD = SHARED / "eval" / "xquad.de.json"


# --- Metrics ------------------------------------------------------------------------------------


def test_hit_at_rank_two() -> None:
    ranked = ["a", "gold", "c"]
    assert hit_at(ranked, "gold", 1) == 0.0
    assert hit_at(ranked, "gold", 2) == 1.0
    assert hit_at(ranked, "gold", 5) == 1.0
    assert hit_at([], "gold", 3) == 0.0


def test_mrr_of_a_hit_at_rank_two_is_one_half() -> None:
    assert mrr_at(["a", "gold", "c"], "gold", 10) == 0.5
    assert mrr_at(["gold"], "gold", 10) == 1.0
    assert mrr_at(["a", "b", "gold"], "gold", 2) == 0.0  # beyond the cut-off
    assert mrr_at([], "gold", 10) == 0.0


def test_distinct_keeps_first_occurrence_order() -> None:
    assert distinct(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_snippet_holding_the_answer_with_other_spacing_and_case_counts() -> None:
    snippet = "Die Panthers gaben nur\n308  Punkte ab und fingen vier INTERCEPTIONS."
    assert contains_answer(snippet, ["308 Punkte"])
    assert contains_answer(snippet, ["vier Interceptions"])
    assert contains_answer(snippet, ["  vier\tinterceptions "])
    assert not contains_answer(snippet, ["309 Punkte"])
    assert not contains_answer(snippet, [""])  # an empty gold answer never matches
    assert not contains_answer("", ["308"])


def test_snippet_comparison_composes_umlauts() -> None:
    decomposed = "Die Fl\u0075\u0308sse in Europa"  # u + combining diaeresis
    assert contains_answer(decomposed, ["Flüsse"])


def test_snippet_hit_looks_at_the_first_k_snippets() -> None:
    snippets = ("nichts", "hier steht 1879", "auch 1879")
    assert snippet_hit(snippets, ["1879"], 1) == 0.0
    assert snippet_hit(snippets, ["1879"], 3) == 1.0
    assert snippet_hit((), ["1879"], 3) == 0.0


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of the input does not matter
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarise_cited_and_ranked_metrics_apart() -> None:
    answered = Outcome(
        qid="1",
        question="Wann?",
        half="tune",
        gold="g",
        answers=("1879",),
        abstained=False,
        cited=("x", "g"),
        ranked=("x", "g", "y"),
        snippets=("Er kam 1912.", "Er wurde 1879 geboren."),
    )
    declined = Outcome("2", "Wer?", "test", "g", ("Koum",), True, (), ("g",), ())
    metrics = summarise([answered, declined])
    assert metrics["hit@1"] == 0.0  # cited: x first; the declined answer cites nothing
    assert metrics["hit@3"] == 0.5
    assert metrics["ranking_hit@1"] == 0.5  # the ranking had g first for the declined one
    assert metrics["hit@5"] == 1.0
    assert metrics["mrr@10"] == 0.75  # (1/2 + 1/1) / 2
    assert metrics["snippet@1"] == 0.0
    assert metrics["snippet@3"] == 0.5
    assert metrics["declined"] == 0.5
    assert metrics["mean_snippet_chars"] == (12 + 22) / 2


def test_spread_takes_even_steps() -> None:
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread([1, 2], 5) == [1, 2]
    assert spread([1, 2], 0) == []


def test_overrides_are_typed_checked_and_reach_nested_weights() -> None:
    settings = apply_overrides(Settings(), ["candidates=20", "max_snippets=1"])
    assert (settings.candidates, settings.max_snippets) == (20, 1)
    nested = {k: v for k, v in settable(Settings()).items() if "." in k and type(v) is float}
    for name, value in nested.items():  # e.g. fusion.keyword, reader.decline_below
        group, field = name.split(".")
        changed = apply_overrides(Settings(), [f"{name}={value + 0.125}"])
        assert getattr(getattr(changed, group), field) == value + 0.125
        assert settable(changed) == settable(Settings()) | {name: value + 0.125}
    with pytest.raises(InvalidInput, match="candidates"):
        apply_overrides(Settings(), ["no_such_setting=1"])
    with pytest.raises(InvalidInput, match="not of type int"):
        apply_overrides(Settings(), ["candidates=many"])


# --- Dataset reading ----------------------------------------------------------------------------


def _squad(path: Path, data: list[dict]) -> Path:
    path.write_text(json.dumps({"version": "1.1", "data": data}), "utf-8")
    return path


def _paragraph(context: str, question: str, answer: str) -> dict:
    qa = {"id": question, "question": question, "answers": [{"text": answer, "answer_start": 0}]}
    return {"context": context, "qas": [qa]}


def test_paragraphs_become_articles_with_titles_sources_and_halves(tmp_path: Path) -> None:
    path = _squad(
        tmp_path / "mini.de.json",
        [
            {"title": "Super_Bowl_50", "paragraphs": [_paragraph("A eins.", "Q1?", "eins")]},
            {
                "title": "Rhein",
                "paragraphs": [
                    _paragraph("B zwei.", "Q2?", "zwei"),
                    _paragraph("C drei.", "Q3?", "drei"),
                ],
            },
        ],
    )
    dataset = load_dataset(path)
    assert dataset.name == "mini.de"
    assert [(a.title, a.source) for a in dataset.articles] == [
        ("Super Bowl 50 (1)", "mini.de/0/0"),
        ("Rhein (1)", "mini.de/1/0"),
        ("Rhein (2)", "mini.de/1/1"),
    ]
    assert dataset.articles[2].doc_id == article_id("C drei.")
    assert [q.gold for q in dataset.questions] == [a.doc_id for a in dataset.articles]
    assert [q.half for q in dataset.questions] == ["tune", "test", "test"]
    assert [q.text for q in select(dataset.questions, "test", None)] == ["Q2?", "Q3?"]


def test_untitled_single_article_set_is_named_and_split_by_paragraph(tmp_path: Path) -> None:
    paragraphs = [_paragraph(f"Absatz {i}.", f"Q{i}?", str(i)) for i in range(4)]
    dataset = load_dataset(
        _squad(tmp_path / "mlqa.dev.de.json", [{"title": "", "paragraphs": paragraphs}])
    )
    assert [a.title for a in dataset.articles] == ["MLQA 1", "MLQA 2", "MLQA 3", "MLQA 4"]
    assert [q.half for q in dataset.questions] == ["tune", "tune", "test", "test"]


def test_distractor_with_a_dataset_body_is_kept_once(tmp_path: Path) -> None:
    dataset = load_dataset(
        _squad(tmp_path / "d.json", [{"title": "T", "paragraphs": [_paragraph("X.", "Q?", "X")]}])
    )
    copy = Article(
        doc_id=dataset.articles[0].doc_id, title="copy", date=None, source="news#1", text="X."
    )
    assert merge(dataset.articles, [copy]) == list(dataset.articles)


def test_a_file_that_is_not_squad_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"articles": []}', "utf-8")
    with pytest.raises(EvalError, match="SQuAD"):
        load_dataset(path)
    with pytest.raises(EvalError, match="cannot read"):
        load_dataset(tmp_path / "missing.json")


# --- The real thing through the CLI -------------------------------------------------------------


@pytest.mark.slow
def test_cli_eval_on_xquad_prints_a_table_and_a_json_line(tmp_path: Path, cache_dir: Path) -> None:
    """`qa eval` as a user runs it; the model and embedding cache are the session's."""
    if not XQUAD.is_file():
        pytest.skip(f"shared evaluation data not found in {SHARED}")
    command = [sys.executable, "-m", "qa.cli", "eval", str(XQUAD), "--limit", "20", "--json"]
    command += ["--index-cache", str(tmp_path / "eval"), "--latency-sample", "3"]
    # A cold cache embeds the 240 paragraphs first: a few minutes on two cores.
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=1800, env=os.environ.copy()
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert "hit@5" in run.stdout  # the table
    report = json.loads(lines[-1])
    for key in (
        "dataset",
        "questions",
        "articles",
        "chunks",
        "distractors",
        "settings",
        "hit@1",
        "hit@3",
        "hit@5",
        "mrr@10",
        "snippet@1",
        "snippet@3",
        "mean_snippet_chars",
        "declined",
        "unanswerable_declined",
        "index_seconds",
        "chunks_per_second",
        "latency_p50_ms",
        "latency_p95_ms",
    ):
        assert key in report, key
    assert report["dataset"] == "xquad.de"
    assert (report["questions"], report["articles"]) == (20, 240)
    assert report["hit@5"] > 0.5
    assert 0 <= report["hit@1"] <= report["hit@3"] <= 1
    assert report["latency_sample"] == 3 and report["latency_p50_ms"] > 0
    assert (tmp_path / "eval").is_dir()  # the index went into the given cache folder
