"""The chat page's wiring: Gradio components, their events, the `/ask` API, and `serve`.

A thin layer over `QAService`. Every question, from the chat box, an example button or the
`/ask` API, goes through the one function `ask`, which validates the filters (with
`Filters.parse`), asks the service and turns each outcome into a `Reply`. What the page shows is
built by `qa.ui.render`; what it says lives in `qa.ui.texts`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Before Gradio is imported: it reads this when it loads, and the chat must not phone home.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# After every event Gradio rebuilds a pandas summary of up to 10,000 past events, for a
# monitoring page this server does not enable. Under load that took most of the event loop's
# time and grew the memory (docs/benchmarks.md): keep few events, summarise almost never.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "100")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000000")

from qa.ui.quick_import import skip_gradio_stubs  # noqa: E402

skip_gradio_stubs()  # half of Gradio's import time, see there
import gradio as gr  # noqa: E402

from qa.auth import Login  # noqa: E402
from qa.claims import CheckResult  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.cores import cpu_cores  # noqa: E402
from qa.errors import QAError  # noqa: E402
from qa.followup import Turn  # noqa: E402
from qa.retrieval import Filters  # noqa: E402
from qa.service import QAService  # noqa: E402
from qa.serving import Batcher, limit_threads  # noqa: E402
from qa.types import Answer, Article  # noqa: E402
from qa.ui import render  # noqa: E402
from qa.ui.texts import CSS, DEFAULT_LANGUAGE, LANGUAGES, SCROLL_TO_MARK_JS, TEXTS  # noqa: E402

log = logging.getLogger(__name__)

# System fonts only: the page must not fetch anything from another host.
THEME = gr.themes.Default(
    font=[gr.themes.Font("system-ui"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
)
PRIVATE = {"api_visibility": "private"}  # only /ask and /check are the public API
# Every event that answers shares one budget: Gradio runs this many at once, each a thread
# waiting for the answer workers (`qa.serving`), which do the computing, one per core; more
# wait in Gradio's queue, which costs no thread. 32 keeps the workers supplied: 50 users
# without think time get 33-42 answers/s on 2 cores (docs/benchmarks.md, section load).
WAITING_ANSWERS = 32
LIGHT_EVENTS = 8  # viewer, labels, feedback: quick, a few at once each
ANSWERING = {"concurrency_id": "answer", "concurrency_limit": WAITING_ANSWERS}


# ---------------------------------------------------------------------------------------------
# The question path, shared by the chat and the API.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What one question produces: the chat message (HTML) and either the answer or, when
    there is none, the reason as plain text (for the API's error)."""

    message: str
    answer: Answer | None = None
    error: str | None = None
    # A checked claim (claim mode); `answer` then holds its evidence as snippets.
    check: CheckResult | None = None
    # The question a follow-up was understood to lean on (None: taken as self-contained).
    context: str | None = None

    @classmethod
    def failed(cls, reason: str) -> Reply:
        return cls(render.message_html(reason), error=reason)


def ask(
    service: QAService,
    question: str | None,
    date_from: str | None,
    date_to: str | None,
    sources: Sequence[str] | None,
    lang: str = DEFAULT_LANGUAGE,
    history: Sequence[Turn] = (),
) -> Reply:
    """Ask the service and turn every outcome, errors included, into a `Reply`.

    `history`: the conversation's earlier turns, oldest first; a follow-up leans on them and the
    message says which question it was understood to continue.
    A `QAError` is something the person asking can act on and gets a friendly message; anything
    else is a bug: the page says that something went wrong, the server log gets the traceback.
    """
    t = TEXTS[lang]
    if not (question or "").strip():
        return Reply.failed(t["empty_question"])
    try:
        filters = Filters.parse(date_from, date_to, sources)
        if history:
            answer, context = service.ask_in_context(question, history, filters)
        else:
            answer, context = service.ask(question, filters), None
    except QAError as err:
        return Reply.failed(render.error_text(err, lang))
    except Exception:  # the last resort: a friendly line on the page, the details in the log
        log.exception("answering %r failed", question)
        return Reply.failed(t["failed"])
    leaned = context.question if context else None
    message = render.context_html(leaned, lang) + render.answer_html(
        answer, lang, not filters.is_empty()
    )
    return Reply(message, answer, context=leaned)


