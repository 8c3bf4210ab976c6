"""The chat's HTML from hand-made `Answer`/`Article` values: no model, no index, no Gradio.

The same functions on a real answer from the real model are checked in test_ui.py.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys

import pytest

from qa.answer import DECLINE_DE, DECLINE_EN
from qa.errors import EmbeddingError, IndexUnavailable, InvalidFilter, InvalidInput, QAError
from qa.retrieval import Filters
from qa.types import Answer, Article, Citation, Snippet
from qa.ui import render
from qa.ui.texts import TEXTS

TEXT = (
    "Berlin (dpa) – Der Bundestag hat am Freitag den Haushalt beschlossen.\n"
    "Die Ausgaben steigen auf 480 Milliarden Euro. Die Opposition stimmte dagegen.\n"
    "Am Montag berät der Bundesrat."
)
ARTICLE = Article(
    "d1",
    "Bundestag beschließt Haushalt",
    "2024-02-02",
    "politik/haushalt.txt",
    TEXT,
    url="https://example.com/haushalt",
    publisher="dpa",
)
SENTENCE = "Die Ausgaben steigen auf 480 Milliarden Euro."
EVIL = '<script>window.__pwned=1</script><img src=x onerror="alert(1)"><a href="javascript:x">k</a>'


def strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def snippet_of(article: Article, text: str, n: int = 1, start: int | None = None) -> Snippet:
    """A snippet quoting `text` from `article`, cited at its offsets (or at `start`)."""
    start = article.text.index(text) if start is None else start
    citation = Citation(
        n, article.doc_id, article.title, article.date, article.source, start, start + len(text)
    )
    return Snippet(text, 0.8, citation)


def answer_of(*snippets: Snippet) -> Answer:
    return Answer("Wie hoch sind die Ausgaben?", abstained=False, snippets=snippets)


def test_highlight_escapes_everything_and_marks_exactly_the_span():
    text = 'a <script>x()</script> & "b"'
    start, end = text.index("<script>"), text.index("</script>") + len("</script>")
    marked = render.highlight(text, start, end)
    assert marked == "a <mark>&lt;script&gt;x()&lt;/script&gt;</mark> &amp; &quot;b&quot;"
    assert strip_tags(marked) == text
    with_id = render.highlight("abc", 1, 2, mark_id="qa-cited")
    assert with_id == 'a<mark id="qa-cited">b</mark>c'


@pytest.mark.parametrize("start,end", [(0, 0), (0, 3), (5, 9), (9, 9)])
def test_highlight_keeps_the_text_and_marks_the_offsets(start, end):
    text = "Ein <Satz> & mehr"
    marked = render.highlight(text, start, end)
    assert strip_tags(marked) == text
    inner = re.search(r"<mark>(.*?)</mark>", marked).group(1)
    assert html.unescape(inner) == text[start:end]


def test_snippet_context_is_its_paragraph_only():
    snippet = snippet_of(ARTICLE, SENTENCE)
    shown = render.snippet_in_context(TEXT, snippet.citation.start, snippet.citation.end)
    assert strip_tags(shown) == TEXT.splitlines()[1]  # the whole second paragraph, no ellipsis
    assert html.unescape(re.search(r"<mark>(.*?)</mark>", shown).group(1)) == SENTENCE


def test_paragraph_bounds_cut_long_paragraphs():
    text = "x" * 1000 + "SNIPPET" + "y" * 1000
    start = text.index("SNIPPET")
    para_start, para_end = render.paragraph_bounds(text, start, start + 7, limit=50)
    assert (para_start, para_end) == (start - 50, start + 57)
    shown = strip_tags(render.snippet_in_context(text, start, start + 7))
    assert shown.startswith("… x") and shown.endswith("y …")
    assert len(shown) == 2 + 300 + 7 + 300 + 2  # CONTEXT_CHARS either side


def test_locate_trusts_exact_offsets_and_finds_moved_text():
    exact = snippet_of(ARTICLE, SENTENCE)
    assert render.locate(ARTICLE, exact) == (exact.citation.start, exact.citation.end)
    moved = snippet_of(ARTICLE, SENTENCE, start=0)  # offsets from an older index version
    assert render.locate(ARTICLE, moved) == (exact.citation.start, exact.citation.end)
    gone = snippet_of(ARTICLE, "Gibt es nicht mehr.", start=0)
    assert render.locate(ARTICLE, gone) is None


def test_answer_quotes_snippets_with_markers_and_one_citation_line_each():
    first = snippet_of(ARTICLE, SENTENCE, n=1)
    second = snippet_of(ARTICLE, "Die Opposition stimmte dagegen.", n=2)
    markup = render.answer_html(answer_of(first, second), "de")
    assert f'<p>„{SENTENCE}“ <span class="qa-cite">[1]</span></p>' in markup
    assert '<span class="qa-cite">[2]</span>' in markup
    refs = markup.split('<p class="qa-refs">')[1]
    assert strip_tags(refs).count("Bundestag beschließt Haushalt") == 2


def test_citation_line_names_title_date_and_source():
    citation = snippet_of(ARTICLE, SENTENCE, n=3).citation
    line = render.citation_line(citation, "de")
    assert line == (
        '<span class="qa-cite">[3]</span> Bundestag beschließt Haushalt · Stand: 02.02.2024 · '
        "politik/haushalt.txt"
    )
    undated = Citation(1, "d2", "Ohne <Datum>", None, "a&b.txt", 0, 1)
    assert (
        strip_tags(render.citation_line(undated, "de")) == "[1] Ohne <Datum> · ohne Datum · a&b.txt"
    )
    assert "no date" in render.citation_line(undated, "en")


def test_decline_is_said_plainly_with_a_hint_that_fits():
    declined = Answer("Wie hoch ist die Inflation in Japan?", abstained=True)
    german = render.answer_html(declined, "de")
    assert DECLINE_DE in german and "anderen Worten" in german and "Filter" not in german
    english = render.answer_html(declined, "en")
    assert DECLINE_EN in english and "other words" in english
    assert "lockern Sie die Filter" in render.answer_html(declined, "de", filtered=True)
    assert "loosen the filters" in render.decline_html("en", filtered=True)
    # An answer without snippets is a decline too, never an empty bubble.
    assert DECLINE_DE in render.answer_html(Answer("?", abstained=False), "de")
    assert "<mark" not in render.sources_html(declined, {}, "de")


def test_sources_panel_shows_each_citation_in_context():
    answer = answer_of(snippet_of(ARTICLE, SENTENCE))
    panel = render.sources_html(answer, {"d1": ARTICLE}, "en")
    assert "<h3>Sources</h3>" in panel
    assert "2024-02-02 · politik/haushalt.txt · Publisher: dpa" in strip_tags(panel)
    assert "Bundesrat" not in panel  # the next paragraph
    # An article missing from the index now: the quoted text alone, still marked.
    missing = render.sources_html(answer, {}, "de")
    assert f"<mark>{SENTENCE}</mark>" in missing and "Herausgeber" not in missing
    assert "erscheinen hier" in render.sources_html(None, {}, "de")


def test_viewer_marks_the_cited_passage_or_says_it_moved():
    snippet = snippet_of(ARTICLE, SENTENCE)
    markup = render.article_html(ARTICLE, snippet, "de")
    mark = re.search(r'<mark id="qa-cited">(.*?)</mark>', markup, re.S).group(1)
    assert mark == SENTENCE
    body = markup.split('<div class="qa-article-text">')[1].removesuffix("</div></article>")
    assert strip_tags(body) == TEXT
    moved = Article("d1", "Titel", None, "a.txt", "Neu davor. Der Satz steht hier.")
    relocated = render.article_html(moved, snippet_of(moved, "Der Satz steht hier.", start=0), "de")
    assert '<mark id="qa-cited">Der Satz steht hier.</mark>' in relocated
    gone = render.article_html(moved, snippet_of(moved, "Gibt es nicht mehr.", start=0), "de")
    assert "<mark" not in gone and "nicht mehr enthalten" in gone
    assert "<mark" not in render.article_html(ARTICLE, None, "de")


def test_article_text_is_escaped_everywhere():
    article = Article(
        "d1",
        f"Titel {EVIL}",
        "2024-01-02",
        f"{EVIL}.txt",
        f"Satz. {EVIL} Ende.",
        url=f"javascript:{EVIL}",
        publisher=EVIL,
    )
    snippet = snippet_of(article, EVIL)
    answer = answer_of(snippet)
    for markup in (
        render.answer_html(answer, "de"),
        render.sources_html(answer, {"d1": article}, "de"),
        render.article_html(article, snippet, "en"),
        render.message_html(EVIL),
    ):
        assert "<script" not in markup and "<img" not in markup and "<a " not in markup
        assert "&lt;script&gt;" in markup
        # Inside real tags (those we built), no event handler and no link.
        assert not re.search(r"<[^>]*\s(on\w+|href|src)=", markup)
    # The picker shows titles as plain text (Gradio escapes it), so it keeps them verbatim.
    assert render.source_choices(answer) == [(f"[1] Titel {EVIL}", 1)]


def test_picker_choices_and_cited_snippet():
    first, second = snippet_of(ARTICLE, SENTENCE, 1), snippet_of(ARTICLE, "Am Montag", 2)
    answer = answer_of(first, second)
    assert render.source_choices(answer) == [
        ("[1] Bundestag beschließt Haushalt", 1),
        ("[2] Bundestag beschließt Haushalt", 2),
    ]
    assert render.source_choices(None) == []
    assert render.cited_snippet(answer, 2) == second
    assert render.cited_snippet(answer, 3) is None and render.cited_snippet(None, 1) is None


def test_source_options_list_folders_files_and_publishers():
    articles = {
        "a": Article("a", "A", None, "politik/inland/a.txt", "x", publisher="dpa"),
        "b": Article("b", "B", None, "b.json", "y", publisher="taz"),
        "c": Article("c", "C", None, "b.json#2", "z"),
    }
    values = [value for _, value in render.source_options(articles)]
    assert values == ["politik/", "politik/inland/", "b.json", "politik/inland/a.txt", "dpa", "taz"]
    # Each option is something Filters understands.
    assert Filters(sources=("b.json",)).allows(None, "b.json#2", None)
    assert Filters(sources=("politik/",)).allows(None, "politik/inland/a.txt", "dpa")
    assert Filters(sources=("taz",)).allows(None, "b.json", "taz")


def test_example_questions_without_the_seed_articles_ask_about_headlines():
    other = {
        "x": Article("x", "Bahnstreik legt Fernverkehr lahm", None, "x.html", "Streik."),
        "y": Article("y", "Ein abgeschnittener Anfang …", None, "y.txt", "Text."),
    }
    assert render.example_questions(other) == [
        "Worum geht es in „Bahnstreik legt Fernverkehr lahm“?"
    ]
    seeded = {"s": Article("s", "S", None, "s.txt", "… 18 Milliarden Nachrichten …")}
    assert render.example_questions(seeded) == [
        "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
    ]


@pytest.mark.parametrize(
    "err,german,english",
    [
        (InvalidFilter("date-from 'gestern' is not a date"), "JJJJ-MM-TT", "YYYY-MM-DD"),
        (InvalidInput("the question is too long"), "Eingabe passt nicht", "input does not fit"),
        (IndexUnavailable("no index in /x"), "qa index", "qa index"),
        (EmbeddingError("no model in /m"), "Suchindex ist nicht verfügbar", "not available"),
        (QAError("something else"), "nicht geklappt", "did not work"),
    ],
)
def test_errors_become_a_friendly_message_with_the_detail(err, german, english):
    for lang, expected in (("de", german), ("en", english)):
        text = render.error_text(err, lang)
        assert expected in text and str(err) in text


def test_both_languages_say_everything():
    assert set(TEXTS["de"]) == set(TEXTS["en"])
    for key in TEXTS["de"]:  # the same placeholders in both
        assert re.findall(r"\{\w+\}", TEXTS["de"][key]) == re.findall(r"\{\w+\}", TEXTS["en"][key])


def test_rendering_does_not_need_gradio():
    code = "import sys, qa.ui.render; assert 'gradio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
