"""Follow-up questions end to end: the service, `qa chat` and the `/ask` API handler, on the
real model and a real index of the seed articles; plus the page's rendering of them."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from qa.followup import Turn
from qa.types import Answer, Citation, Snippet
from qa.ui import render
from tests.conftest import run_qa

USERS = "Wie viele Nutzer hat WhatsApp?"


def test_a_followup_leans_on_the_previous_question(service):
    first, context = service.ask_in_context(USERS, [])
    assert context is None and not first.abstained
    answer, context = service.ask_in_context("Und in Deutschland?", [Turn.of(first)])
    assert context is not None and context.question == USERS
    assert answer.question == "Und in Deutschland?"
    assert "30 Millionen" in answer.snippets[0].text
    assert service.ask("Und in Deutschland?", history=[Turn.of(first)]) == answer


def test_a_self_contained_question_is_not_bent_by_history(service):
    first = service.ask(USERS)
    question = "Wie finanziert sich WhatsApp?"
    answer, context = service.ask_in_context(question, [Turn.of(first)])
    assert context is None
    assert answer.to_dict() == service.ask(question).to_dict()


def test_qa_chat_json_keeps_the_conversation_until_a_blank_line(seed_index):
    lines = [USERS, "Und in Deutschland?", "und wie viele nachrichten pro tag?", "", "Und?"]
    result = run_qa("chat", "--index", str(seed_index), "--json", stdin="\n".join(lines) + "\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == [q for q in lines if q]
    assert rows[0]["context"] is None
    assert rows[1]["context"] == {"question": USERS}
    assert "30 Millionen" in rows[1]["snippets"][0]["text"]
    # In a chain, the context stays the question that named the subject.
    assert rows[2]["context"] == {"question": USERS}
    assert "18 Milliarden" in rows[2]["snippets"][0]["text"]
    # After the blank line the conversation is new: nothing to lean on.
    assert rows[3]["context"] is None
    # Every row is a `qa ask --json` object plus the context.
    assert {"question", "abstained", "snippets", "context"} <= set(rows[0])


def test_qa_chat_says_what_a_followup_leans_on_and_reports_a_bad_line(seed_index):
    typed = "x" * 3000 + f"\n{USERS}\nUnd in Deutschland?\n"
    result = run_qa("chat", "--index", str(seed_index), stdin=typed, check=False)
    assert result.returncode == 1  # one question could not be asked; the others were
    assert "error: the question is too long" in result.stdout
    assert f"(bezogen auf: {USERS})" in result.stdout
    assert "30 Millionen" in result.stdout


def test_the_api_takes_the_history_as_qa_ask_json(service):
    from qa.ui.app import ChatHandlers, FeedbackLog

    handlers = ChatHandlers(service, FeedbackLog(None))
    first = handlers.api_ask(USERS)
    assert "context" not in first  # without history: exactly `qa ask --json`
    result = handlers.api_ask("Und in Deutschland?", history=[{"question": USERS, "answer": first}])
    assert result["context"] == {"question": USERS}
    assert "30 Millionen" in result["snippets"][0]["text"]
    alone = handlers.api_ask("Wie finanziert sich WhatsApp?", history=[])
    assert alone["context"] is None
    with pytest.raises(gr.Error):
        handlers.api_ask("Und in Deutschland?", history=[{"answer": first}])


def _snippet(text: str) -> Snippet:
    return Snippet(text, 1.0, Citation(1, "d", "Titel", None, "a.txt", 0, len(text)))


def test_a_snippet_that_is_a_quotation_gets_no_second_quotation_mark():
    quote = "„Unsere Philosophie ist, so wenig über unsere Nutzer zu wissen, wie möglich.“"
    html = render.answer_html(Answer("Frage", False, (_snippet(quote),)), "de")
    assert "„„" not in html and "““" not in html
    assert html.count("„") == 1
    plain = render.answer_html(Answer("Frage", False, (_snippet("Koum sagte das."),)), "de")
    assert "„Koum sagte das.“" in plain


def test_the_message_says_what_a_followup_leans_on():
    assert render.context_html(None, "de") == ""
    assert "bezogen auf: Wie viele &lt;Nutzer&gt;?" in render.context_html(
        "Wie viele <Nutzer>?", "de"
    )
    assert "understood as follow-up to" in render.context_html(USERS, "en")


def test_example_questions_are_refreshed_from_the_loaded_archive(service):
    from qa.ui.app import ChatHandlers, FeedbackLog

    updates = ChatHandlers(service, FeedbackLog(None)).examples()
    assert len(updates) == render.EXAMPLES
    shown = [u["value"] for u in updates if u.get("visible")]
    assert shown == render.example_questions(service.index.articles)
    assert "Wie finanziert sich WhatsApp?" in shown


def test_readme_history_example_works_against_a_running_server(service, tmp_path):
    import re
    import socket

    from qa.ui.app import build_app
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("<!-- section:chat -->")[1].split("<!-- /section:chat -->")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    client_block = next(b for b in blocks if "gradio_client" in b)
    history_block = next(b for b in blocks if "history" in b)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page = build_app(service, tmp_path / "feedback.jsonl")
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        namespace: dict = {}
        for block in (client_block, history_block):
            code = block.replace("127.0.0.1:7860", f"127.0.0.1:{port}")
            exec(compile(code, "README.md", "exec"), namespace)
    finally:
        page.close()
    assert namespace["followup"]["context"] == {"question": USERS}
    assert "30 Millionen" in namespace["followup"]["snippets"][0]["text"]