def check(
    service: QAService,
    claim: str | None,
    date_from: str | None,
    date_to: str | None,
    sources: Sequence[str] | None,
    lang: str = DEFAULT_LANGUAGE,
) -> Reply:
    """Check a claim with the service (claim mode and `/check`); outcomes as in `ask`."""
    t = TEXTS[lang]
    if not (claim or "").strip():
        return Reply.failed(t["empty_claim"])
    try:
        filters = Filters.parse(date_from, date_to, sources)
        result = service.check(claim, filters)
    except QAError as err:
        return Reply.failed(render.error_text(err, lang))
    except Exception:  # the last resort, as in `ask`
        log.exception("checking %r failed", claim)
        return Reply.failed(t["failed"])
    message = render.check_html(result, lang, not filters.is_empty())
    return Reply(message, render.check_as_answer(result), check=result)


def refused(message: str) -> gr.Error:
    """The API's answer to input it cannot take: the message for the caller, and no traceback
    in the server log (a user's mistake is not a server fault; real faults are logged in `ask`)."""
    return gr.Error(message, print_exception=False)


def check_api_types(
    question: object, date_from: object, date_to: object, sources: object, first: str = "question"
) -> None:
    """The API takes any JSON: a number for the question or a list for a date is refused with
    a message (`refused`), not left to fail inside with a traceback in the log. `first`: what
    the first input is called (`claim` for `/check`)."""
    for name, value in ((first, question), ("date_from", date_from), ("date_to", date_to)):
        if value is not None and not isinstance(value, str):
            raise refused(f"{name} must be a string, not {type(value).__name__}")
    if sources is not None and not (
        isinstance(sources, list) and all(isinstance(s, str) for s in sources)
    ):
        raise refused("sources must be a list of strings (files, folders or publishers)")


def loaded_articles(service: QAService) -> Mapping[str, Article]:
    """The loaded articles, or none when the index is missing (the chat then says so)."""
    try:
        return service.index.articles
    except QAError:
        return {}


