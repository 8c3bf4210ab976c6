"""The chat's formatting and handlers on a real index of the seed articles (real model, FAISS).

`service` is conftest's QAService over the session's seed index. The browser itself is exercised
in test_ui_browser.py; here we check what the page is given.
"""

from __future__ import annotations

import html
import json
import re
import socket
from pathlib import Path

import gradio as gr
import pytest

import ui
from qa.answer import DECLINE_DE, DECLINE_EN
from qa.service import QAService
from qa.types import Article

REPO = Path(__file__).resolve().parents[1]
WHATSAPP_QUESTION = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
WHATSAPP_TITLE = "Smartphone Messaging-Dienst: WhatsApp für die Welt"
WHATSAPP_FILE = "003_7389650ab9ad13f7.txt"
FACEBOOK_FILE = "000_3cb8fdc91b0e35f3.txt"
OFF_TOPIC = "Wie hoch ist die Inflation in Japan?"


@pytest.fixture(scope="module")
def whatsapp_answer(service) -> dict:
    return service.ask(WHATSAPP_QUESTION).to_dict()


def strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_highlight_escapes_everything_and_marks_exactly_the_span():
    text = 'a <script>x()</script> & "b"'
    start, end = text.index("<script>"), text.index("</script>") + len("</script>")
    marked = ui.highlight(text, start, end)
    assert "<script" not in marked
    assert marked == ("a <mark>&lt;script&gt;x()&lt;/script&gt;</mark> &amp; &quot;b&quot;")
    assert strip_tags(marked) == text


def test_answer_html_shows_quotes_with_markers(whatsapp_answer):
    markup = ui.answer_html(whatsapp_answer, "de")
    assert "18 Milliarden" in markup
    assert '<span class="qa-cite">[1]</span>' in markup
    assert WHATSAPP_TITLE in markup
    assert "ohne Datum" in markup  # the seed article has no date


def test_sources_panel_highlights_the_snippet_within_its_paragraph(service, whatsapp_answer):
    snippet = whatsapp_answer["snippets"][0]
    c = snippet["citation"]
    article = service.article(c["doc_id"])
    assert article.text[c["start"] : c["end"]] == snippet["text"]

    panel = ui.sources_html(whatsapp_answer, service.index.articles, "de")
    assert WHATSAPP_TITLE in panel and WHATSAPP_FILE in panel
    marked = re.findall(r"<mark>(.*?)</mark>", panel, re.S)
    assert len(marked) == len(whatsapp_answer["snippets"])
    assert html.unescape(marked[0]) == snippet["text"]
    # The context is the paragraph around the snippet, not the whole article.
    context = strip_tags(panel.split('<div class="qa-context">')[1])
    assert "430 Millionen aktive Nutzer" in context  # same paragraph, before the snippet
    assert "Sowjetunion" not in context  # next paragraph


def test_paragraph_bounds_cut_long_paragraphs():
    text = "x" * 1000 + "SNIPPET" + "y" * 1000
    start = text.index("SNIPPET")
    para_start, para_end = ui.paragraph_bounds(text, start, start + 7, limit=50)
    assert (para_start, para_end) == (start - 50, start + 57)
    shown = strip_tags(ui.snippet_in_context(text, start, start + 7))
    assert shown.startswith("… x") and shown.endswith("y …")


def test_viewer_shows_the_whole_article_with_the_cited_passage_marked(service, whatsapp_answer):
    snippet = whatsapp_answer["snippets"][0]
    article = service.article(snippet["citation"]["doc_id"])
    markup = ui.article_html(article, snippet, "de")
    assert '<mark id="qa-cited">' in markup
    mark = re.search(r'<mark id="qa-cited">(.*?)</mark>', markup, re.S).group(1)
    assert html.unescape(mark) == snippet["text"]
    body = markup.split('<div class="qa-article-text">')[1].removesuffix("</div></article>")
    assert strip_tags(body) == article.text


def test_viewer_finds_the_passage_when_offsets_moved():
    article = Article("d1", "Titel", None, "a.txt", "Neu davor. Der Satz steht hier.")
    snippet = {"text": "Der Satz steht hier.", "citation": {"start": 0, "end": 20}}
    assert ui.locate(article, snippet["text"], 0, 20) == (11, 31)
    gone = {"text": "Gibt es nicht mehr.", "citation": {"start": 0, "end": 19}}
    markup = ui.article_html(article, gone, "de")
    assert "<mark" not in markup and "nicht mehr enthalten" in markup


def test_article_text_is_escaped_everywhere():
    evil = (
        '<script>window.__pwned=1</script><img src=x onerror="alert(1)">'
        '<a href="javascript:x">k</a>'
    )
    article = Article(
        "d1",
        f"Titel {evil}",
        "2024-01-02",
        f"{evil}.txt",
        f"Satz. {evil} Ende.",
        url=f"javascript:{evil}",
        publisher=evil,
    )
    start = article.text.index("<script>")
    snippet = {
        "text": article.text[start : start + len(evil)],
        "score": 1.0,
        "citation": {
            "n": 1,
            "doc_id": "d1",
            "title": article.title,
            "date": article.date,
            "source": article.source,
            "start": start,
            "end": start + len(evil),
        },
    }
    answer = {"question": "?", "abstained": False, "snippets": [snippet]}
    for markup in (
        ui.answer_html(answer, "de"),
        ui.sources_html(answer, {"d1": article}, "de"),
        ui.article_html(article, snippet, "en"),
        ui.message_html(evil),
    ):
        assert "<script" not in markup and "<img" not in markup and "<a " not in markup
        assert "&lt;script&gt;" in markup
        # Inside real tags (those we built), no event handler and no link.
        assert not re.search(r"<[^>]*\s(on\w+|href|src)=", markup)


