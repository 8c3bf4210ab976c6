"""What the chat page shows, as pure functions from core values (`Answer`, `Article`) to HTML.

Article text is untrusted: every piece of it (title, source, URL, publisher, body) is
HTML-escaped before it is put into any HTML built here, and the chat renders no Markdown, so
nothing in an article can become markup. No Gradio here: these functions are tested on their own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from qa.claims import Check, CheckResult, Evidence
from qa.errors import EmbeddingError, IndexUnavailable, InvalidFilter, InvalidInput, QAError
from qa.period import Period
from qa.store import article_columns
from qa.types import Answer, Article, Citation, Snippet, http_url
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


def date_text(date: str | None, lang: str) -> str:
    """When an article stands: "Stand: 01.01.2024" ("As of 2024-01-01"), or "ohne Datum"."""
    t = TEXTS[lang]
    if not date:
        return t["no_date"]
    shown = date
    if lang == "de" and (iso := re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", date)):
        shown = ".".join(part for part in reversed(iso.groups()) if part)
    return t["as_of"].format(date=shown)


def link(url: str | None, inner_html: str) -> str:
    """`inner_html` as a link to `url` (a new tab, no referrer, no opener), or as it is when
    `url` is not an http(s) URL: a `javascript:` URL from an article never becomes a link."""
    target = http_url(url)
    if target is None:
        return inner_html
    return f'<a href="{esc(target)}" target="_blank" rel="noopener noreferrer">{inner_html}</a>'


def period_html(period: Period | None, lang: str) -> str:
    """ "Zeitraum: 2019" (with the words that named it when they differ), or nothing."""
    if period is None:
        return ""
    label = period.label(lang)
    if period.text != label:
        label += f" („{period.text}“)" if lang == "de" else f" (“{period.text}”)"
    return f'<p class="qa-period">{esc(TEXTS[lang]["period"])}: {esc(label)}</p>'


def meta_line(date: str | None, source: str, publisher: str | None, lang: str) -> str:
    """`Stand: date · source · Publisher: x` as HTML (the publisher only when known)."""
    t = TEXTS[lang]
    parts = [esc(date_text(date, lang)), esc(source)]
    if publisher:
        parts.append(f"{esc(t['publisher'])}: {esc(publisher)}")
    return " · ".join(parts)


def citation_line(citation: Citation, lang: str) -> str:
    """One reference line of a chat answer, `[1] Title · Stand: date · source`, as HTML; the
    title links the article's web page when the citation has an http(s) URL."""
    return (
        f"{cite_marker(citation.n)} {link(citation.url, esc(citation.title))} · "
        f"{esc(date_text(citation.date, lang))} · {esc(citation.source)}"
    )


def decline_html(lang: str, filtered: bool) -> str:
    """The plain "nothing found", with a hint that fits: other words, or looser filters."""
    t = TEXTS[lang]
    hint = t["rephrase_filtered"] if filtered else t["rephrase"]
    return f"<p>{esc(t['decline'])}</p><p>{esc(hint)}</p>"


def context_html(question: str | None, lang: str) -> str:
    """What a follow-up was understood to continue ("bezogen auf: …"), so the user can
    correct it; nothing for a self-contained question."""
    if not question:
        return ""
    return f'<p class="qa-leans">{esc(TEXTS[lang]["context"])}: {esc(question)}</p>'


# Opening and closing quotation marks a snippet may already carry itself.
_OPENING_QUOTES = "„“\"»«‚'"
_CLOSING_QUOTES = "“”\"«»‘'"


def quoted(snippet: Snippet) -> str:
    """The snippet in „…“, without doubling a mark the sentence itself starts or ends with."""
    text = snippet.text
    opening = "" if text[:1] in _OPENING_QUOTES else "„"
    closing = "" if text[-1:] in _CLOSING_QUOTES else "“"
    return f"{opening}{snippet_text_html(snippet)}{closing}"