class FeedbackLog:
    """Appends one JSON line per rating; a lock keeps lines from concurrent sessions whole."""

    def __init__(self, path: Path | None):
        self.path = path  # None: ratings are not stored (`qa serve --read-only`)
        self._lock = threading.Lock()

    def record(self, question: str, answer: Answer, rating: str, user: str | None = None) -> dict:
        """Store `{time, question, answer, rating}` (+ `user` when logged in); `answer` is the
        `qa ask --json` object."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "question": question,
            "answer": answer.to_dict(),
            "rating": rating,
        }
        if user:
            entry["user"] = user
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        if self.path is None:
            return entry
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                # The same lock as `qa.takedown.scrub_feedback`, which rewrites this file.
                fcntl.flock(out, fcntl.LOCK_EX)
                out.write(line)
        return entry


# ---------------------------------------------------------------------------------------------
# The page: components, then the handlers that Gradio calls, then the wiring between them.
# ---------------------------------------------------------------------------------------------


@dataclass
class Page:
    """The components of the chat page that handlers read or update."""

    intro: gr.Markdown
    language: gr.Radio
    chatbot: gr.Chatbot
    mode: gr.Radio  # "ask" a question or "check" a claim
    question: gr.Textbox
    ask_button: gr.Button
    clear_button: gr.Button
    examples_label: gr.Markdown
    example_buttons: list[gr.Button]
    sources_panel: gr.HTML
    filters_box: gr.Accordion
    date_from: gr.Textbox
    date_to: gr.Textbox
    sources: gr.Dropdown
    pick: gr.Radio
    viewer: gr.HTML
    # Per session: the answers behind the chat messages ({message index: (question, answer)}),
    # for feedback; and the latest answer, for the sources panel and the viewer.
    turns: gr.State
    latest: gr.State


def mode_choices(t: dict[str, str]) -> list[tuple[str, str]]:
    return [(t["mode_ask"], "ask"), (t["mode_check"], "check")]


def chat_column(t: dict[str, str], articles: Mapping[str, Article]) -> dict:
    """The left column: chat, question box, buttons, example questions, sources panel."""
    chatbot = gr.Chatbot(
        label=t["chat"],
        placeholder=t["chat_placeholder"],
        elem_id="qa-chat",
        # As tall as its messages, up to most of the window; the sources follow below.
        height=None,
        min_height=240,
        max_height="calc(100vh - 220px)",
        # Messages are HTML built by qa.ui.render from escaped text: no Markdown, no LaTeX.
        render_markdown=False,
        sanitize_html=True,
        latex_delimiters=[],
        allow_tags=False,
        buttons=["copy", "copy_all"],
        feedback_options=("Like", "Dislike"),
    )
    mode = gr.Radio(
        mode_choices(t), value="ask", label=t["mode"], elem_id="qa-mode", container=False
    )
    question = gr.Textbox(
        label=t["question"], placeholder=t["question_placeholder"], elem_id="qa-question"
    )
    with gr.Row():
        ask_button = gr.Button(t["ask"], variant="primary", elem_id="qa-ask")
        clear_button = gr.Button(t["clear"], elem_id="qa-clear")
    examples_label = gr.Markdown(t["examples"])
    with gr.Row():
        # A fixed number of buttons, refreshed on every page load (`ChatHandlers.examples`).
        questions = render.example_questions(articles)
        example_buttons = [
            gr.Button(
                questions[i] if i < len(questions) else "",
                size="sm",
                elem_classes="qa-example",
                visible=i < len(questions),
            )
            for i in range(render.EXAMPLES)
        ]
    panel = render.sources_html(None, articles, DEFAULT_LANGUAGE)
    sources_panel = gr.HTML(panel, elem_id="qa-sources")
    return dict(
        chatbot=chatbot,
        mode=mode,
        question=question,
        ask_button=ask_button,
        clear_button=clear_button,
        examples_label=examples_label,
        example_buttons=example_buttons,
        sources_panel=sources_panel,
    )


def side_column(t: dict[str, str], articles: Mapping[str, Article]) -> dict:
    """The right column: filters, the article picker and the article viewer."""
    with gr.Accordion(t["filters"], open=False) as filters_box:
        with gr.Row():
            date_from = gr.Textbox(label=t["date_from"], placeholder="2020-01")
            date_to = gr.Textbox(label=t["date_to"], placeholder="2020-12-31")
        sources = gr.Dropdown(
            choices=render.source_options(articles),
            multiselect=True,
            label=t["sources"],
            elem_id="qa-source-filter",
        )
    pick = gr.Radio(choices=[], label=t["pick"], elem_id="qa-pick")
    hint = render.viewer_hint_html(DEFAULT_LANGUAGE)
    viewer = gr.HTML(hint, elem_id="qa-viewer", js_on_load=SCROLL_TO_MARK_JS)
    return dict(
        filters_box=filters_box,
        date_from=date_from,
        date_to=date_to,
        sources=sources,
        pick=pick,
        viewer=viewer,
    )


def layout(articles: Mapping[str, Article]) -> Page:
    """Create the page's components (inside an open `gr.Blocks`), labelled in German."""
    t = TEXTS[DEFAULT_LANGUAGE]
    with gr.Row():
        intro = gr.Markdown(t["intro"])
        language = gr.Radio(
            list(LANGUAGES),
            value=DEFAULT_LANGUAGE,
            label="Sprache / Language",
            scale=0,
            min_width=220,
        )
    with gr.Row():
        with gr.Column(scale=3):
            left = chat_column(t, articles)
        with gr.Column(scale=2):
            right = side_column(t, articles)
    return Page(
        intro=intro, language=language, turns=gr.State({}), latest=gr.State(None), **left, **right
    )


