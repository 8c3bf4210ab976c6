"""The chat's formatting and handlers on a real index of the seed articles (real model, FAISS).

`service` is conftest's QAService over the session's seed index. The browser itself is exercised
in test_ui_browser.py, the rendering on hand-made values in test_ui_render.py; here we check
what the page is given for real answers.
"""

from __future__ import annotations

import html
import json
import logging
import re
import socket
from pathlib import Path

import gradio as gr
import pytest

import ui
from qa.answer import DECLINE_DE, DECLINE_EN
from qa.service import QAService
from qa.types import Answer
from qa.ui import app, render

REPO = Path(__file__).resolve().parents[1]
WHATSAPP_QUESTION = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
WHATSAPP_TITLE = "Smartphone Messaging-Dienst: WhatsApp für die Welt"
WHATSAPP_FILE = "003_7389650ab9ad13f7.txt"
FACEBOOK_FILE = "000_3cb8fdc91b0e35f3.txt"
OFF_TOPIC = "Wie hoch ist die Inflation in Japan?"


@pytest.fixture(scope="module")
def whatsapp_answer(service) -> Answer:
    return service.ask(WHATSAPP_QUESTION)


def strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_answer_html_shows_quotes_with_markers(whatsapp_answer):
    markup = render.answer_html(whatsapp_answer, "de")
    assert "18 Milliarden" in markup
    assert '<span class="qa-cite">[1]</span>' in markup
    assert WHATSAPP_TITLE in markup
    assert "ohne Datum" in markup  # the seed article has no date


def test_sources_panel_highlights_the_snippet_within_its_paragraph(service, whatsapp_answer):
    snippet = whatsapp_answer.snippets[0]
    c = snippet.citation
    article = service.article(c.doc_id)
    assert article.text[c.start : c.end] == snippet.text

    panel = render.sources_html(whatsapp_answer, service.index.articles, "de")
    assert WHATSAPP_TITLE in panel and WHATSAPP_FILE in panel
    marked = re.findall(r"<mark>(.*?)</mark>", panel, re.S)
    assert len(marked) == len(whatsapp_answer.snippets)
    assert html.unescape(marked[0]) == snippet.text
    # The context is the paragraph around the snippet, not the whole article.
    context = strip_tags(panel.split('<div class="qa-context">')[1])
    assert "430 Millionen aktive Nutzer" in context  # same paragraph, before the snippet
    assert "Sowjetunion" not in context  # next paragraph


def test_viewer_shows_the_whole_article_with_the_cited_passage_marked(service, whatsapp_answer):
    snippet = whatsapp_answer.snippets[0]
    article = service.article(snippet.citation.doc_id)
    markup = render.article_html(article, snippet, "de")
    assert '<mark id="qa-cited">' in markup
    mark = re.search(r'<mark id="qa-cited">(.*?)</mark>', markup, re.S).group(1)
    assert html.unescape(mark) == snippet.text
    body = markup.split('<div class="qa-article-text">')[1].removesuffix("</div></article>")
    assert strip_tags(body) == article.text


def test_decline_is_said_plainly_with_a_suggestion(service):
    answer = service.ask(OFF_TOPIC)
    assert answer.abstained
    german = render.answer_html(answer, "de")
    assert DECLINE_DE in german and "anderen Worten" in german
    english = render.answer_html(answer, "en")
    assert DECLINE_EN in english and "other words" in english
    assert "Filter" in render.answer_html(answer, "de", filtered=True)
    assert "<mark" not in render.sources_html(answer, service.index.articles, "de")


def test_one_ask_for_chat_and_api_gives_the_service_answer(service, whatsapp_answer):
    reply = app.ask(service, WHATSAPP_QUESTION, "", "", None, "de")
    assert reply.answer == whatsapp_answer and reply.error is None
    assert reply.message == render.answer_html(whatsapp_answer, "de")
    handlers = app.ChatHandlers(service, app.FeedbackLog(Path("unused")))
    assert handlers.api_ask(WHATSAPP_QUESTION) == whatsapp_answer.to_dict()


def test_source_filter_reaches_the_service(service):
    only_facebook = app.ask(service, WHATSAPP_QUESTION, "", "", [FACEBOOK_FILE], "de")
    assert "18 Milliarden" not in only_facebook.message
    assert only_facebook.answer is not None
    assert all(s.citation.source == FACEBOOK_FILE for s in only_facebook.answer.snippets)
    dated = app.ask(service, WHATSAPP_QUESTION, "2020-01", "2020-12", None, "de")
    assert "18 Milliarden" not in dated.message  # the WhatsApp article is not from 2020
    if dated.answer is None or dated.answer.abstained:
        assert "lockern Sie die Filter" in dated.message
    else:
        assert all(s.citation.date.startswith("2020") for s in dated.answer.snippets)


