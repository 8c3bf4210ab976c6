"""The reader: fitted choices, the answer phrase, no padding, declining (real model and index)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.answer import FEATURES, ReaderModel, _Window, choose
from qa.lexical import Analyzer
from qa.phrase import exact_match, question_kind, token_f1
from tests.conftest import REPO

WHATSAPP = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
LOCAL = REPO / "benchmarks" / "data"


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (LOCAL / name).read_text("utf-8").splitlines()]


# --- pure logic ---------------------------------------------------------------------------------


def test_keyword_matching_folds_german_spellings_both_ways():
    terms = Analyzer("german").terms
    assert terms("Muenchen") == terms("München")
    assert terms("Strasse") == terms("Straße")
    assert terms("Zuerich") == terms("Zürich")
    assert terms("Muenchen") != terms("Münster")


def test_token_f1_and_exact_match_drop_german_articles_and_punctuation():
    assert token_f1("430 Millionen", "430 Millionen") == 1.0
    assert exact_match("die Sowjetunion.", "Sowjetunion") == 1.0
    assert token_f1("rund 18 Milliarden", "18 Milliarden") == pytest.approx(0.8)
    assert token_f1("Koum", "430 Millionen") == 0.0


@pytest.mark.parametrize(
    "question, kind",
    [
        ("Wie viele Nutzer hat WhatsApp?", "number"),
        ("Wann öffnet das Freibad?", "date"),
        ("Wer ist neuer Bürgermeister?", "person"),
        ("Wo wuchs Koum auf?", "place"),
        ("Warum schließt die Bäckerei?", "other"),
    ],
)
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def _w(doc: str, start: int, end: int) -> _Window:
    return _Window(doc, start, start, start, end, 0)


def test_padding_rule_keeps_only_close_distinct_evidence():
    windows = [_w("a", 0, 50), _w("a", 40, 90), _w("b", 0, 50), _w("c", 0, 50)]
    texts = [
        "Der Dienst hat 430 Millionen aktive Nutzer.",
        "overlaps the first window",
        "Der Dienst hat 430 Millionen aktive Nutzer.",  # the same agency sentence elsewhere
        "WhatsApp wurde 2009 gegründet.",
    ]
    scores = np.array([3.0, 2.9, 2.8, 2.0])
    # exp(2.0 - 3.0) = 0.37: below a ratio of 0.5, so only the first snippet is shown; the
    # overlapping window is skipped and the near-copy joins the first snippet as a citation.
    assert choose(windows, texts, scores, 0.5, 0.8, 3) == [(0, [2])]
    # With a looser ratio the distinct fourth window is further evidence.
    assert choose(windows, texts, scores, 0.3, 0.8, 3) == [(0, [2]), (3, [])]
    assert choose(windows, texts, scores, 0.3, 0.8, 1) == [(0, [2])]


def test_the_shipped_weights_match_the_code():
    model = ReaderModel.load()
    assert 0 < model.decline_threshold < 1 and 0 < model.extra_ratio <= 1
    data = json.loads((REPO / "qa" / "reader_weights.json").read_text("utf-8"))
    # Weights are matched by feature name: a feature the file lacks weighs 0 ...
    named = dict(zip(data["ranker"]["features"], data["ranker"]["coef"]))
    dropped = FEATURES.index(data["ranker"]["features"][0])
    data["ranker"]["features"] = data["ranker"]["features"][1:][::-1]
    data["ranker"]["coef"] = [named[f] for f in data["ranker"]["features"]]
    partial = ReaderModel.from_dict(data)
    assert partial.ranker[dropped] == 0 and model.ranker[dropped] != 0
    kept = [i for i in range(len(FEATURES)) if i != dropped]
    assert list(partial.ranker[kept]) == pytest.approx(list(model.ranker[kept]))
    # ... and one the code does not know is an error.
    data["ranker"]["features"][0] = "no_such_feature"
    with pytest.raises(ValueError, match="do not match"):
        ReaderModel.from_dict(data)


# --- real model, real index ---------------------------------------------------------------------


def test_the_answer_phrase_is_exact_and_inside_its_snippet(service):
    questions = [
        WHATSAPP,
        "Wie viele aktive Nutzer hat WhatsApp?",
        "Wo wuchs Koum auf?",
        "Wie alt ist Jan Koum?",
    ]
    answers = service.ask_batch(questions)
    first = answers[0].snippets[0]
    assert first.answer is not None and "18 Milliarden" in first.answer.text
    assert len(first.answer.text) <= 40
    named = 0
    for answer in answers:
        for snippet in answer.snippets:
            span = snippet.answer
            if span is None:
                continue
            named += 1
            article = service.article(snippet.citation.doc_id)
            assert article.text[span.start : span.end] == span.text
            assert snippet.citation.start <= span.start < span.end <= snippet.citation.end
    assert named >= 3
    record = answers[0].to_dict()["snippets"][0]
    assert record["answer"] == {"text": first.answer.text, "start": first.answer.start,
                                "end": first.answer.end}  # fmt: skip
    assert record["also"] == []


def test_answers_are_not_padded(service):
    questions = [WHATSAPP, "Wie viele aktive Nutzer hat WhatsApp?", "Wo wuchs Koum auf?"]
    counts = [len(a.snippets) for a in service.ask_batch(questions)]
    assert all(1 <= n <= 3 for n in counts)
    assert sum(counts) / len(counts) <= 2


@pytest.fixture(scope="module")
def local_service(tmp_path_factory, settings):
    """Seeds plus sixteen two-sentence local news items whose headline names the town."""
    from qa.cli import run_index
    from qa.service import QAService

    corpus = tmp_path_factory.mktemp("local")
    for path in (REPO / "seeds").iterdir():
        shutil.copy(path, corpus / path.name)
    shutil.copy(LOCAL / "local.de.jsonl", corpus / "local.de.jsonl")
    index_dir = tmp_path_factory.mktemp("local-index")
    run_index(corpus, index_dir, settings, show_progress=False)
    return QAService(index_dir, settings)


def test_a_small_archive_answers_its_own_questions_and_declines_others(local_service):
    own = _lines("local.de.questions.jsonl")
    answers = local_service.ask_batch([q["question"] for q in own])
    declined = [a.question for a in answers if a.abstained]
    assert len(declined) / len(own) <= 0.05, declined
    found = sum(
        any(q["answer"].casefold() in s.text.casefold() for s in a.snippets)
        for q, a in zip(own, answers)
    )
    assert found / len(own) >= 0.85
    other = [q["question"] for q in _lines("local.de.unanswerable.jsonl")]
    refused = sum(a.abstained for a in local_service.ask_batch(other))
    assert refused / len(other) >= 0.5  # measured 7 of 12 (docs/results.md "Reader")


def test_the_headline_names_the_town_the_body_does_not(local_service):
    answer = local_service.ask("Wie hoch stand die Donau in Passau?")
    assert not answer.abstained
    assert "9,20 Meter" in answer.snippets[0].text
    assert answer.snippets[0].citation.title.startswith("Hochwasser in Passau")


def test_priors_hook_moves_an_article_up(service):
    """Another step (e.g. a date boost) can add a per-article prior to the reader's scores."""
    snap = service.snapshot()
    question = "Wie viele aktive Nutzer hat WhatsApp?"
    vectors, hits = service.retrieve_batch([question])
    plain = snap.reader.answer_batch([question], vectors, hits)[0]
    other_docs = {h.chunk.doc_id for h in hits[0]} - {plain.snippets[0].citation.doc_id}
    if not other_docs:
        pytest.skip("one article retrieved")
    boosted_doc = sorted(other_docs)[0]
    boosted = snap.reader.answer_batch([question], vectors, hits, priors=[{boosted_doc: 50.0}])
    assert boosted[0].snippets[0].citation.doc_id == boosted_doc


