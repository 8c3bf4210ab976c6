"""End to end on the seed articles: a real model, a real FAISS index, the real CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_qa

WHATSAPP = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
UNANSWERABLE = [
    "Wer gewann die Fußball-Weltmeisterschaft 2014?",
    "Wie ist das Wetter morgen in Berlin?",
    "Was kostet ein Liter Milch im Supermarkt?",
]
BOILERPLATE = ("taz lesen kann", "Jetzt unterstützen", "meistkommentiert", "Genossenschaft")


def test_answers_the_whatsapp_question_with_a_citation_to_seed_003(service):
    answer = service.ask(WHATSAPP)
    assert not answer.abstained
    first = answer.snippets[0]
    assert "18 Milliarden" in first.text
    assert first.citation.n == 1
    assert first.citation.source.startswith("003_")
    assert first.citation.title == "Smartphone Messaging-Dienst: WhatsApp für die Welt"


def test_every_snippet_is_verbatim_at_its_offsets(service):
    questions = [WHATSAPP, "Wie viele aktive Nutzer hat WhatsApp?", "Wo wuchs Koum auf?"]
    for answer in service.ask_batch(questions):
        assert answer.snippets, answer.question
        assert len(answer.snippets) <= 3
        for snippet in answer.snippets:
            article = service.article(snippet.citation.doc_id)
            assert article.text[snippet.citation.start : snippet.citation.end] == snippet.text


def test_figures_and_names_match_exactly(service):
    assert "430 Millionen" in service.ask("Wie viele aktive Nutzer hat WhatsApp?").snippets[0].text
    koum = service.ask("Wo wuchs Koum auf?")
    assert any("Sowjetunion" in s.text for s in koum.snippets)


def test_english_question_about_a_german_article(service):
    answer = service.ask("How many messages are sent via WhatsApp every day?")
    assert not answer.abstained
    assert any("18 Milliarden" in s.text for s in answer.snippets)


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_declines_what_the_corpus_does_not_answer(service, question):
    answer = service.ask(question)
    assert answer.abstained
    assert answer.snippets == ()


def test_never_cites_the_donation_appeal_or_headline_list(service):
    questions = [
        "Wie kann ich die taz unterstützen?",
        "Was wird meistkommentiert?",
        "Wem gehört die taz?",
        WHATSAPP,
    ]
    for answer in service.ask_batch(questions):
        for snippet in answer.snippets:
            assert not any(b in snippet.text for b in BOILERPLATE), snippet.text
    for article in service.index.articles.values():
        assert not any(b in article.text for b in BOILERPLATE)


def test_filters_restrict_the_answer(service):
    from qa.retrieval import Filters

    only_000 = Filters(sources=("000_",))
    answer = service.ask("Was wollte Koum mit einer Abo-Gebühr finanzieren?", only_000)
    assert all(s.citation.source.startswith("000_") for s in answer.snippets)
    dated = service.ask(WHATSAPP, Filters(date_from="2021"))
    assert dated.abstained  # seed 003 has no date, seed 000 is 2020-06


def test_cli_ask_json_contract_and_show(seed_index, tmp_path):
    batch = tmp_path / "questions.txt"
    batch.write_text(f"{WHATSAPP}\n\n{UNANSWERABLE[0]}\n", encoding="utf-8")
    result = run_qa("ask", "--index", str(seed_index), "--json", "--batch", str(batch))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["question"] for o in lines] == [WHATSAPP, UNANSWERABLE[0]]
    answered, declined = lines
    assert answered["abstained"] is False and declined == {
        "question": UNANSWERABLE[0],
        "abstained": True,
        "snippets": [],
        # The question names a year: the period is reported even when nothing is found.
        "period": {"from": "2014-01-01", "to": "2014-12-31", "text": "2014"},
    }
    assert answered["period"] is None
    snippet = answered["snippets"][0]
    assert set(snippet) >= {"text", "score", "citation"}
    citation = snippet["citation"]
    assert set(citation) >= {"n", "doc_id", "title", "date", "source", "start", "end"}
    shown = json.loads(
        run_qa("show", citation["doc_id"], "--index", str(seed_index), "--json").stdout
    )
    assert set(shown) >= {"doc_id", "title", "date", "source", "text"}
    assert shown["text"][citation["start"] : citation["end"]] == snippet["text"]


def test_cli_human_output_and_errors(seed_index, tmp_path):
    out = run_qa("ask", "--index", str(seed_index), WHATSAPP).stdout
    assert "18 Milliarden" in out and "[1]" in out and "003_" in out
    missing = run_qa("ask", "--index", str(tmp_path / "nope"), WHATSAPP, check=False)
    assert missing.returncode == 1
    assert "qa index" in missing.stderr and "Traceback" not in missing.stderr
    assert run_qa("--help").stdout.count("index") >= 1


def test_index_json_summary_and_rebuild_counts(seed_corpus, tmp_path):
    index_dir = tmp_path / "index"
    first = json.loads(
        run_qa(
            "index", "--corpus", str(seed_corpus), "--index", str(index_dir), "--json"
        ).stdout.splitlines()[-1]
    )
    assert first["added"] == 2 and first["chunks"] > 0 and first["skipped"] == []
    assert {"added", "updated", "removed", "unchanged", "skipped", "chunks", "seconds"} <= set(
        first
    )
    second = json.loads(
        run_qa(
            "index", "--corpus", str(seed_corpus), "--index", str(index_dir), "--json"
        ).stdout.splitlines()[-1]
    )
    assert second["unchanged"] == 2 and second["added"] == 0 and second["embedded"] == 0


def test_corrupt_or_mismatched_index_says_what_to_run(seed_index, tmp_path, settings):
    import shutil

    from qa.embedding import Embedder
    from qa.errors import IndexUnavailable
    from qa.index import SearchIndex, live_version
    from qa.service import QAService

    broken = tmp_path / "broken"
    shutil.copytree(seed_index, broken)
    (live_version(broken) / "chunks.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexUnavailable, match="qa index"):
        SearchIndex.load(broken)
    other_model = QAService(seed_index, settings, embedder=Embedder("some/other-model"))
    with pytest.raises(IndexUnavailable, match="built with the model"):
        other_model.ask(WHATSAPP)
