"""What the chat page shows, as pure functions from core values (`Answer`, `Article`) to HTML.

Article text is untrusted: every piece of it (title, source, URL, publisher, body) is
HTML-escaped before it is put into any HTML built here, and the chat renders no Markdown, so
nothing in an article can become markup. No Gradio here: these functions are tested on their own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from qa.errors import EmbeddingError, IndexUnavailable, InvalidFilter, InvalidInput, QAError
from qa.types import Answer, Article, Citation, Snippet
from qa.ui.texts import SEED_EXAMPLES, TEXTS, TITLE_EXAMPLE

# How much of a long paragraph is shown around a snippet in the sources panel.
CONTEXT_CHARS = 300
RECORD_SUFFIX = re.compile(r"#\d+$")  # "news.csv#12": record 12 of news.csv


def esc(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def message_html(text: str) -> str:
    """A plain message (a question, a hint, an error) as escaped HTML."""
    return f"<p>{esc(text)}</p>"


def error_text(err: QAError, lang: str) -> str:
    """The friendly message for an error the person asking can act on (plain text)."""
    t = TEXTS[lang]
    if isinstance(err, InvalidFilter):
        key = "bad_filter"
    elif isinstance(err, InvalidInput):
        key = "bad_input"
    elif isinstance(err, IndexUnavailable | EmbeddingError):
        key = "no_index"
    else:
        key = "error"
    return t[key].format(detail=err)


# ---------------------------------------------------------------------------------------------
# Snippets in their article: highlight, paragraph context, relocation after a rebuild.
# ---------------------------------------------------------------------------------------------


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


def locate(article: Article, snippet: Snippet) -> tuple[int, int] | None:
    """Where the snippet stands in the article as loaded now.

    The offsets are exact for the index that answered; if the index was rebuilt since, the text
    may have moved, so fall back to searching for it.
    """
    start, end = snippet.citation.start, snippet.citation.end
    if article.text[start:end] == snippet.text:
        return start, end
    found = article.text.find(snippet.text)
    return (found, found + len(snippet.text)) if found >= 0 else None


# ---------------------------------------------------------------------------------------------
# The chat message, the sources panel and the article viewer.
# ---------------------------------------------------------------------------------------------


def cite_marker(n: int) -> str:
    return f'<span class="qa-cite">[{n}]</span>'


def meta_line(date: str | None, source: str, publisher: str | None, lang: str) -> str:
    """`date · source · Publisher: x` as HTML (the publisher only when known)."""
    t = TEXTS[lang]
    parts = [esc(date or t["no_date"]), esc(source)]
    if publisher:
        parts.append(f"{esc(t['publisher'])}: {esc(publisher)}")
    return " · ".join(parts)


def citation_line(citation: Citation, lang: str) -> str:
    """One reference line of a chat answer, `[1] Title · date · source`, as HTML."""
    no_date = TEXTS[lang]["no_date"]
    return (
        f"{cite_marker(citation.n)} {esc(citation.title)} · "
        f"{esc(citation.date or no_date)} · {esc(citation.source)}"
    )


def decline_html(lang: str, filtered: bool) -> str:
    """The plain "nothing found", with a hint that fits: other words, or looser filters."""
    t = TEXTS[lang]
    hint = t["rephrase_filtered"] if filtered else t["rephrase"]
    return f"<p>{esc(t['decline'])}</p><p>{esc(hint)}</p>"


def answer_html(answer: Answer, lang: str, filtered: bool = False) -> str:
    """The chat message for an answer: quoted snippets with citation markers, then one short
    reference line per citation."""
    if answer.abstained or not answer.snippets:
        return decline_html(lang, filtered)
    quotes = "".join(f"<p>„{esc(s.text)}“ {cite_marker(s.citation.n)}</p>" for s in answer.snippets)
    refs = "<br>".join(citation_line(s.citation, lang) for s in answer.snippets)
    return f'<div class="qa-answer">{quotes}<p class="qa-refs">{refs}</p></div>'


def source_html(snippet: Snippet, article: Article | None, lang: str) -> str:
    """One entry of the sources panel: title, meta line and the snippet in its paragraph."""
    c = snippet.citation
    span = locate(article, snippet) if article else None
    if article and span:
        context = snippet_in_context(article.text, *span)
    else:  # rebuilt index without this passage: show the quoted text alone
        context = f"<mark>{esc(snippet.text)}</mark>"
    publisher = article.publisher if article else None
    return (
        '<div class="qa-source">'
        f'<div class="qa-source-head">{cite_marker(c.n)} {esc(c.title)}</div>'
        f'<div class="qa-meta">{meta_line(c.date, c.source, publisher, lang)}</div>'
        f'<div class="qa-context">{context}</div></div>'
    )


def sources_html(answer: Answer | None, articles: Mapping[str, Article], lang: str) -> str:
    """The sources panel: per citation title, date, source and the snippet in its paragraph."""
    t = TEXTS[lang]
    heading = f"<h3>{esc(t['sources_panel'])}</h3>"
    if not answer or not answer.snippets:
        return f'{heading}<p class="qa-hint">{esc(t["no_sources"])}</p>'
    entries = (source_html(s, articles.get(s.citation.doc_id), lang) for s in answer.snippets)
    return heading + "".join(entries)


def article_html(article: Article, snippet: Snippet | None, lang: str) -> str:
    """The whole article for the viewer, with the cited passage marked (id `qa-cited`).

    The URL is shown as text, never as a link: it comes from the article too.
    """
    span = locate(article, snippet) if snippet else None
    body = highlight(article.text, *span, mark_id="qa-cited") if span else esc(article.text)
    note = f'<p class="qa-hint">{esc(TEXTS[lang]["moved"])}</p>' if snippet and not span else ""
    url = f'<div class="qa-meta">{esc(article.url)}</div>' if article.url else ""
    meta = meta_line(article.date, article.source, article.publisher, lang)
    return (
        f'<article class="qa-article"><h3>{esc(article.title)}</h3>'
        f'<div class="qa-meta">{meta}</div>{url}{note}'
        f'<div class="qa-article-text">{body}</div></article>'
    )


def viewer_hint_html(lang: str) -> str:
    return f'<p class="qa-hint">{esc(TEXTS[lang]["viewer_hint"])}</p>'


# ---------------------------------------------------------------------------------------------
# What the page offers: article picker, source filter options, example questions.
# Plain values, not HTML: Gradio shows these as text.
# ---------------------------------------------------------------------------------------------


def source_choices(answer: Answer | None) -> list[tuple[str, int]]:
    """Choices for the article picker: ("[1] Title", 1), …"""
    if not answer:
        return []
    return [(f"[{s.citation.n}] {s.citation.title}", s.citation.n) for s in answer.snippets]


def cited_snippet(answer: Answer | None, n: int | None) -> Snippet | None:
    """The snippet of citation `n` in `answer`, if there is one."""
    snippets = answer.snippets if answer else ()
    return next((s for s in snippets if s.citation.n == n), None)


def source_options(articles: Mapping[str, Article]) -> list[tuple[str, str]]:
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


def example_questions(articles: Mapping[str, Article], limit: int = 3) -> list[str]:
    """Questions the loaded corpus can answer: the seed questions whose article is present,
    otherwise questions about the first articles that have a real headline."""
    texts = [a.text for a in articles.values()]
    seeds = [q for q, needs in SEED_EXAMPLES if any(needs in text for text in texts)]
    if seeds:
        return seeds[:limit]
    titled = [a.title for a in articles.values() if a.title and not a.title.endswith("…")]
    return [TITLE_EXAMPLE.format(title=title) for title in titled[:limit]]