class ChatHandlers:
    """What the page's events do; every method calls `ask` or one service function and
    formats the result with `qa.ui.render`."""

    def __init__(self, service: QAService, feedback: FeedbackLog):
        self.service = service
        self.feedback = feedback

    def respond(self, text, history, turns, lang, date_from, date_to, sources, mode="ask"):
        """A question (or, in claim mode, a claim) from the chat: append it and the reply;
        show the answer's sources (the claim's evidence)."""
        if mode == "check":
            reply = check(self.service, text, date_from, date_to, sources, lang)
        else:
            earlier = [Turn.of(answer) for _, (_, answer) in sorted(turns.items())]
            reply = ask(self.service, text, date_from, date_to, sources, lang, earlier)
        history = [*history]
        if (text or "").strip():
            history.append({"role": "user", "content": render.message_html(text)})
        history.append({"role": "assistant", "content": reply.message})
        if reply.answer is None:  # nothing answered: keep the previous sources
            return history, turns, text, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        turns = {**turns, len(history) - 1: (text, reply.answer)}
        panel = render.sources_html(reply.answer, loaded_articles(self.service), lang)
        picker = gr.update(choices=render.source_choices(reply.answer), value=None)
        viewer = render.viewer_hint_html(lang)
        return history, turns, "", panel, picker, viewer, reply.answer

    def show_article(self, n: int | None, latest: Answer | None, lang: str) -> str:
        """The viewer for citation `n` of the latest answer."""
        snippet = render.cited_snippet(latest, n)
        if snippet is None:
            return render.viewer_hint_html(lang)
        try:
            article = self.service.article(snippet.citation.doc_id)
        except QAError:  # the index was rebuilt without this article, or is gone
            return render.message_html(TEXTS[lang]["gone"])
        return render.article_html(article, snippet, lang)

    def cleared(self, lang: str):
        """Empty per-session state, sources panel, picker and viewer."""
        panel = render.sources_html(None, {}, lang)
        picker = gr.update(choices=[], value=None)
        return {}, None, panel, picker, render.viewer_hint_html(lang)

    def cleared_with_chat(self, lang: str):
        return [], *self.cleared(lang)

    def rate(self, turns, lang: str, data: gr.LikeData, request: gr.Request = None) -> None:
        """👍/👎 under an answer: one line in the feedback log (with the user, if logged in)."""
        turn = turns.get(data.index)
        if turn is None or data.liked not in (True, False):
            return
        question, answer = turn
        user = getattr(request, "username", None)
        self.feedback.record(question, answer, "up" if data.liked else "down", user)
        gr.Info(TEXTS[lang]["thanks"])

    def switch_mode(self, mode: str, lang: str):
        """The question box and its button for asking or for checking a claim."""
        t = TEXTS[lang]
        if mode == "check":
            box = gr.update(label=t["claim"], placeholder=t["claim_placeholder"])
            return box, gr.update(value=t["check"])
        box = gr.update(label=t["question"], placeholder=t["question_placeholder"])
        return box, gr.update(value=t["ask"])

    def relabel(self, lang: str, latest: Answer | None, n: int | None, mode: str = "ask"):
        """Every label of the page in `lang` (the order of `relabel_outputs`)."""
        t = TEXTS[lang]
        box, button = self.switch_mode(mode, lang)
        return (
            t["intro"],
            gr.update(label=t["chat"], placeholder=t["chat_placeholder"]),
            box,
            button,
            gr.update(value=t["clear"]),
            t["examples"],
            gr.update(label=t["filters"]),
            gr.update(label=t["date_from"]),
            gr.update(label=t["date_to"]),
            gr.update(label=t["sources"]),
            gr.update(label=t["pick"]),
            render.sources_html(latest, loaded_articles(self.service), lang),
            self.show_article(n, latest, lang),
            gr.update(choices=mode_choices(t), label=t["mode"]),
        )

    def source_filter(self):
        """A rebuilt index may bring new sources: offered again on every page load."""
        return gr.update(choices=render.source_options(loaded_articles(self.service)))

    def examples(self):
        """The example questions for the archive loaded now (it may have been rebuilt)."""
        questions = render.example_questions(loaded_articles(self.service))
        return [
            gr.update(value=questions[i], visible=True)
            if i < len(questions)
            else gr.update(visible=False)
            for i in range(render.EXAMPLES)
        ]

    def api_ask(
        self,
        question: str,
        date_from: str = "",
        date_to: str = "",
        sources: list[str] | None = None,
        history: list[dict] | None = None,
    ) -> dict:
        """Answer a question with quoted, cited snippets: the JSON of `qa ask --json`.

        `history`: the conversation so far, oldest first, as `{"question": str, "answer":
        <qa ask --json object>}`; with it, the result also says which question a follow-up was
        understood to continue: `"context": {"question": ...}` or `"context": null`.
        """
        check_api_types(question, date_from, date_to, sources)
        try:
            earlier = [Turn.from_json(item) for item in history or ()]
        except QAError as err:
            raise refused(str(err)) from None
        reply = ask(self.service, question, date_from, date_to, sources, DEFAULT_LANGUAGE, earlier)
        if reply.answer is None:
            raise refused(reply.error)
        result = reply.answer.to_dict()
        if history is not None:
            result["context"] = {"question": reply.context} if reply.context else None
        return result

    def api_check(
        self,
        claim: str,
        date_from: str = "",
        date_to: str = "",
        sources: list[str] | None = None,
    ) -> dict:
        """Check a claim against the archive: the JSON of `qa check --json`."""
        check_api_types(claim, date_from, date_to, sources, "claim")
        reply = check(self.service, claim, date_from, date_to, sources, DEFAULT_LANGUAGE)
        if reply.check is None:
            raise refused(reply.error)
        return reply.check.to_dict()