def test_empty_question_and_bad_filters_get_a_friendly_message(service):
    empty = app.ask(service, "   ", "", "", None, "de")
    assert empty.answer is None and "Bitte geben Sie eine Frage ein" in empty.message
    bad = app.ask(service, WHATSAPP_QUESTION, "gestern", "", None, "de")
    assert bad.answer is None and "gestern" in bad.message and "JJJJ-MM-TT" in bad.message
    impossible = app.ask(service, WHATSAPP_QUESTION, "", "2020-02-30", None, "en")
    assert impossible.answer is None and "2020-02-30" in impossible.error
    assert "YYYY-MM-DD" in impossible.error
    reversed_range = app.ask(service, WHATSAPP_QUESTION, "2021", "2020-06", None, "de")
    assert reversed_range.answer is None and "„Von“ darf nicht nach „Bis“" in reversed_range.error
    handlers = app.ChatHandlers(service, app.FeedbackLog(Path("unused")))
    with pytest.raises(gr.Error, match="gestern"):
        handlers.api_ask(WHATSAPP_QUESTION, "gestern")
    with pytest.raises(gr.Error, match="Bitte geben Sie eine Frage ein"):
        handlers.api_ask("")


def test_a_bug_shows_a_generic_line_and_logs_the_traceback(caplog):
    class Broken:
        def ask(self, question, filters):
            raise RuntimeError("kaputt im Kern")

    with caplog.at_level(logging.ERROR, logger="qa.ui.app"):
        reply = app.ask(Broken(), WHATSAPP_QUESTION, "", "", None, "en")
    assert reply.answer is None and "internal error" in reply.message
    assert "kaputt" not in reply.message and "Traceback" not in reply.message
    assert "kaputt im Kern" in caplog.text and "RuntimeError" in caplog.text


def test_missing_index_gets_a_friendly_message_without_traceback(tmp_path):
    missing = QAService(tmp_path / "nowhere")
    reply = app.ask(missing, WHATSAPP_QUESTION, "", "", None, "de")
    assert reply.answer is None
    assert "Suchindex ist nicht verfügbar" in reply.message and "qa index" in reply.message
    assert "Traceback" not in reply.message
    # The page still builds, with no examples and no source options to offer.
    assert isinstance(ui.build_app(missing, tmp_path / "feedback.jsonl"), gr.Blocks)


def test_chat_turn_updates_history_sources_and_picker(service, whatsapp_answer, tmp_path):
    handlers = app.ChatHandlers(service, app.FeedbackLog(tmp_path / "feedback.jsonl"))
    history, turns, box, panel, picker, viewer, latest = handlers.respond(
        WHATSAPP_QUESTION, [], {}, "de", "", "", None
    )
    assert [m["role"] for m in history] == ["user", "assistant"] and box == ""
    assert turns == {1: (WHATSAPP_QUESTION, whatsapp_answer)} and latest == whatsapp_answer
    assert WHATSAPP_TITLE in panel and "<mark>" in panel
    assert picker["choices"] == render.source_choices(whatsapp_answer)
    assert '<mark id="qa-cited">' in handlers.show_article(1, latest, "de")
    assert handlers.show_article(None, latest, "de") == render.viewer_hint_html("de")
    # A failed question keeps the previous sources (the later outputs are skipped).
    again = handlers.respond("", history, turns, "en", "", "", None)
    assert "Please type a question" in again[0][-1]["content"] and len(again[0]) == 3
    assert again[1] == turns


def test_example_questions_fit_the_corpus(service):
    examples = render.example_questions(service.index.articles)
    assert examples[0] == WHATSAPP_QUESTION and len(examples) == 3


def test_feedback_is_one_json_line_per_rating(tmp_path, whatsapp_answer):
    log = app.FeedbackLog(tmp_path / "index" / "feedback.jsonl")
    log.record(WHATSAPP_QUESTION, whatsapp_answer, "up")
    log.record(WHATSAPP_QUESTION, whatsapp_answer, "down")
    lines = [json.loads(line) for line in log.path.read_text("utf-8").splitlines()]
    assert [set(entry) for entry in lines] == [{"time", "question", "answer", "rating"}] * 2
    assert [entry["rating"] for entry in lines] == ["up", "down"]
    assert lines[0]["answer"] == whatsapp_answer.to_dict()


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
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    page = ui.build_app(service, tmp_path / "feedback.jsonl")
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        example = readme_client_example().replace("127.0.0.1:7860", f"127.0.0.1:{port}")
        namespace: dict = {}
        exec(compile(example, "README.md", "exec"), namespace)
        result = namespace["result"]
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        with pytest.raises(AppError, match="JJJJ-MM-TT"):
            client.predict(WHATSAPP_QUESTION, "gestern", api_name="/ask")
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    finally:
        page.close()
    assert result == service.ask(WHATSAPP_QUESTION).to_dict()
    assert "18 Milliarden" in result["snippets"][0]["text"]
    assert list(endpoints) == ["/ask", "/check"]  # the chat's own events are private
    parameters = [p["parameter_name"] for p in endpoints["/ask"]["parameters"]]
    assert parameters == ["question", "date_from", "date_to", "sources", "history"]
