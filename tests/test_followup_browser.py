"""A follow-up in the chat page, as a person types it: `qa serve` and headless Chromium.

Skips like tests/test_ui_browser.py when Chromium or Playwright is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_ui_browser import (  # noqa: F401 - fixtures are used by name
    ANSWER_TIMEOUT_MS,
    Server,
    ask,
    browser,
    start_server,
    stop,
    sync_api,
)

pytestmark = pytest.mark.browser

USERS = "Wie viele Nutzer hat WhatsApp?"


@pytest.fixture(scope="module")
def server(seed_corpus, cache_dir, tmp_path_factory) -> Iterator[Server]:
    server = start_server(seed_corpus, tmp_path_factory.mktemp("ui-followup") / "index", cache_dir)
    yield server
    stop(server)


@pytest.fixture
def tall_page(browser):  # noqa: F811 - the fixture imported above
    page = browser.new_page(viewport={"width": 1280, "height": 1400}, locale="de-DE")
    yield page
    page.close()


def overflowing(page) -> list[str]:
    """Elements of the chat that scroll because their content does not fit."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#qa-chat, #qa-chat *')]
              .filter(el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowY))
              .filter(el => el.scrollHeight > el.clientHeight + 2)
              .map(el => el.className || el.tagName)"""
    )


def test_und_in_deutschland_continues_the_question_before(server, tall_page):
    expect = sync_api.expect
    page = tall_page
    page.goto(server.url)
    ask(page, USERS)
    assert overflowing(page) == []  # one answer fits: the chat is not a fixed small box

    ask(page, "Und in Deutschland?")
    last = page.locator("#qa-chat .bot").last
    expect(last).to_contain_text("30 Millionen")
    expect(last).to_contain_text(f"bezogen auf: {USERS}")
    assert "„„" not in page.locator("#qa-chat").inner_text()

    # A fresh conversation: the same words no longer lean on anything.
    page.click("#qa-clear")
    expect(page.locator("#qa-chat .bot")).to_have_count(0)
    ask(page, "Und in Deutschland?")
    expect(page.locator("#qa-chat .bot").last).not_to_contain_text(
        "bezogen auf", timeout=ANSWER_TIMEOUT_MS
    )


def test_the_api_takes_the_conversation(server):
    client_module = pytest.importorskip("gradio_client")
    client = client_module.Client(server.url, verbose=False)
    first = client.predict(USERS, api_name="/ask")
    history = [{"question": USERS, "answer": first}]
    result = client.predict("Und in Deutschland?", "", "", [], history, api_name="/ask")
    assert result["context"] == {"question": USERS}
    assert "30 Millionen" in result["snippets"][0]["text"]
    with pytest.raises(client_module.exceptions.AppError, match="history entry"):
        client.predict("Und?", "", "", [], [{"answer": first}], api_name="/ask")