def relabel_outputs(p: Page) -> list:
    """What `ChatHandlers.relabel` updates, in its order."""
    return [
        p.intro,
        p.chatbot,
        p.question,
        p.ask_button,
        p.clear_button,
        p.examples_label,
        p.filters_box,
        p.date_from,
        p.date_to,
        p.sources,
        p.pick,
        p.sources_panel,
        p.viewer,
        p.mode,
    ]


def wire(app: gr.Blocks, page: Page, handlers: ChatHandlers) -> None:
    """Connect the page's events to the handlers, and publish `/ask` and `/check`."""
    p, h = page, handlers
    answer_outputs = [p.chatbot, p.turns, p.question, p.sources_panel, p.pick, p.viewer, p.latest]
    ask_inputs = [p.question, p.chatbot, p.turns, p.language, p.date_from, p.date_to, p.sources]
    ask_inputs.append(p.mode)
    p.question.submit(h.respond, ask_inputs, answer_outputs, **PRIVATE, **ANSWERING)
    p.ask_button.click(h.respond, ask_inputs, answer_outputs, **PRIVATE, **ANSWERING)
    for button in p.example_buttons:
        button.click(lambda q: q, button, p.question, queue=False, **PRIVATE).then(
            h.respond, ask_inputs, answer_outputs, **PRIVATE, **ANSWERING
        )
    p.pick.input(h.show_article, [p.pick, p.latest, p.language], p.viewer, **PRIVATE)
    clear_outputs = [p.turns, p.latest, p.sources_panel, p.pick, p.viewer]
    p.clear_button.click(h.cleared_with_chat, p.language, [p.chatbot, *clear_outputs], **PRIVATE)
    p.chatbot.clear(h.cleared, p.language, clear_outputs, **PRIVATE)
    p.chatbot.like(h.rate, [p.turns, p.language], None, **PRIVATE)
    p.mode.change(h.switch_mode, [p.mode, p.language], [p.question, p.ask_button], **PRIVATE)
    relabel_inputs = [p.language, p.latest, p.pick, p.mode]
    p.language.change(h.relabel, relabel_inputs, relabel_outputs(p), queue=False, **PRIVATE)
    app.load(h.source_filter, None, p.sources, **PRIVATE)
    app.load(h.examples, None, p.example_buttons, **PRIVATE)
    gr.api(h.api_ask, api_name="ask", **ANSWERING)
    gr.api(h.api_check, api_name="check", **ANSWERING)