def test_cli_prints_the_answer_phrase_first(seed_index):
    from tests.conftest import run_qa

    lines = run_qa("ask", "--index", str(seed_index), WHATSAPP).stdout.splitlines()
    phrase = next(n for n, line in enumerate(lines) if line.startswith("Antwort: "))
    quote = next(n for n, line in enumerate(lines) if line.startswith("„"))
    assert phrase < quote  # the phrase comes before the quotes
    assert "18 Milliarden" in lines[phrase] and lines[phrase].endswith("[1]")


def test_weights_file_is_small():
    assert Path(REPO / "qa" / "reader_weights.json").stat().st_size < 200_000


def test_the_chat_marks_the_phrase_and_labels_further_evidence():
    from qa.types import Answer, AnswerSpan, Citation, Snippet
    from qa.ui.render import answer_html

    text = "Pro Tag werden rund 18 Milliarden Nachrichten verschickt."
    first = Snippet(
        text, 2.0, Citation(1, "d1", "T", None, "s.txt", 100, 100 + len(text)),
        answer=AnswerSpan("18 Milliarden", 120, 133),
    )  # fmt: skip
    second = Snippet(
        "<b>Koum</b> sprach in München.", 1.0, Citation(2, "d2", "U", None, "u", 0, 29)
    )
    html = answer_html(Answer("Wie viele?", False, (first, second)), "de")
    assert "Antwort: <strong>18 Milliarden</strong>" in html
    assert "rund <strong>18 Milliarden</strong> Nachrichten" in html
    assert "Weitere Belege" in html and "&lt;b&gt;Koum" in html and "<b>" not in html


