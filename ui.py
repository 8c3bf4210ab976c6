"""The browser chat: ask the archive, read quoted and cited snippets, open the cited article.

A thin layer over `QAService`: every handler calls one service function and formats what it
returns. Article text is untrusted, so every piece of it is HTML-escaped before it is put into
any HTML built here; the chat renders no Markdown, so nothing in an article can become markup.

    python ui.py --index index        # or: qa serve
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Before Gradio is imported: it reads this when it loads, and the chat must not phone home.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from qa.answer import DECLINE_DE, DECLINE_EN  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import EmbeddingError  # noqa: E402
from qa.index import IndexError  # noqa: E402
from qa.retrieval import Filters  # noqa: E402
from qa.service import QAService  # noqa: E402
from qa.types import Article  # noqa: E402

# System fonts only: the page must not fetch anything from another host.
THEME = gr.themes.Default(
    font=[gr.themes.Font("system-ui"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), "monospace"],
)

CSS = """
.qa-cite { font-weight: 600; color: var(--color-accent); white-space: nowrap; }
.qa-refs { font-size: 0.85em; opacity: 0.8; margin-top: 0.6em; }
.qa-source { border-left: 3px solid var(--color-accent); padding-left: 0.7em; margin: 0 0 1em; }
.qa-source-head { font-weight: 600; }
.qa-meta { font-size: 0.85em; opacity: 0.75; }
.qa-context { white-space: pre-wrap; margin-top: 0.3em; }
.qa-article-text { white-space: pre-wrap; max-height: 60vh; overflow-y: auto; }
.qa-hint { opacity: 0.75; }
mark { background: #fde68a; color: inherit; padding: 0 0.1em; }
"""

# Runs in the viewer's element whenever a new article is shown: bring the cited passage into view.
SCROLL_TO_MARK_JS = """
watch('value', () => {
  const mark = element.querySelector('mark');
  if (mark) mark.scrollIntoView({block: 'center'});
});
"""

# How much of a long paragraph is shown around a snippet in the sources panel.
CONTEXT_CHARS = 300
DATE_PATTERN = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
RECORD_SUFFIX = re.compile(r"#\d+$")  # "news.csv#12": record 12 of news.csv

# Seed-corpus questions; one is offered only if the article that answers it is in the index.
SEED_EXAMPLES = (
    ("Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?", "18 Milliarden Nachrichten"),
    ("Wie finanziert sich WhatsApp?", "jährliche Abo-Gebühr"),
    ("Was hat Koum zur Sprachtelefonie angekündigt?", "Sprachtelefonie über WhatsApp"),
)

TEXTS = {
    "de": {
        "intro": "# Nachrichten-QA\nFragen an das Nachrichtenarchiv. Jede Antwort besteht aus "
        "wörtlichen Zitaten aus den Artikeln, mit Quellenangabe; nichts wird erfunden.",
        "chat": "Chat",
        "chat_placeholder": "Stellen Sie unten eine Frage zu den Nachrichten.",
        "question": "Ihre Frage",
        "question_placeholder": "z. B. Wie viele Nachrichten werden pro Tag über WhatsApp "
        "verschickt?",
        "ask": "Fragen",
        "clear": "Verlauf löschen",
        "examples": "**Beispielfragen**",
        "filters": "Filter",
        "date_from": "Von (JJJJ[-MM[-TT]])",
        "date_to": "Bis (JJJJ[-MM[-TT]])",
        "sources": "Quellen (Dateien, Ordner, Herausgeber)",
        "sources_panel": "Quellen",
        "no_sources": "Die Quellen der letzten Antwort erscheinen hier.",
        "pick": "Ganzen Artikel anzeigen",
        "viewer_hint": "Wählen Sie oben eine Quelle, um den ganzen Artikel mit der zitierten "
        "Stelle zu lesen.",
        "no_date": "ohne Datum",
        "publisher": "Herausgeber",
        "decline": DECLINE_DE,
        "rephrase": "Versuchen Sie es mit anderen Worten oder einem konkreteren Begriff.",
        "rephrase_filtered": "Versuchen Sie es mit anderen Worten, oder lockern Sie die Filter.",
        "empty_question": "Bitte geben Sie eine Frage ein.",
        "bad_date": "„{value}“ ist kein Datum der Form JJJJ, JJJJ-MM oder JJJJ-MM-TT.",
        "no_index": "Der Suchindex ist nicht verfügbar. Bitte bauen Sie ihn neu auf "
        "(`qa index`) und fragen Sie dann noch einmal. Details: {detail}",
        "failed": "Das hat nicht geklappt: ein interner Fehler. Bitte versuchen Sie es erneut.",
        "gone": "Dieser Artikel ist nicht mehr im Index (der Index wurde neu aufgebaut). "
        "Bitte stellen Sie die Frage erneut.",
        "moved": "Die zitierte Stelle ist in der aktuellen Fassung des Artikels nicht mehr "
        "enthalten.",
        "thanks": "Danke für Ihre Rückmeldung!",
    },
    "en": {
        "intro": "# Nachrichten-QA\nAsk the news archive. Every answer consists of sentences "
        "quoted verbatim from the articles, with their sources; nothing is made up.",
        "chat": "Chat",
        "chat_placeholder": "Ask a question about the news below.",
        "question": "Your question",
        "question_placeholder": "e.g. Wie viele Nachrichten werden pro Tag über WhatsApp "
        "verschickt?",
        "ask": "Ask",
        "clear": "Clear history",
        "examples": "**Example questions**",
        "filters": "Filters",
        "date_from": "From (YYYY[-MM[-DD]])",
        "date_to": "To (YYYY[-MM[-DD]])",
        "sources": "Sources (files, folders, publishers)",
        "sources_panel": "Sources",
        "no_sources": "The sources of the latest answer appear here.",
        "pick": "Show whole article",
        "viewer_hint": "Choose a source above to read the whole article with the cited passage.",
        "no_date": "no date",
        "publisher": "Publisher",
        "decline": DECLINE_EN,
        "rephrase": "Try other words or a more specific term.",
        "rephrase_filtered": "Try other words, or loosen the filters.",
        "empty_question": "Please type a question.",
        "bad_date": "“{value}” is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD.",
        "no_index": "The search index is not available. Please rebuild it (`qa index`) and ask "
        "again. Details: {detail}",
        "failed": "That did not work: an internal error. Please try again.",
        "gone": "This article is no longer in the index (it was rebuilt). Please ask again.",
        "moved": "The cited passage is no longer in the current version of the article.",
        "thanks": "Thank you for your feedback!",
    },
}


class UserError(Exception):
    """Something the person asking can fix; its message is shown in the chat as it is."""


# ---------------------------------------------------------------------------------------------
# Formatting: pure functions from core values to HTML. Every piece of article text is escaped.
# ---------------------------------------------------------------------------------------------


def esc(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def highlight(text: str, start: int, end: int, mark_id: str | None = None) -> str:
    """`text` as HTML with `text[start:end]` wrapped in <mark>; everything else escaped."""
    id_attr = f' id="{esc(mark_id)}"' if mark_id else ""
    return f"{esc(text[:start])}<mark{id_attr}>{esc(text[start:end])}</mark>{esc(text[end:])}"


def paragraph_bounds(
    text: str, start: int, end: int, limit: int = CONTEXT_CHARS
) -> tuple[int, int]:
    """The paragraph (between line breaks) around `text[start:end]`, at most `limit` chars
    either side, so a snippet is shown in context without pasting a whole unbroken article."""
    para_start = text.rfind("\n", 0, start) + 1
    para_end = text.find("\n", end)
    para_end = len(text) if para_end == -1 else para_end
    return max(para_start, start - limit), min(para_end, end + limit)


def snippet_in_context(text: str, start: int, end: int) -> str:
    """HTML of the snippet highlighted within its paragraph, with … where the paragraph is cut."""
    para_start, para_end = paragraph_bounds(text, start, end)
    before = "… " if para_start > 0 and text[para_start - 1] != "\n" else ""
    after = " …" if para_end < len(text) and text[para_end] != "\n" else ""
    inner = highlight(text[para_start:para_end], start - para_start, end - para_start)
    return before + inner + after


def locate(article: Article, snippet_text: str, start: int, end: int) -> tuple[int, int] | None:
    """Where the snippet stands in the article as loaded now.

    The offsets are exact for the index that answered; if the index was rebuilt since, the text
    may have moved, so fall back to searching for it.
    """
    if article.text[start:end] == snippet_text:
        return start, end
    found = article.text.find(snippet_text)
    return (found, found + len(snippet_text)) if found >= 0 else None


def citation_line(citation: dict, lang: str) -> str:
    """One reference line of a chat answer, `[1] Title · date · source`, as HTML."""
    t = TEXTS[lang]
    return (
        f'<span class="qa-cite">[{citation["n"]}]</span> {esc(citation["title"])} · '
        f"{esc(citation['date'] or t['no_date'])} · {esc(citation['source'])}"
    )


def decline_html(lang: str, filtered: bool) -> str:
    t = TEXTS[lang]
    hint = t["rephrase_filtered"] if filtered else t["rephrase"]
    return f"<p>{esc(t['decline'])}</p><p>{esc(hint)}</p>"


def answer_html(answer: dict, lang: str, filtered: bool = False) -> str:
    """The chat message for an answer (the `Answer.to_dict()` JSON): quoted snippets with
    citation markers, then one short reference line per citation."""
    if answer["abstained"] or not answer["snippets"]:
        return decline_html(lang, filtered)
    quotes = "".join(
        f'<p>„{esc(s["text"])}“ <span class="qa-cite">[{s["citation"]["n"]}]</span></p>'
        for s in answer["snippets"]
    )
    refs = "<br>".join(citation_line(s["citation"], lang) for s in answer["snippets"])
    return f'<div class="qa-answer">{quotes}<p class="qa-refs">{refs}</p></div>'


def message_html(text: str) -> str:
    """A plain message (a question, a hint) as escaped HTML."""
    return f"<p>{esc(text)}</p>"


def sources_html(answer: dict | None, articles: dict[str, Article], lang: str) -> str:
    """The sources panel: per citation title, date, source and the snippet in its paragraph."""
    t = TEXTS[lang]
    heading = f"<h3>{esc(t['sources_panel'])}</h3>"
    if not answer or not answer["snippets"]:
        return f'{heading}<p class="qa-hint">{esc(t["no_sources"])}</p>'
    parts = [heading]
    for s in answer["snippets"]:
        c = s["citation"]
        article = articles.get(c["doc_id"])
        span = article and locate(article, s["text"], c["start"], c["end"])
        if span:
            context = snippet_in_context(article.text, *span)
        else:  # rebuilt index without this passage: show the quoted text alone
            context = f"<mark>{esc(s['text'])}</mark>"
        publisher = article.publisher if article else None
        parts.append(
            '<div class="qa-source">'
            f'<div class="qa-source-head"><span class="qa-cite">[{c["n"]}]</span> '
            f"{esc(c['title'])}</div>"
            f'<div class="qa-meta">{meta_line(c["date"], c["source"], publisher, lang)}</div>'
            f'<div class="qa-context">{context}</div></div>'
        )
    return "".join(parts)


def meta_line(date: str | None, source: str, publisher: str | None, lang: str) -> str:
    t = TEXTS[lang]
    parts = [esc(date or t["no_date"]), esc(source)]
    if publisher:
        parts.append(f"{esc(t['publisher'])}: {esc(publisher)}")
    return " · ".join(parts)


def article_html(article: Article, snippet: dict | None, lang: str) -> str:
    """The whole article for the viewer, with the cited passage marked (id `qa-cited`).

    The URL is shown as text, never as a link: it comes from the article too.
    """
    t = TEXTS[lang]
    span = None
    if snippet:
        c = snippet["citation"]
        span = locate(article, snippet["text"], c["start"], c["end"])
    body = highlight(article.text, *span, mark_id="qa-cited") if span else esc(article.text)
    note = f'<p class="qa-hint">{esc(t["moved"])}</p>' if snippet and not span else ""
    url = f'<div class="qa-meta">{esc(article.url)}</div>' if article.url else ""
    return (
        f'<article class="qa-article"><h3>{esc(article.title)}</h3>'
        f'<div class="qa-meta">{meta_line(article.date, article.source, article.publisher, lang)}'
        f'</div>{url}{note}<div class="qa-article-text">{body}</div></article>'
    )


def viewer_hint_html(lang: str) -> str:
    return f'<p class="qa-hint">{esc(TEXTS[lang]["viewer_hint"])}</p>'


def source_choices(answer: dict | None) -> list[tuple[str, int]]:
    """Choices for the article picker: ("[1] Title", 1), …"""
    if not answer:
        return []
    return [
        (f"[{s['citation']['n']}] {s['citation']['title']}", s["citation"]["n"])
        for s in answer["snippets"]
    ]


# ---------------------------------------------------------------------------------------------
# Inputs: filters, example questions, source options, feedback.
# ---------------------------------------------------------------------------------------------


def make_filters(date_from: str | None, date_to: str | None, sources, lang: str = "de") -> Filters:
    """`Filters` from the form fields; a malformed date is a `UserError` saying what is wrong."""
    dates = []
    for value in (date_from, date_to):
        value = (value or "").strip()
        if value and not DATE_PATTERN.fullmatch(value):
            raise UserError(TEXTS[lang]["bad_date"].format(value=value))
        dates.append(value or None)
    return Filters(dates[0], dates[1], tuple(sources or ()))


def source_options(articles: dict[str, Article]) -> list[tuple[str, str]]:
    """Everything a source filter can name: folders (ending in "/"), files and publishers.

    A record of a JSON/CSV file has the source `file#n`; the file is offered, not each record.
    """
    folders, files, publishers = set(), set(), set()
    for article in articles.values():
        file = RECORD_SUFFIX.sub("", article.source)
        files.add(file)
        parts = file.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        if article.publisher:
            publishers.add(article.publisher)
    options = [(f, f) for f in sorted(folders)] + [(f, f) for f in sorted(files)]
    return options + [(p, p) for p in sorted(publishers - files - folders)]


def example_questions(articles: dict[str, Article], limit: int = 3) -> list[str]:
    """Questions the loaded corpus can answer: the seed questions whose article is present,
    otherwise questions about the first articles that have a real headline."""
    texts = [a.text for a in articles.values()]
    seeds = [q for q, needs in SEED_EXAMPLES if any(needs in text for text in texts)]
    if seeds:
        return seeds[:limit]
    titled = [a.title for a in articles.values() if a.title and not a.title.endswith("…")]
    return [f"Worum geht es in „{title}“?" for title in titled[:limit]]


class FeedbackLog:
    """Appends one JSON line per rating; a lock keeps lines from concurrent sessions whole."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def record(self, question: str, answer: dict, rating: str) -> dict:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "question": question,
            "answer": answer,
            "rating": rating,
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        return entry


# ---------------------------------------------------------------------------------------------
# The app.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What one question produces for the page: the chat message and, if any, the answer."""

    message: str
    answer: dict | None = None


def safe_articles(service: QAService) -> dict[str, Article]:
    """The loaded articles, or none when the index is missing (the chat then says so)."""
    try:
        return service.index.articles
    except (IndexError, EmbeddingError):
        return {}


def ask_for_page(
    service: QAService, question: str, date_from, date_to, sources, lang: str
) -> Reply:
    """Ask the service and turn every outcome, errors included, into a chat message."""
    t = TEXTS[lang]
    if not (question or "").strip():
        return Reply(message_html(t["empty_question"]))
    try:
        filters = make_filters(date_from, date_to, sources, lang)
        answer = service.ask(question, filters).to_dict()
    except UserError as err:
        return Reply(message_html(str(err)))
    except (IndexError, EmbeddingError) as err:
        return Reply(message_html(t["no_index"].format(detail=err)))
    except Exception:  # the page shows a friendly line; the details go to the server log
        traceback.print_exc()
        return Reply(message_html(t["failed"]))
    return Reply(answer_html(answer, lang, not filters.is_empty()), answer)


def build_app(service: QAService, feedback_path: Path) -> gr.Blocks:
    """The chat page. Theme and CSS are passed to `launch()` (see `serve`), as Gradio 6 wants."""
    feedback = FeedbackLog(feedback_path)
    articles = safe_articles(service)
    t = TEXTS["de"]

    with gr.Blocks(title="Nachrichten-QA", analytics_enabled=False) as app:
        # Per session: the answers behind the chat messages (message index -> question, answer),
        # for feedback; and the latest answer, for the sources panel and the viewer.
        turns = gr.State({})
        latest = gr.State(None)

        with gr.Row():
            intro = gr.Markdown(t["intro"])
            language = gr.Radio(
                [("Deutsch", "de"), ("English", "en")],
                value="de",
                label="Sprache / Language",
                scale=0,
                min_width=220,
            )
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label=t["chat"],
                    placeholder=t["chat_placeholder"],
                    elem_id="qa-chat",
                    height=420,
                    # Messages are HTML built here from escaped text: no Markdown, no LaTeX.
                    render_markdown=False,
                    sanitize_html=True,
                    latex_delimiters=[],
                    allow_tags=False,
                    buttons=["copy", "copy_all"],
                    feedback_options=("Like", "Dislike"),
                )
                question = gr.Textbox(
                    label=t["question"],
                    placeholder=t["question_placeholder"],
                    elem_id="qa-question",
                )
                with gr.Row():
                    ask_button = gr.Button(t["ask"], variant="primary", elem_id="qa-ask")
                    clear_button = gr.Button(t["clear"], elem_id="qa-clear")
                examples_label = gr.Markdown(t["examples"])
                with gr.Row():
                    example_buttons = [
                        gr.Button(q, size="sm", elem_classes="qa-example")
                        for q in example_questions(articles)
                    ]
                sources_panel = gr.HTML(sources_html(None, articles, "de"), elem_id="qa-sources")
            with gr.Column(scale=2):
                with gr.Accordion(t["filters"], open=False) as filters_box:
                    with gr.Row():
                        date_from = gr.Textbox(label=t["date_from"], placeholder="2020-01")
                        date_to = gr.Textbox(label=t["date_to"], placeholder="2020-12-31")
                    sources = gr.Dropdown(
                        choices=source_options(articles),
                        multiselect=True,
                        label=t["sources"],
                        elem_id="qa-source-filter",
                    )
                pick = gr.Radio(choices=[], label=t["pick"], elem_id="qa-pick")
                viewer = gr.HTML(
                    viewer_hint_html("de"), elem_id="qa-viewer", js_on_load=SCROLL_TO_MARK_JS
                )

        def respond(text, history, turns, lang, date_from, date_to, sources):
            reply = ask_for_page(service, text, date_from, date_to, sources, lang)
            history = [*history]
            if (text or "").strip():
                history.append({"role": "user", "content": message_html(text)})
            history.append({"role": "assistant", "content": reply.message})
            if reply.answer is None:  # nothing answered: keep the previous sources
                return history, turns, text, gr.skip(), gr.skip(), gr.skip(), gr.skip()
            turns = {**turns, len(history) - 1: {"question": text, "answer": reply.answer}}
            panel = sources_html(reply.answer, safe_articles(service), lang)
            pick_update = gr.update(choices=source_choices(reply.answer), value=None)
            return history, turns, "", panel, pick_update, viewer_hint_html(lang), reply.answer

        def show_article(n, latest, lang):
            snippets = [s for s in (latest or {}).get("snippets", []) if s["citation"]["n"] == n]
            if not snippets:
                return viewer_hint_html(lang)
            snippet = snippets[0]
            try:
                article = service.article(snippet["citation"]["doc_id"])
            except (KeyError, IndexError):
                return message_html(TEXTS[lang]["gone"])
            return article_html(article, snippet, lang)

        def cleared(lang):
            """Empty per-session state, sources panel, picker and viewer."""
            empty_panel = sources_html(None, {}, lang)
            return {}, None, empty_panel, gr.update(choices=[], value=None), viewer_hint_html(lang)

        def rate(turns, lang, data: gr.LikeData):
            turn = turns.get(data.index)
            if turn is None or data.liked not in (True, False):
                return
            feedback.record(turn["question"], turn["answer"], "up" if data.liked else "down")
            gr.Info(TEXTS[lang]["thanks"])

        def relabel(lang, latest, n):
            t = TEXTS[lang]
            return (
                t["intro"],
                gr.update(label=t["chat"], placeholder=t["chat_placeholder"]),
                gr.update(label=t["question"], placeholder=t["question_placeholder"]),
                gr.update(value=t["ask"]),
                gr.update(value=t["clear"]),
                t["examples"],
                gr.update(label=t["filters"]),
                gr.update(label=t["date_from"]),
                gr.update(label=t["date_to"]),
                gr.update(label=t["sources"]),
                gr.update(label=t["pick"]),
                sources_html(latest, safe_articles(service), lang),
                show_article(n, latest, lang),
            )

        answer_outputs = [chatbot, turns, question, sources_panel, pick, viewer, latest]
        ask_inputs = [question, chatbot, turns, language, date_from, date_to, sources]
        private = {"api_visibility": "private"}  # only /ask is the public API
        question.submit(respond, ask_inputs, answer_outputs, **private)
        ask_button.click(respond, ask_inputs, answer_outputs, **private)
        for button in example_buttons:
            button.click(lambda q: q, button, question, queue=False, **private).then(
                respond, ask_inputs, answer_outputs, **private
            )
        pick.input(show_article, [pick, latest, language], viewer, **private)
        clear_outputs = [turns, latest, sources_panel, pick, viewer]
        clear_button.click(
            lambda lang: ([], *cleared(lang)), language, [chatbot, *clear_outputs], **private
        )
        chatbot.clear(cleared, language, clear_outputs, **private)
        chatbot.like(rate, [turns, language], None, **private)
        language.change(
            relabel,
            [language, latest, pick],
            [
                intro,
                chatbot,
                question,
                ask_button,
                clear_button,
                examples_label,
                filters_box,
                date_from,
                date_to,
                sources,
                pick,
                sources_panel,
                viewer,
            ],
            queue=False,
            **private,
        )
        # A rebuilt index may bring new sources: offer them on every page load.
        app.load(
            lambda: gr.update(choices=source_options(safe_articles(service))),
            None,
            sources,
            **private,
        )

        def ask(
            question: str, date_from: str = "", date_to: str = "", sources: list[str] | None = None
        ) -> dict:
            """Answer a question with quoted, cited snippets: the JSON of `qa ask --json`."""
            if not (question or "").strip():
                raise gr.Error(TEXTS["de"]["empty_question"])
            try:
                filters = make_filters(date_from, date_to, sources)
                return service.ask(question, filters).to_dict()
            except UserError as err:
                raise gr.Error(str(err)) from None
            except (IndexError, EmbeddingError) as err:
                raise gr.Error(TEXTS["de"]["no_index"].format(detail=err)) from None

        gr.api(ask, api_name="ask")
    return app


def serve(index_dir: Path, settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Load model and index once, then serve the chat until interrupted."""
    started = time.monotonic()
    service = QAService(index_dir, settings)
    try:
        service.warm_up()
    except (IndexError, EmbeddingError) as err:
        # Serve anyway: the page explains the problem, and the index is loaded once it exists.
        print(f"warning: {err}", file=sys.stderr)
    app = build_app(service, index_dir / "feedback.jsonl")
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
    )
    print(
        f"Nachrichten-QA is running at {url} (ready after {time.monotonic() - started:.1f} s)",
        flush=True,
    )
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Serve the Nachrichten-QA chat.")
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    serve(args.index, Settings(), args.host, args.port)