def answer_html(answer: Answer, lang: str, filtered: bool = False) -> str:
    """The chat message for an answer: quoted snippets with citation markers, then one short
    reference line per citation."""
    period = period_html(answer.period, lang)
    if answer.abstained or not answer.snippets:
        return period + decline_html(lang, filtered)
    t = TEXTS[lang]
    first, *rest = answer.snippets
    head = ""
    if first.answer is not None:
        head = (
            f'<p class="qa-phrase">{esc(t["answer"])}: <strong>{esc(first.answer.text)}</strong> '
            f"{cite_marker(first.citation.n)}</p>"
        )
    quotes = f"<p>{quoted(first)} {cite_marker(first.citation.n)}</p>"
    if rest:
        quotes += f'<p class="qa-more">{esc(t["more_evidence"])}</p>'
        quotes += "".join(f"<p>{quoted(s)} {cite_marker(s.citation.n)}</p>" for s in rest)
    refs = "<br>".join(citation_line(s.citation, lang) for s in answer.snippets)
    return f'<div class="qa-answer">{period}{head}{quotes}<p class="qa-refs">{refs}</p></div>'


def snippet_text_html(snippet: Snippet) -> str:
    """The snippet's text, escaped, with its answer phrase (if any) in <strong>."""
    span = snippet.answer
    start = span.start - snippet.citation.start if span else -1
    if span is None or snippet.text[start : start + len(span.text)] != span.text:
        return esc(snippet.text)
    end = start + len(span.text)
    text = snippet.text
    return f"{esc(text[:start])}<strong>{esc(text[start:end])}</strong>{esc(text[end:])}"


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
        f'<div class="qa-source-head">{cite_marker(c.n)} {link(c.url, esc(c.title))}</div>'
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

    The URL is a link only when it is http(s) (`link`); any other is shown as text.
    """
    span = locate(article, snippet) if snippet else None
    body = highlight(article.text, *span, mark_id="qa-cited") if span else esc(article.text)
    note = f'<p class="qa-hint">{esc(TEXTS[lang]["moved"])}</p>' if snippet and not span else ""
    url = f'<div class="qa-meta">{link(article.url, esc(article.url))}</div>' if article.url else ""
    meta = meta_line(article.date, article.source, article.publisher, lang)
    return (
        f'<article class="qa-article"><h3>{esc(article.title)}</h3>'
        f'<div class="qa-meta">{meta}</div>{url}{note}'
        f'<div class="qa-article-text">{body}</div></article>'
    )


# ---------------------------------------------------------------------------------------------
# A checked claim: verdict badge, the claim's parts, the evidence with the parts marked.
# ---------------------------------------------------------------------------------------------

STATUS_SIGN = {"match": "=", "differs": "≠", "absent": "–"}


def verdict_badge(verdict: str, lang: str) -> str:
    t = TEXTS[lang]
    return (
        f'<span class="qa-verdict qa-verdict-{esc(verdict)}">'
        f"{esc(t['verdict'])}: {esc(t['verdict_' + verdict])}</span>"
    )


def _part_title(check: Check, lang: str) -> str:
    """The tooltip of a marked part: kind, status and, when it differs, the evidence's value."""
    t = TEXTS[lang]
    title = f"{t['kind_' + check.kind]}: {t['status_' + check.status]}"
    if check.status == "differs" and check.evidence:
        title += f" ({t['evidence_says']}: {check.evidence.text})"
    return title


def claim_parts_html(result: CheckResult, lang: str) -> str:
    """The claim with each checkable part marked by its status in the first passage that says
    something about it; a differing part has the evidence's value beside it."""
    text = result.claim
    chosen: dict[int, Check] = {}
    for e in result.evidence:
        for i, c in enumerate(e.checks):
            if i not in chosen or chosen[i].status == "absent" and c.status != "absent":
                chosen[i] = c
    out, cursor = [], 0
    for c in sorted(chosen.values(), key=lambda c: c.claim.start):
        start, end = c.claim.start, c.claim.end
        if start < cursor or text[start:end] != c.claim.text:
            continue
        beside = ""
        if c.status == "differs" and c.evidence:
            beside = f' <span class="qa-evidence-value">≠ {esc(c.evidence.text)}</span>'
        out.append(esc(text[cursor:start]))
        out.append(
            f'<span class="qa-part qa-{c.status}" title="{esc(_part_title(c, lang))}">'
            f"{esc(text[start:end])}</span>{beside}"
        )
        cursor = end
    out.append(esc(text[cursor:]))
    return "".join(out)