NEWS = REPO.parent / "shared" / "eval" / "news"


@pytest.fixture(scope="module")
def local_news_service(tmp_path_factory, settings):
    """The local archive with 40 real news articles mixed in (../shared/eval/news): declining
    must hold when the archive grows, not only on the sixteen local items."""
    if not NEWS.is_dir():
        pytest.skip("../shared/eval/news is absent")
    from qa.cli import run_index
    from qa.corpus import read_corpus
    from qa.service import QAService

    corpus = tmp_path_factory.mktemp("local-news")
    for path in (REPO / "seeds").iterdir():
        shutil.copy(path, corpus / path.name)
    shutil.copy(LOCAL / "local.de.jsonl", corpus / "local.de.jsonl")
    news = read_corpus(NEWS, settings).articles[::50][:40]
    rows = [{"title": a.title, "date": a.date, "text": a.text} for a in news]
    (corpus / "news.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
    )
    index_dir = tmp_path_factory.mktemp("local-news-index")
    run_index(corpus, index_dir, settings, show_progress=False)
    return QAService(index_dir, settings)


def test_declining_holds_with_news_mixed_in(local_service, local_news_service):
    own = [q["question"] for q in _lines("local.de.questions.jsonl")]
    other = [q["question"] for q in _lines("local.de.unanswerable.jsonl")]
    refused = []
    for svc in (local_service, local_news_service):
        answers = svc.ask_batch(own)
        assert sum(a.abstained for a in answers) / len(own) <= 0.05
        refused.append(sum(a.abstained for a in svc.ask_batch(other)) / len(other))
    # Declining weakens as the archive grows (measured 2026-11-26: 8 and 5 of 12; the gap is
    # the open part of issue 13 item 4, docs/results.md "Reader"); it must not collapse.
    assert refused[0] >= 0.5 and refused[1] >= 0.4


# --- the reader's bulk reading (issue 17): the same candidates from every way in ---------------

READER_QUESTIONS = [
    WHATSAPP,
    "Wie viele aktive Nutzer hat WhatsApp?",
    "Wo wuchs Koum auf?",
    "Wer hat WhatsApp gekauft?",
]


def _candidates(reader, service):
    vectors, hits = service.retrieve_batch(READER_QUESTIONS)
    return [reader.candidates(q, v, h) for q, v, h in zip(READER_QUESTIONS, vectors, hits)]


def test_term_caches_forget_when_full_and_read_the_same(service, monkeypatch):
    import qa.answer as answer

    cache = answer._TermCache(2)
    for key in "abc":
        cache.put(key, frozenset(key))
    assert len(cache) == 1 and cache.get("c") == {"c"} and cache.get("a") is None
    reader = service.snapshot().reader
    monkeypatch.setattr(answer, "SENTENCE_CACHE", 3)
    monkeypatch.setattr(answer, "ARTICLE_CACHE", 1)
    tiny = answer.Reader(reader.index, reader.analyzer, weights=reader.weights)
    expected, got = _candidates(reader, service), _candidates(tiny, service)
    assert len(tiny._sentence_terms) <= 3 and len(tiny._article_term_sets) <= 1
    for a, b in zip(expected, got):
        assert a.windows == b.windows and a.windows
        assert np.array_equal(a.features, b.features)


def test_sentences_as_objects_read_as_the_index_columns(service):
    """An index whose sentences are plain `Sentence` objects (no numpy columns) gives the same
    windows and features as the memory-mapped columns."""
    import copy

    from qa.answer import Reader

    reader = service.snapshot().reader
    index = copy.copy(reader.index)
    index.sentences = list(reader.index.sentences)
    plain = Reader(index, reader.analyzer, weights=reader.weights)
    assert not hasattr(index.sentences, "article")
    for a, b in zip(_candidates(reader, service), _candidates(plain, service)):
        assert a.windows == b.windows and a.windows
        assert np.array_equal(a.features, b.features)


def test_an_article_read_whole_has_the_terms_of_its_sentences(service):
    """`Reader._article_terms` analyses an article's sentences as one text when only white
    space lies between them: that must give the terms of its sentences one by one (it does as
    long as `Analyzer.terms` reads token by token)."""
    reader = service.snapshot().reader
    index = reader.index
    for doc_id, (first, stop) in reader._doc_sentences.items():
        article = index.articles[doc_id]
        title = reader._title(doc_id, article.title)
        sentences = index.sentences[first:stop]
        assert all(
            article.text[a.end : b.start].isspace() for a, b in zip(sentences, sentences[1:])
        )
        one_by_one = set(title).union(
            *(reader.analyzer.terms(article.text[s.start : s.end]) for s in sentences)
        )
        assert reader._article_terms(doc_id, article.text, title) == one_by_one