def test_decline_is_said_plainly_with_a_suggestion(service):
    answer = service.ask(OFF_TOPIC).to_dict()
    assert answer["abstained"]
    german = ui.answer_html(answer, "de")
    assert DECLINE_DE in german and "anderen Worten" in german
    english = ui.answer_html(answer, "en")
    assert DECLINE_EN in english and "other words" in english
    assert "Filter" in ui.answer_html(answer, "de", filtered=True)
    assert "<mark" not in ui.sources_html(answer, service.index.articles, "de")


def test_filters_from_the_form():
    assert ui.make_filters("", " ", None) == ui.Filters()
    filters = ui.make_filters("2020", "2020-06-30", [FACEBOOK_FILE])
    assert filters == ui.Filters("2020", "2020-06-30", (FACEBOOK_FILE,))
    with pytest.raises(ui.UserError, match="JJJJ"):
        ui.make_filters("1.6.2020", "", None)
    with pytest.raises(ui.UserError, match="YYYY"):
        ui.make_filters("", "2020/06", None, lang="en")


def test_source_filter_reaches_the_service(service):
    only_facebook = ui.ask_for_page(service, WHATSAPP_QUESTION, "", "", [FACEBOOK_FILE], "de")
    assert "18 Milliarden" not in only_facebook.message
    assert all(
        s["citation"]["source"] == FACEBOOK_FILE
        for s in (only_facebook.answer or {}).get("snippets", [])
    )
    dated = ui.ask_for_page(service, WHATSAPP_QUESTION, "2020-01", "2020-12", None, "de")
    assert "18 Milliarden" not in dated.message  # the WhatsApp article has no date


def test_empty_question_and_bad_date_get_a_friendly_message(service):
    empty = ui.ask_for_page(service, "   ", "", "", None, "de")
    assert empty.answer is None and "Bitte geben Sie eine Frage ein" in empty.message
    bad = ui.ask_for_page(service, WHATSAPP_QUESTION, "gestern", "", None, "de")
    assert bad.answer is None and "gestern" in bad.message


def test_missing_index_gets_a_friendly_message_without_traceback(tmp_path):
    missing = QAService(tmp_path / "nowhere")
    reply = ui.ask_for_page(missing, WHATSAPP_QUESTION, "", "", None, "de")
    assert reply.answer is None
    assert "Suchindex ist nicht verfügbar" in reply.message and "qa index" in reply.message
    assert "Traceback" not in reply.message
    # The page still builds, with no examples and no source options to offer.
    assert isinstance(ui.build_app(missing, tmp_path / "feedback.jsonl"), gr.Blocks)


def test_source_options_list_folders_files_and_publishers():
    articles = {
        "a": Article("a", "A", None, "politik/inland/a.txt", "x", publisher="dpa"),
        "b": Article("b", "B", None, "b.json", "y", publisher="taz"),
        "c": Article("c", "C", None, "b.json#2", "z"),
    }
    values = [value for _, value in ui.source_options(articles)]
    assert values == ["politik/", "politik/inland/", "b.json", "politik/inland/a.txt", "dpa", "taz"]
    assert ui.Filters(sources=("b.json",)).allows(None, "b.json#2", None)
    # Each option is something Filters understands.
    assert ui.Filters(sources=("politik/",)).allows(None, "politik/inland/a.txt", "dpa")
    assert ui.Filters(sources=("taz",)).allows(None, "b.json", "taz")


def test_example_questions_fit_the_corpus(service):
    examples = ui.example_questions(service.index.articles)
    assert examples[0] == WHATSAPP_QUESTION and len(examples) == 3
    other = {"x": Article("x", "Bahnstreik legt Fernverkehr lahm", None, "x.html", "Streik.")}
    assert ui.example_questions(other) == ["Worum geht es in „Bahnstreik legt Fernverkehr lahm“?"]


def test_feedback_is_one_json_line_per_rating(tmp_path, whatsapp_answer):
    log = ui.FeedbackLog(tmp_path / "index" / "feedback.jsonl")
    log.record(WHATSAPP_QUESTION, whatsapp_answer, "up")
    log.record(WHATSAPP_QUESTION, whatsapp_answer, "down")
    lines = [json.loads(line) for line in log.path.read_text("utf-8").splitlines()]
    assert [set(entry) for entry in lines] == [{"time", "question", "answer", "rating"}] * 2
    assert [entry["rating"] for entry in lines] == ["up", "down"]
    assert lines[0]["answer"] == whatsapp_answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_client_example() -> str:
    """The Python example from the README's chat section, as documented."""
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("<!-- section:chat -->")[1].split("<!-- /section:chat -->")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    example = next(b for b in blocks if "gradio_client" in b)
    return example


def test_readme_api_example_works_against_a_running_server(service, tmp_path, capsys):
    app = ui.build_app(service, tmp_path / "feedback.jsonl")
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        example = readme_client_example().replace("127.0.0.1:7860", f"127.0.0.1:{port}")
        namespace: dict = {}
        exec(compile(example, "README.md", "exec"), namespace)
        result = namespace["result"]
    finally:
        app.close()
    assert result == service.ask(WHATSAPP_QUESTION).to_dict()
    assert "18 Milliarden" in result["snippets"][0]["text"]
