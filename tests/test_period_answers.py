"""Time in answers, on the real model and a real index: the right year, the newest figure for
"now", the period in the answer and its JSON, dated and linked citations, and the page.

The corpus is a few dated items from `benchmarks/data/dated.de.jsonl` (pairs on one topic from
different years, with different figures) plus an undated item and one with a `javascript:` URL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.period import Period
from qa.retrieval import Filters
from qa.types import Answer, Citation, Snippet, http_url
from qa.ui import render
from tests.conftest import REPO, SEEDS, run_qa

DATED = REPO / "benchmarks" / "data" / "dated.de.jsonl"
TOPICS = ("Mindestlohn", "Rundfunkbeitrag", "Feuerwerk", "BahnCard")
URL = "https://nachrichten.example/wirtschaft"


@pytest.fixture(scope="session")
def dated_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dated")
    rows = [json.loads(line) for line in DATED.read_text("utf-8").splitlines()]
    picked = [r for r in rows if any(t in r["title"] for t in TOPICS)]
    picked.append(
        {
            "title": "Schwimmbad öffnet wieder",
            "text": "Das Stadtbad in Kassel öffnet nach zwei Jahren Sanierung wieder. Der "
            "Eintritt kostet für Erwachsene künftig 6 Euro, für Kinder 3 Euro.",
            "url": "javascript:alert(1)",
        }
    )
    lines = [json.dumps(r, ensure_ascii=False) for r in picked]
    (folder / "dated.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def dated_index(tmp_path_factory, dated_corpus, settings) -> Path:
    from qa.cli import run_index

    index_dir = tmp_path_factory.mktemp("dated-index")
    run_index(dated_corpus, index_dir, settings, show_progress=False)
    return index_dir


@pytest.fixture(scope="session")
def dated(dated_index, settings):
    from qa.service import QAService

    return QAService(dated_index, settings)


def first_date(answer: Answer) -> str | None:
    assert not answer.abstained and answer.snippets, answer.question
    return answer.snippets[0].citation.date


def test_the_archive_anchor_is_its_newest_article(dated):
    assert str(dated.snapshot().anchor) == "2024-12-27"


@pytest.mark.parametrize(
    ("question", "year"),
    [
        ("Wie hoch war der Mindestlohn 2015?", "2015"),
        ("Wie hoch war der Mindestlohn im Jahr 2019?", "2019"),
        ("Wie hoch war der Rundfunkbeitrag 2015?", "2015"),
        ("Was kostete die BahnCard 50 im Dezember 2015?", "2015"),
    ],
)
def test_a_year_in_the_question_picks_that_years_article(dated, question, year):
    answer = dated.ask(question)
    assert first_date(answer).startswith(year)
    assert answer.period is not None and answer.period.from_.startswith(year)


def test_relative_words_resolve_against_the_archive_not_the_clock(dated):
    ten_years = dated.ask("Wie hoch war der Mindestlohn vor neun Jahren?")
    assert ten_years.period.to_dict() == {
        "from": "2015-01-01",
        "to": "2015-12-31",
        "text": "vor neun Jahren",
    }
    assert first_date(ten_years) == "2015-01-02"
    last_week = dated.ask("Wie viel Umsatz erwartete die Feuerwerksbranche letzte Woche?")
    assert last_week.period.label() == "2024-12-16 – 2024-12-22"
    # No article falls in that week: the period is a preference, so the answer still comes.
    assert first_date(last_week) is not None


@pytest.mark.parametrize(
    "question",
    [
        "Wie hoch ist der Mindestlohn?",
        "Wie hoch ist der Mindestlohn aktuell?",
        "Wie viel Umsatz erwartet die Feuerwerksbranche zum Jahreswechsel?",
        "Was kostet die BahnCard 50 derzeit?",
        "Wie hoch ist der Rundfunkbeitrag?",
    ],
)
def test_present_and_now_questions_get_the_newest_figure_first(dated, question):
    answer = dated.ask(question)
    topic_dates = [s.citation.date for s in answer.snippets]
    newest = {
        "Mindestlohn": "2024-01-02",
        "Feuerwerk": "2024-12-27",
        "BahnCard": "2024-12-15",
        "Rundfunk": "2021-08-05",
    }
    expected = next(d for key, d in newest.items() if key in question)
    assert topic_dates[0] == expected, topic_dates


def test_now_words_are_a_period_up_to_the_archives_newest_date(dated):
    answer = dated.ask("Wie hoch ist der Mindestlohn aktuell?")
    assert answer.period == Period(None, "2024-12-27", "aktuell", present=True)
    assert dated.ask("Wie hoch ist der Mindestlohn?").period is None


def test_older_and_newer_figures_shown_together_come_newest_first(dated):
    answer = dated.ask("Wie hoch ist der Mindestlohn?")
    dates = [s.citation.date for s in answer.snippets if "Mindestlohn" in s.citation.title]
    assert len(set(dates)) >= 2, "both figures should be shown for this check to mean anything"
    firsts = list(dict.fromkeys(dates))
    assert firsts == sorted(firsts, reverse=True)


def test_an_explicit_date_filter_wins_over_the_question(dated):
    answer = dated.ask("Wie hoch war der Mindestlohn 2015?", Filters.parse("2024", "2024"))
    assert answer.period is None
    assert first_date(answer).startswith("2024")


def test_every_citation_carries_its_articles_http_url_and_only_that(dated):
    answer = dated.ask("Wie hoch war der Mindestlohn 2015?")
    for snippet in answer.snippets:
        article = dated.article(snippet.citation.doc_id)
        assert snippet.citation.url == article.url and article.url.startswith("https://")
    pool = dated.ask("Was kostet der Eintritt im Stadtbad Kassel?")
    bath = next(s for s in pool.snippets if "Stadtbad" in s.text)
    assert bath.citation.url is None and bath.citation.date is None
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["period"] == {"from": "2015-01-01", "to": "2015-12-31", "text": "2015"}
    assert data["snippets"][0]["citation"]["url"].startswith(URL)


@pytest.fixture(scope="session")
def undated(tmp_path_factory, settings):
    """An archive without dates: the undated seed article alone."""
    from qa.cli import run_index
    from qa.service import QAService

    corpus = tmp_path_factory.mktemp("undated")
    seed = next(p for p in SEEDS.iterdir() if p.name.startswith("003_"))
    (corpus / seed.name).write_bytes(seed.read_bytes())
    index_dir = tmp_path_factory.mktemp("undated-index")
    run_index(corpus, index_dir, settings, show_progress=False)
    return QAService(index_dir, settings)


def test_undated_archive_answers_as_before(undated):
    """No dates: no anchor, no period from "aktuell", the same answer."""
    service = undated
    assert service.snapshot().anchor is None
    plain = service.ask("Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?")
    now = service.ask("Wie viele Nachrichten werden aktuell pro Tag über WhatsApp verschickt?")
    assert plain.period is None and now.period is None
    assert "18 Milliarden" in plain.snippets[0].text and "18 Milliarden" in now.snippets[0].text
    year = service.ask("Wie viele Nachrichten wurden 2014 pro Tag über WhatsApp verschickt?")
    assert year.period is not None and year.period.label() == "2014"
    assert "18 Milliarden" in year.snippets[0].text  # a boost, not a filter
    assert plain.to_dict()["period"] is None


def test_cli_prints_the_period_and_the_url(dated_index):
    result = run_qa("ask", "--index", str(dated_index), "Wie hoch war der Mindestlohn 2015?")
    assert "Zeitraum: 2015\n" in result.stdout
    assert "(2015-01-02)" in result.stdout and URL in result.stdout


# --- The page: pure rendering of dated and linked citations ------------------------------------

CITED = Citation(1, "d1", "Mindestlohn gilt", "2015-01-02", "d.jsonl#1", 0, 5, URL + "/x")


def test_page_shows_each_snippets_date_and_links_its_url():
    line = render.citation_line(CITED, "de")
    assert "Stand: 02.01.2015" in line
    assert f'<a href="{URL}/x" target="_blank" rel="noopener noreferrer">Mindestlohn gilt</a>' in (
        line
    )
    assert "As of 2015-01-02" in render.citation_line(CITED, "en")
    undated = Citation(2, "d2", "Ohne", None, "a.txt", 0, 1)
    assert "ohne Datum" in render.citation_line(undated, "de")
    assert "Stand: 03.2019" in render.date_text("2019-03", "de")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "ftp://example.com/a",
        "//example.com/a",
        "https://exa mple.com",
        '"><script>x</script>',
        None,
    ],
)
def test_only_http_urls_become_links(url):
    assert http_url(url) is None
    citation = Citation(1, "d1", "Titel", "2020-01-01", "a.txt", 0, 1, url)
    markup = render.citation_line(citation, "de")
    assert "<a " not in markup and "href" not in markup


def test_answer_shows_the_period():
    snippet = Snippet("Satz.", 1.0, CITED)
    answer = Answer("Wie hoch 2015?", False, (snippet,), Period("2015-01-01", "2015-12-31", "2015"))
    assert '<p class="qa-period">Zeitraum: 2015</p>' in render.answer_html(answer, "de")
    relative = Period("2024-01-01", "2024-12-31", "vor einem Jahr")
    text = re.sub(r"<[^>]+>", "", render.period_html(relative, "en"))
    assert text == "Period: 2024 (“vor einem Jahr”)"
    declined = Answer("?", True, (), relative)
    assert "Zeitraum: 2024" in render.answer_html(declined, "de")
