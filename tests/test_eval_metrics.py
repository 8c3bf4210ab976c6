"""`qa.eval` as pure logic: metrics on hand-made answers, SQuAD files written by the test, the
index cache key. Nothing here loads the model; the real run is in test_evaluate.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.config import Settings, apply_overrides
from qa.corpus import article_id
from qa.errors import EvalError, QAError
from qa.eval import run
from qa.eval.datasets import load_dataset, load_distractors, merge, select, spread
from qa.eval.metrics import (
    METRIC_SOURCES,
    Outcome,
    cited_articles,
    contains_answer,
    mean,
    normalise,
    percentile,
    ranked_articles,
    snippet_hit,
    summarise,
)
from qa.types import Answer, Article, Chunk, Citation, Hit, Snippet

# --- Metrics ------------------------------------------------------------------------------------


def _snippet(doc_id: str, text: str = "Satz.") -> Snippet:
    return Snippet(text, 1.0, Citation(1, doc_id, "T", None, "s", 0, len(text)))


def _hit(doc_id: str, chunk_id: int) -> Hit:
    return Hit(Chunk(chunk_id, doc_id, 0, 5, "Text."), score=1.0 - chunk_id / 100)


def test_normalise_folds_case_spacing_and_composes_umlauts() -> None:
    assert normalise("  Die  FLU\u0308SSE\n im\tNorden ") == "die flüsse im norden"
    assert normalise("Straße") == "strasse"  # casefold, not lower


def test_an_answer_split_over_a_line_break_still_counts() -> None:
    assert contains_answer("Er wurde am 14. März\n1879 in Ulm geboren.", ["14. März 1879"])
    assert not contains_answer("Er wurde 1879 geboren.", ["1897"])
    assert not contains_answer("Er wurde 1879 geboren.", [])  # no gold answer: no hit


def test_snippet_hit_with_k_zero_or_no_snippets_is_a_miss() -> None:
    assert snippet_hit(("1879",), ["1879"], 0) == 0.0
    assert snippet_hit((), ["1879"], 1) == 0.0
    assert snippet_hit(("x", "1879"), iter(["1879"]), 2) == 1.0  # answers may be an iterator


def test_cited_articles_keep_snippet_order_once_each() -> None:
    answer = Answer("Wer?", False, (_snippet("b"), _snippet("a"), _snippet("b")))
    assert cited_articles(answer) == ["b", "a"]
    assert cited_articles(Answer("Wer?", True)) == []  # an abstention cites nothing


def test_ranked_articles_merge_chunks_of_one_article_and_cut_at_depth() -> None:
    hits = [_hit(doc, i) for i, doc in enumerate("aabcbdefghijkl")]
    assert ranked_articles(hits) == list("abcdefghij")  # 10 distinct, chunk order kept
    assert ranked_articles(hits, depth=3) == ["a", "b", "c"]
    assert ranked_articles([]) == []


def test_mean_of_nothing_is_zero_and_percentile_rejects_bad_input() -> None:
    assert mean([]) == 0.0
    assert mean(x for x in (True, False, False, False)) == 0.25
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0, 2.0], 101)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 25) == 2.0


def test_summarise_of_no_outcomes_is_all_zero_and_names_every_answer_metric() -> None:
    metrics = summarise([])
    assert set(metrics) == set(METRIC_SOURCES) - {"unanswerable_declined"}
    assert set(metrics.values()) == {0.0}


def test_summarise_rounds_to_four_places() -> None:
    hit = Outcome("1", "Q?", "tune", "g", ("x",), False, ("g",), ("g",), ("x",))
    miss = Outcome("2", "Q?", "tune", "g", ("x",), False, ("h",), ("h",), ("y",))
    metrics = summarise([hit, miss, miss])
    assert metrics["hit@1"] == 0.3333
    assert metrics["snippet@1"] == 0.3333
    assert metrics["mrr@10"] == 0.3333


# --- Datasets -----------------------------------------------------------------------------------


def _write(path: Path, payload) -> Path:
    path.write_text(json.dumps(payload), "utf-8")
    return path


def _qa(qid: str, question: str, *answers: str) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": a} for a in answers]}


def test_questions_without_a_usable_answer_or_text_are_left_out(tmp_path: Path) -> None:
    qas = [
        _qa(1, "Wann kam er?", "1879", "  "),  # numeric id -> "1"; the blank answer is dropped
        _qa("2", "Unbeantwortbar?"),  # SQuAD 2.0: no answers
        _qa("3", "   ", "1879"),  # no question text
        {"id": "4", "question": "Ohne Antwortfeld?"},
    ]
    data = {"data": [{"title": "T", "paragraphs": [{"context": "Er kam 1879.", "qas": qas}]}]}
    dataset = load_dataset(_write(tmp_path / "set.de.json", data))
    assert [(q.qid, q.text, q.answers) for q in dataset.questions] == [
        ("1", "Wann kam er?", ("1879",))
    ]
    assert dataset.questions[0].gold == article_id("Er kam 1879.")


def test_a_repeated_paragraph_is_one_article_with_the_questions_of_both(tmp_path: Path) -> None:
    paragraph = {"context": "Gleicher  Text.", "qas": [_qa("a", "Q?", "Text")]}
    again = {"context": "Gleicher Text.", "qas": [_qa("b", "Q2?", "Text")]}
    data = {"data": [{"title": "", "paragraphs": [paragraph, again]}]}
    dataset = load_dataset(_write(tmp_path / "dup.json", data))
    assert len(dataset.articles) == 1
    assert {q.gold for q in dataset.questions} == {dataset.articles[0].doc_id}


WRONG_SHAPES = {
    "a list at the top": [{"title": "T", "paragraphs": []}],
    "data is not a list": {"data": {"title": "T"}},
    "data is a string": {"data": "abc"},
    "an article is a string": {"data": ["T"]},
    "no paragraphs": {"data": [{"title": "T"}]},
    "paragraphs is a number": {"data": [{"title": "T", "paragraphs": 3}]},
    "a paragraph is a list": {"data": [{"paragraphs": [["Text"]]}]},
    "context is a number": {"data": [{"paragraphs": [{"context": 5, "qas": []}]}]},
    "no qas": {"data": [{"paragraphs": [{"context": "Text."}]}]},
    "a qa is a string": {"data": [{"paragraphs": [{"context": "Text.", "qas": ["Q?"]}]}]},
    "answers is a dict": {
        "data": [{"paragraphs": [{"context": "T.", "qas": [{"id": 1, "answers": {}}]}]}]
    },
    "an answer text is a number": {
        "data": [
            {
                "paragraphs": [
                    {"context": "T.", "qas": [_qa("1", "Q?") | {"answers": [{"text": 7}]}]}
                ]
            }
        ]
    },
    "a question is a number": {
        "data": [
            {"paragraphs": [{"context": "T.", "qas": [_qa("1", "Q?", "T") | {"question": 3}]}]}
        ]
    },
    "no id": {
        "data": [
            {
                "paragraphs": [
                    {"context": "T.", "qas": [{"question": "Q?", "answers": [{"text": "T"}]}]}
                ]
            }
        ]
    },
}


@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=list(WRONG_SHAPES))
def test_valid_json_of_the_wrong_shape_is_an_eval_error(tmp_path: Path, shape: str) -> None:
    path = _write(tmp_path / "wrong.json", WRONG_SHAPES[shape])
    with pytest.raises(EvalError, match="SQuAD") as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, QAError)  # the CLI prints it as one line


def test_the_error_names_the_place_that_is_wrong(tmp_path: Path) -> None:
    data = {
        "data": [{"paragraphs": [{"context": "A.", "qas": []}, {"context": ["B."], "qas": []}]}]
    }
    with pytest.raises(EvalError, match=re.escape("data[0].paragraphs[1].context")):
        load_dataset(_write(tmp_path / "w.json", data))


def test_not_json_and_not_utf8_are_eval_errors(tmp_path: Path) -> None:
    (tmp_path / "half.json").write_text('{"data": [', "utf-8")
    (tmp_path / "latin1.json").write_bytes('{"data": "Müller"}'.encode("latin-1"))
    for name in ("half.json", "latin1.json"):
        with pytest.raises(EvalError, match="not a SQuAD-format file"):
            load_dataset(tmp_path / name)
    with pytest.raises(EvalError, match="cannot read"):
        load_dataset(tmp_path)  # a folder


def test_an_empty_set_loads_and_selects_nothing(tmp_path: Path) -> None:
    dataset = load_dataset(_write(tmp_path / "empty.json", {"data": []}))
    assert (dataset.articles, dataset.questions) == ((), ())
    assert select(dataset.questions, "all", 5) == []


def test_unknown_split_is_an_eval_error() -> None:
    with pytest.raises(EvalError, match="tune"):
        select([], "train", None)


def test_spread_covers_the_whole_range() -> None:
    assert spread(list(range(100)), 4) == [0, 25, 50, 75]
    assert spread([], 3) == []


def test_distractors_from_a_file_and_a_missing_path(tmp_path: Path) -> None:
    news = tmp_path / "news.jsonl"
    rows = [{"title": f"T{i}", "text": f"Bericht Nummer {i} über den Hafen."} for i in range(3)]
    news.write_text("\n".join(json.dumps(r) for r in rows), "utf-8")
    found = load_distractors([news], Settings())
    assert [a.title for a in found] == ["T0", "T1", "T2"]
    with pytest.raises(EvalError, match="does not exist"):
        load_distractors([tmp_path / "nowhere"], Settings())
    own = Article(found[1].doc_id, "own", None, "set/0/0", found[1].text)
    assert [a.title for a in merge([own], found)] == ["own", "T0", "T2"]


# --- The index cache key ------------------------------------------------------------------------


def test_index_fields_cover_every_setting_the_index_modules_read() -> None:
    """`INDEX_FIELDS` is an explicit list; this guards it against a setting added later."""
    qa_dir = Path(run.__file__).resolve().parents[1]
    read = set()
    for module in run.INDEX_MODULES:
        read |= set(re.findall(r"\bsettings\.(\w+)", (qa_dir / module).read_text("utf-8")))
    assert read, "the index modules no longer read settings.<name>: update this guard"
    assert read - {"cache_dir", "model_dir", "batch_size"} <= set(run.INDEX_FIELDS)


def test_index_key_follows_what_the_index_holds_and_nothing_else() -> None:
    articles = [Article("d1", "T (1)", None, "set/0/0", "Text.")]
    key = run.index_key(articles, Settings())
    assert key == run.index_key(list(articles), Settings())
    assert run.index_settings(Settings()) == {
        "model": Settings().model,
        "chunk_size": 900,
        "chunk_overlap": 150,
        "analyzer_language": "german",
        "encoder": Settings().encoder,
    }
    same = [
        Settings(cache_dir=Path("/elsewhere")),
        apply_overrides(Settings(), ["reader.keep_ratio=0.5", "candidates=7"]),
    ]
    for settings in same:
        assert run.index_key(articles, settings) == key
    changed = [
        (articles, apply_overrides(Settings(), ["chunk_size=800"])),
        (articles, apply_overrides(Settings(), ["analyzer_language=english"])),
        (articles, apply_overrides(Settings(), ["model=other"])),
        ([Article("d1", "T (2)", None, "set/0/0", "Text.")], Settings()),
        (articles + articles, Settings()),
    ]
    for other_articles, settings in changed:
        assert run.index_key(other_articles, settings) != key


# --- The runner, with the tiny deterministic embedder (conftest) instead of the model -----------

# `qa eval --json` is a public contract: these fields stay; new ones may be added.
REPORT_FIELDS = (
    "dataset split questions articles distractors chunks sentences hit@1 hit@3 hit@5 mrr@10 "
    "ranking_hit@1 ranking_hit@3 snippet@1 snippet@3 mean_snippet_chars declined unanswerable "
    "unanswerable_questions unanswerable_declined index_seconds chunks_per_second index_embedded "
    "index_reused index_built answer_seconds questions_per_second latency_sample latency_p50_ms "
    "latency_p95_ms settings index metric_sources"
).split()

PORT = "Der Hamburger Hafen schlug 2023 rund 7,7 Millionen Container um. Er liegt an der Elbe."
ZOO = "Der Berliner Zoo wurde 1844 eröffnet. Er ist der älteste Zoo Deutschlands."


def _tiny_set(path: Path) -> Path:
    paragraphs = [
        {"context": PORT, "qas": [_qa("p1", "Wie viele Container schlug der Hafen um?", "7,7")]},
        {"context": ZOO, "qas": [_qa("z1", "Wann wurde der Berliner Zoo eröffnet?", "1844")]},
    ]
    return _write(path, {"data": [{"title": "Nord", "paragraphs": paragraphs}]})


def test_the_runner_reports_every_contract_field(tmp_path: Path, hash_embedder) -> None:
    from qa.config import ReaderWeights

    dataset = _tiny_set(tmp_path / "tiny.de.json")
    other = _write(tmp_path / "other.json", {"data": [{"paragraphs": [
        {"context": "X.", "qas": [_qa("o1", "Wer gewann die Tour de France?", "X")]}
    ]}]})  # fmt: skip
    settings = Settings(cache_dir=tmp_path / "cache", reader=ReaderWeights(decline_below=0.45))
    logged: list[str] = []

    def evaluate():
        return run.evaluate(
            dataset,
            unanswerable=other,
            settings=settings,
            cache_root=tmp_path / "eval",
            latency_sample=1,
            embedder=hash_embedder,
            log=logged.append,
        )

    first = evaluate()
    report = first.report
    assert set(REPORT_FIELDS) <= set(report)
    assert (report["dataset"], report["questions"], report["articles"]) == ("tiny.de", 2, 2)
    assert report["hit@5"] == 1.0  # two articles: the gold one is always ranked
    assert (report["unanswerable"], report["unanswerable_questions"]) == ("other", 1)
    assert report["latency_sample"] == 1 and report["latency_p50_ms"] >= 0
    assert report["index_reused"] is False and report["index_embedded"] > 0
    assert [o.qid for o in first.outcomes] == ["p1", "z1"]
    assert any("building the index" in line for line in logged)
    json.dumps(report)  # one JSON line

    again = evaluate()
    assert again.report["index_reused"] is True
    assert again.report["index"] == report["index"]
    assert {k: again.report[k] for k in METRIC_SOURCES} == {k: report[k] for k in METRIC_SOURCES}

    table = run.format_table(report)
    assert "hit@5" in table and "questions of other" in table
    run.write_details(tmp_path / "details.jsonl", first.outcomes)
    rows = [json.loads(line) for line in (tmp_path / "details.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in rows] == ["p1", "z1"]
    assert {"cited_hit", "ranked_rank", "snippet_hit"} <= set(rows[0])


def _eval_args(*argv: str):
    import argparse

    parser = argparse.ArgumentParser(prog="qa")
    run.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *argv])


def test_cmd_eval_turns_bad_options_into_one_line_errors(tmp_path: Path) -> None:
    dataset = str(_tiny_set(tmp_path / "tiny.json"))
    cache = ["--index-cache", str(tmp_path / "eval")]
    with pytest.raises(EvalError, match="--limit"):
        run.cmd_eval(_eval_args(dataset, "--limit", "0"))
    with pytest.raises(QAError, match="no_such"):
        run.cmd_eval(_eval_args(dataset, "--set", "no_such=1"))
    # The chunker rejects this before any text is embedded: no model is loaded.
    with pytest.raises(EvalError, match="chunk_overlap"):
        run.cmd_eval(_eval_args(dataset, *cache, "--set", "chunk_overlap=2000"))
    with pytest.raises(EvalError, match="SQuAD"):
        run.cmd_eval(_eval_args(str(_write(tmp_path / "bad.json", {"data": 1})), *cache))