def build_app(service: QAService, feedback_path: Path | None) -> gr.Blocks:
    """The chat page. Theme and CSS are passed to `launch()` (see `serve`), as Gradio 6 wants."""
    handlers = ChatHandlers(service, FeedbackLog(feedback_path))
    with gr.Blocks(title="Nachrichten-QA", analytics_enabled=False) as app:
        page = layout(loaded_articles(service))
        wire(app, page, handlers)
    refuse_malformed_calls(app)
    return app


def refuse_malformed_calls(app: gr.Blocks) -> None:
    """A hand-made request with the wrong number of inputs is the caller's mistake: it gets
    Gradio's message as an error, without the traceback Gradio would print to the log."""
    validate = getattr(app, "validate_inputs", None)
    if validate is None:  # another Gradio version: its own behaviour stays
        return

    def checked(block_fn, inputs):
        try:
            validate(block_fn, inputs)
        except ValueError as err:
            raise refused(str(err).splitlines()[0]) from None

    app.validate_inputs = checked


def serve(
    index_dir: Path,
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    feedback_path: Path | None = None,
    auth: dict[str, str] | None = None,
    service: QAService | None = None,
) -> None:
    """Load model and index once, then serve the chat until interrupted.

    Ratings go to `feedback_path` (None: not stored); nothing else is written anywhere.
    `auth` ({user: password}, see `qa.auth`) puts the page and the API behind a login.
    `service`: one already loading or loaded for `index_dir` (`qa serve` loads it while
    Gradio is imported), made after `limit_threads(1)`.
    """
    started = time.monotonic()
    limit_threads(1)
    service = service or QAService(index_dir, settings)
    limit_threads(1)  # again: the encoder's library is loaded now
    service.batcher = Batcher(service.ask_batch, workers=cpu_cores())
    # Light events (viewer, labels, feedback) run a few at once; answering ones share ANSWERING.
    # Set for the queue the Blocks make themselves: `app.queue(...)` would build Gradio's whole
    # FastAPI app once more (~0.3 s of `qa serve`'s start; launch builds the one it serves).
    os.environ["GRADIO_DEFAULT_CONCURRENCY_LIMIT"] = str(LIGHT_EVENTS)
    app = build_app(service, feedback_path)
    _, url, _ = app.launch(
        server_name=host,
        server_port=port,
        theme=THEME,
        css=CSS,
        quiet=True,
        prevent_thread_lock=True,
        footer_links=["api"],
        run_history=False,
        enable_monitoring=False,
        auth=Login(auth) if auth else None,
        max_threads=WAITING_ANSWERS + LIGHT_EVENTS,
    )
    # Warmed up once the page is served (the server runs on its own thread by now): a first
    # encode and the date parser's data, ~0.5 s of `qa serve`'s start, all of it Python, so
    # beside Gradio's start it only slowed that (docs/benchmarks.md "Cold start"). A question
    # asked meanwhile waits for it, as it did.
    try:
        service.warm_up()
    except QAError as err:
        # Serve anyway: the page explains the problem, and the index is loaded once it exists.
        print(f"warning: {err}", file=sys.stderr)
    print(
        f"Nachrichten-QA is running at {url} (ready after {time.monotonic() - started:.1f} s)",
        flush=True,
    )
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass


def main(argv: Sequence[str] | None = None) -> None:
    """`python ui.py [--index index] [--host h] [--port p]`: serve the chat."""
    import argparse

    parser = argparse.ArgumentParser(description="Serve the Nachrichten-QA chat.")
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    serve(args.index, Settings(), args.host, args.port, args.index / "feedback.jsonl")