def evidence_text_html(evidence: Evidence, lang: str) -> str:
    """The passage's text, escaped, with the evidence values of the claim's parts marked:
    green where they match, red where they differ."""
    base, text = evidence.citation.start, evidence.text
    spans = sorted(
        (c.evidence.start - base, c.evidence.end - base, c)
        for c in evidence.checks
        if c.evidence is not None and c.status != "absent"
    )
    out, cursor = [], 0
    for start, end, c in spans:
        if start < cursor or not 0 <= start < end <= len(text):
            continue
        out.append(esc(text[cursor:start]))
        out.append(
            f'<mark class="qa-{c.status}" title="{esc(_part_title(c, lang))}">'
            f"{esc(text[start:end])}</mark>"
        )
        cursor = end
    out.append(esc(text[cursor:]))
    return "".join(out)


def checks_html(evidence: Evidence, lang: str) -> str:
    """One line per claim part: kind, the claim's value, sign, the evidence's value, status
    (in words, so nothing depends on colour alone)."""
    t = TEXTS[lang]
    items = []
    for c in evidence.checks:
        found = f" {STATUS_SIGN[c.status]} „{esc(c.evidence.text)}“" if c.evidence else ""
        items.append(
            f'<li class="qa-check-{c.status}">{esc(t["kind_" + c.kind])} '
            f'<span class="qa-part qa-{c.status}">„{esc(c.claim.text)}“</span>{found}: '
            f"{esc(t['status_' + c.status])}</li>"
        )
    return f'<ul class="qa-checks">{"".join(items)}</ul>'


def check_html(result: CheckResult, lang: str, filtered: bool = False) -> str:
    """The chat message for a checked claim: the verdict as a badge with the rule's reason,
    the claim with its parts marked, each evidence passage (parts marked, dated) with its
    checks, and the reference lines. Nothing is generated but the badge."""
    t = TEXTS[lang]
    head = (
        f'<p class="qa-verdict-line">{verdict_badge(result.verdict, lang)} '
        f'<span class="qa-hint">{esc(t["why_" + result.verdict])}</span></p>'
    )
    if not result.evidence:
        hint = t["rephrase_filtered"] if filtered else t["rephrase"]
        return f'<div class="qa-check">{head}<p class="qa-hint">{esc(hint)}</p></div>'
    claim = f'<p class="qa-claim">{claim_parts_html(result, lang)}</p>'
    quotes = "".join(
        f"<p>„{evidence_text_html(e, lang)}“ {cite_marker(e.citation.n)} "
        f'<span class="qa-meta">{esc(e.citation.date or t["no_date"])}</span></p>'
        f"{checks_html(e, lang)}"
        for e in result.evidence
    )
    refs = "<br>".join(citation_line(e.citation, lang) for e in result.evidence)
    return f'<div class="qa-check">{head}{claim}{quotes}<p class="qa-refs">{refs}</p></div>'


def check_as_answer(result: CheckResult) -> Answer:
    """The evidence of a checked claim as an `Answer`, so the sources panel, the article picker
    and the viewer show it exactly as they show an answer's snippets."""
    snippets = tuple(Snippet(e.text, e.score, e.citation) for e in result.evidence)
    return Answer(result.claim, abstained=not snippets, snippets=snippets)


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
    for source, publisher in zip(*article_columns(articles, "source", "publisher")):
        file = RECORD_SUFFIX.sub("", source)
        files.add(file)
        parts = file.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
        if publisher:
            publishers.add(publisher)
    options = [(f, f) for f in sorted(folders)] + [(f, f) for f in sorted(files)]
    return options + [(p, p) for p in sorted(publishers - files - folders)]


EXAMPLES = 3  # example question buttons on the page


def example_questions(articles: Mapping[str, Article], limit: int = EXAMPLES) -> list[str]:
    """Questions the loaded corpus can answer: the seed questions whose article is present,
    otherwise questions about the first articles that have a real headline."""
    texts = getattr(articles, "texts", None)
    texts = list(texts()) if texts else [a.text for a in articles.values()]
    seeds = [q for q, needs in SEED_EXAMPLES if any(needs in text for text in texts)]
    if seeds:
        return seeds[:limit]
    (titles,) = article_columns(articles, "title")
    titled = [t for t in titles if t and not t.endswith("…")]
    return [TITLE_EXAMPLE.format(title=title) for title in titled[:limit]]
