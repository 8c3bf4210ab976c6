"""The chat as a person uses it: `qa serve` in a subprocess, the page in headless Chromium.

Skips when Debian's Chromium (/usr/bin/chromium) or Playwright's Python package is missing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# What a first start may take: indexing the corpus, loading the model.
STARTUP_TIMEOUT = 300
ANSWER_TIMEOUT_MS = 60_000

WHATSAPP_QUESTION = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
WHATSAPP_TITLE = "Smartphone Messaging-Dienst: WhatsApp für die Welt"

# An article whose text tries every way to become live markup (and to reach another host).
HOSTILE_ARTICLE = """Neuer Radweg <b>in</b> Musterstadt <img src=x onerror="window.__pwned=4"> \
eröffnet
Die Stadt Musterstadt hat am Freitag einen neuen Radweg entlang des Flusses eröffnet.
Der neue Radweg ist 12 Kilometer lang <script>window.__pwned=1</script> und verbindet die \
Altstadt mit dem Gewerbegebiet <img src=x onerror="window.__pwned=2"> im Norden \
<a href="javascript:window.__pwned=3">klick</a> [Mehr](https://example.com/mehr) \
<img src="https://example.com/pixel.png">.
Die Bauarbeiten dauerten zwei Jahre und kosteten 3,4 Millionen Euro.
"""
HOSTILE_QUESTION = "Wie lang ist der neue Radweg in Musterstadt?"
# Its file name is markup too: it becomes the source in citations and in the source filter.
HOSTILE_FILE = "radweg<img src=x onerror=window.__pwned=5>.txt"
# Where article text is shown: chat, sources panel, article picker, article viewer.
CONTAINERS = ("#qa-chat", "#qa-sources", "#qa-pick", "#qa-viewer", "#qa-source-filter")
LIVE_MARKUP = (
    "script",
    "img[onerror]",
    "img[src*='example.com']",
    "a[href^='javascript']",
    "a[href*='example.com']",
    "b",
)


@dataclass
class Server:
    url: str
    index: Path
    process: subprocess.Popen
    seconds_to_url: float
    log: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(corpus: Path, index: Path, cache_dir: Path) -> Server:
    """Run `qa serve` as a user would and wait for the URL it prints."""
    env = os.environ | {
        "QA_CACHE_DIR": str(cache_dir),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        # `qa serve` imports the top-level ui.py, which the editable install does not map.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "qa.cli",
        "serve",
        "--corpus",
        str(corpus),
        "--index",
        str(index),
        "--port",
        str(free_port()),
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=index.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # read the output in a thread so waiting can time out
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    log: list[str] = []
    while time.monotonic() - started < STARTUP_TIMEOUT:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        log.append(line)
        if match := re.search(r"(http://\S+?)/?\s", line):
            return Server(match.group(1) + "/", index, process, time.monotonic() - started, log)
    process.kill()
    pytest.fail("qa serve printed no URL:\n" + "".join(log[-40:]))


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def seed_server(seed_corpus, cache_dir, tmp_path_factory) -> Iterator[Server]:
    server = start_server(seed_corpus, tmp_path_factory.mktemp("ui-seed") / "index", cache_dir)
    yield server
    stop(server)


@pytest.fixture(scope="module")
def hostile_server(seed_corpus, cache_dir, tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ui-hostile")
    corpus = root / "corpus"
    shutil.copytree(seed_corpus, corpus)
    (corpus / HOSTILE_FILE).write_text(HOSTILE_ARTICLE, encoding="utf-8")
    server = start_server(corpus, root / "index", cache_dir)
    yield server
    stop(server)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    page.requested_hosts = set()
    page.on("request", lambda request: page.requested_hosts.add(urlparse(request.url).hostname))
    yield page
    page.close()


def ask(page, question: str) -> float:
    """Type a question, press Fragen, wait until the answer is in the chat; returns seconds."""
    page.fill("#qa-question textarea", question)
    answers_before = page.locator("#qa-chat .bot").count()
    started = time.monotonic()
    page.click("#qa-ask")
    sync_api.expect(page.locator("#qa-chat .bot")).to_have_count(
        answers_before + 1, timeout=ANSWER_TIMEOUT_MS
    )
    return time.monotonic() - started


def choose_source(page, n: int) -> None:
    page.locator("#qa-pick label", has_text=f"[{n}]").click()
    sync_api.expect(page.locator("#qa-viewer mark")).to_have_count(1)


def test_ask_read_sources_and_open_the_article(seed_server, page):
    expect = sync_api.expect
    opened = time.monotonic()
    page.goto(seed_server.url)
    expect(page.locator("#qa-question textarea")).to_be_visible()
    seconds_to_answer = ask(page, WHATSAPP_QUESTION)

    chat = page.locator("#qa-chat")
    expect(chat).to_contain_text("18 Milliarden")
    expect(chat).to_contain_text("[1]")
    sources = page.locator("#qa-sources")
    expect(sources).to_contain_text(WHATSAPP_TITLE)
    expect(sources.locator("mark").first).to_contain_text("18 Milliarden")

    choose_source(page, 1)
    mark = page.locator("#qa-viewer mark")
    expect(mark).to_contain_text("18 Milliarden")
    expect(mark).to_be_in_viewport()
    expect(page.locator("#qa-viewer")).to_contain_text("Unsere Philosophie ist")  # whole article
    page.screenshot(path=str(REPO / "docs" / "screenshot.png"), full_page=True)

    assert page.requested_hosts <= LOCAL_HOSTS, page.requested_hosts
    print(
        f"\nqa serve: URL after {seed_server.seconds_to_url:.1f} s; page open to first answer "
        f"{time.monotonic() - opened:.1f} s (answer itself {seconds_to_answer:.1f} s)"
    )


def test_feedback_language_and_clear(seed_server, page):
    expect = sync_api.expect
    page.goto(seed_server.url)
    ask(page, WHATSAPP_QUESTION)

    # Gradio labels the thumbs in the browser's language.
    thumbs_up = "#qa-chat button[aria-label='Gefällt mir'], #qa-chat button[aria-label='Like']"
    page.locator(thumbs_up).last.click()
    feedback = seed_server.index / "feedback.jsonl"
    deadline = time.monotonic() + 10
    while not feedback.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    entry = json.loads(feedback.read_text("utf-8").splitlines()[-1])
    assert entry["rating"] == "up" and entry["question"] == WHATSAPP_QUESTION
    assert "18 Milliarden" in entry["answer"]["snippets"][0]["text"] and entry["time"]

    page.locator(".qa-example", has_text="Wie finanziert sich WhatsApp?").click()
    expect(page.locator("#qa-chat .bot")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#qa-chat .bot").last).to_contain_text("Abo-Gebühr")

    page.get_by_label("English").check()
    expect(page.get_by_label("Your question")).to_be_visible()
    expect(page.locator("#qa-ask")).to_have_text("Ask")
    ask(page, "Wie hoch ist die Inflation in Japan?")
    expect(page.locator("#qa-chat .bot").last).to_contain_text("I found nothing about that")

    page.click("#qa-clear")
    expect(page.locator("#qa-chat .bot")).to_have_count(0)
    ask(page, "   ")  # an empty question gets a friendly line, not an error
    expect(page.locator("#qa-chat .bot").last).to_contain_text("Please type a question")


def test_article_text_never_becomes_live_markup(hostile_server, page):
    expect = sync_api.expect
    page.goto(hostile_server.url)
    ask(page, HOSTILE_QUESTION)
    choose_source(page, 1)
    expect(page.locator("#qa-viewer mark")).to_contain_text("12 Kilometer")
    # Titles and file names also become choice labels (the article picker, the source filter):
    # shown as the literal text, never as markup.
    expect(page.locator("#qa-pick")).to_contain_text(HOSTILE_ARTICLE.splitlines()[0])
    if not page.locator("#qa-source-filter input").is_visible():
        page.get_by_text("Filter", exact=True).first.click()  # the filters start folded
    page.locator("#qa-source-filter input").click()
    expect(page.get_by_text(HOSTILE_FILE).first).to_be_visible()
    assert page.locator("img[onerror], img[src='x']").count() == 0  # anywhere on the page

    assert page.evaluate("typeof window.__pwned") == "undefined"
    for container in CONTAINERS:
        for selector in LIVE_MARKUP:
            assert page.locator(f"{container} {selector}").count() == 0, (container, selector)
    handlers = page.evaluate(
        """(roots) => roots.flatMap(root => [...document.querySelectorAll(root + ' *')])
              .flatMap(el => [...el.attributes].map(a => a.name))
              .filter(name => name.startsWith('on'))""",
        list(CONTAINERS),
    )
    assert handlers == []
    # The markup is visible as the literal text the article contains.
    expect(page.locator("#qa-chat")).to_contain_text("<script>window.__pwned=1</script>")
    expect(page.locator("#qa-viewer")).to_contain_text('<img src=x onerror="window.__pwned=2">')
    expect(page.locator("#qa-sources")).to_contain_text("Neuer Radweg <b>in</b> Musterstadt")
    assert page.requested_hosts <= LOCAL_HOSTS, page.requested_hosts
