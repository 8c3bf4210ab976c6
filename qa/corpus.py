"""Read a folder of news articles into `Article`s: the first step of the pipeline.

Supported files: `.txt`, `.md`, `.html`/`.htm` (one article each) and `.json`, `.jsonl`, `.csv`,
`.tsv` (one article per record). Whatever cannot be indexed (an empty, binary, oversized or
unsupported file, a broken record, an exact duplicate) becomes a `Skipped` with its reason;
one bad file never stops the run.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import html
import io
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from qa.config import FieldMap, Settings
from qa.errors import CorpusError
from qa.types import Article, Skipped

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
TABLE_SUFFIXES = (".csv", ".tsv")
RECORD_SUFFIXES = (".json", ".jsonl")

# Publisher boilerplate that ends the article proper: everything from the first matching line on is
# cut, but only in the second half of the body, so an article that merely mentions e.g. "Anzeige"
# early on keeps its text. Matched case-insensitively against each stripped line.
BOILERPLATE_MARKERS = (
    r"taz lesen kann jede",
    r"meistkommentiert$",
    r"jetzt unterstützen",
    r"mehr zum thema\b",
    r"lesen sie auch\b",
    r"anzeige$",
    r"wir verwenden cookies",
    r"diese (web)?seite verwendet cookies",
    r"cookie-einstellungen",
    r"newsletter abonnieren",
)
_BOILERPLATE = re.compile("|".join(BOILERPLATE_MARKERS), re.IGNORECASE)

# "date 2020-06" or "date 2020-06-01": a marker some corpora put before the text.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?"
_DATE_PREFIX = re.compile(rf"\s*date:?[ \t]+({_DATE})(?!\S)", re.IGNORECASE)
_DATE_LINE = re.compile(rf"date:?[ \t]+({_DATE})", re.IGNORECASE)
_DATE_MARKER_LINES = 5

MAX_HEADLINE_CHARS = 150
DERIVED_TITLE_CHARS = 80
BINARY_SNIFF_BYTES = 8192
CSV_SNIFF_CHARS = 65536
CSV_DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class CorpusRead:
    """Everything read from a corpus folder: the indexable articles and what was left out."""

    articles: tuple[Article, ...]
    skipped: tuple[Skipped, ...]


# Settings is frozen, so one shared default instance is safe.
def read_corpus(folder: Path, settings: Settings = Settings()) -> CorpusRead:  # noqa: B008
    """Read every file under `folder` (recursively, sorted by path, hidden entries ignored).

    Exact duplicates (same body, so same `article_id`) keep the first occurrence; later ones are
    reported as skipped.
    """
    folder = Path(folder)
    if not folder.exists():
        raise CorpusError(
            f"corpus folder {folder} does not exist: pass the folder that holds the articles "
            "(.txt, .md, .html, .json, .jsonl, .csv, .tsv)"
        )
    if not folder.is_dir():
        raise CorpusError(
            f"{folder} is not a folder: pass the folder that holds the articles, "
            "or move this file into one"
        )
    articles: list[Article] = []
    skipped: list[Skipped] = []
    first_source: dict[str, str] = {}
    paths, unreadable_dirs = _corpus_files(folder, settings.follow_symlinks)
    skipped.extend(unreadable_dirs)
    for path in paths:
        found, lost = read_file(path, folder, settings)
        skipped.extend(lost)
        for article in found:
            if article.doc_id in first_source:
                reason = f"duplicate of {first_source[article.doc_id]}"
                skipped.append(Skipped(article.source, reason))
            else:
                first_source[article.doc_id] = article.source
                articles.append(article)
    return CorpusRead(articles=tuple(articles), skipped=tuple(skipped))


def read_file(path: Path, folder: Path, settings: Settings) -> tuple[list[Article], list[Skipped]]:
    """Read one file, which may hold many records; never raises for bad content."""
    rel = path.relative_to(folder).as_posix()
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + HTML_SUFFIXES + TABLE_SUFFIXES + RECORD_SUFFIXES:
        return [], [Skipped(rel, f"unsupported file type {suffix or '(no extension)'}")]
    if not path.is_file():
        # A FIFO would block the read, a dangling link would fail it.
        return [], [Skipped(rel, "unreadable: not a regular file (broken link?)")]
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [Skipped(rel, f"unreadable: {exc.strerror or exc}")]
    if not data.strip():
        return [], [Skipped(rel, "empty file")]
    text = _decode(data)
    if text is None:
        return [], [Skipped(rel, "binary file")]
    if not text.strip():
        return [], [Skipped(rel, "empty file")]

    if suffix in TEXT_SUFFIXES:
        items: Iterable[Article | Skipped] = [_read_text(text, rel, suffix == ".md", settings)]
    elif suffix in HTML_SUFFIXES:
        items = [_read_html(text, rel, settings)]
    elif suffix == ".jsonl":
        items = _read_jsonl(text, rel, settings)
    elif suffix == ".json":
        items = _read_json(text, rel, settings)
    else:
        items = _read_table(text, rel, suffix, settings)

    articles: list[Article] = []
    skipped: list[Skipped] = []
    for item in items:
        (articles if isinstance(item, Article) else skipped).append(item)
    return articles, skipped


def article_id(text: str) -> str:
    """A stable id from content: the same body (up to whitespace) always gets the same id."""
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


# --- Finding and decoding files ---------------------------------------------------------------


def _corpus_files(folder: Path, follow_symlinks: bool = False) -> tuple[list[Path], list[Skipped]]:
    """All non-hidden files under `folder` in sorted relative-path order, plus what was left out.

    The corpus stays inside its folder: a symbolic link (file or folder) whose target lies
    outside it is skipped with a reason unless `follow_symlinks`; links into the folder are
    read where they point. Each real folder is walked once, so link loops end.
    """
    root_real = folder.resolve()
    paths: list[Path] = []
    skipped: list[Skipped] = []
    errors: list[OSError] = []
    seen_dirs = {root_real}
    for root, dirs, files in os.walk(folder, onerror=errors.append, followlinks=follow_symlinks):
        # Pruning in place keeps os.walk out of hidden folders such as .git, and out of links.
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            path = Path(root, name)
            real = path.resolve()
            if path.is_symlink() and not (follow_symlinks or _inside(real, root_real)):
                skipped.append(_outside_link(path, folder, "folder"))
            elif real not in seen_dirs and not (path.is_symlink() and _inside(real, root_real)):
                seen_dirs.add(real)
                kept.append(name)
        dirs[:] = kept
        for name in files:
            path = Path(root, name)
            if name.startswith("."):
                continue
            if path.is_symlink() and not follow_symlinks:
                if not path.exists() or _inside(path.resolve(), root_real):
                    paths.append(path)  # read (or reported as broken) like any file
                else:
                    skipped.append(_outside_link(path, folder, "file"))
                continue
            paths.append(path)
    skipped += [
        Skipped(Path(e.filename).relative_to(folder).as_posix(), f"unreadable: {e.strerror or e}")
        for e in errors
        if e.filename
    ]
    return sorted(paths, key=lambda p: p.relative_to(folder).as_posix()), skipped


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _outside_link(path: Path, folder: Path, kind: str) -> Skipped:
    return Skipped(
        path.relative_to(folder).as_posix(),
        f"symbolic link to a {kind} outside the corpus folder: not read "
        "(pass --follow-symlinks to include it)",
    )


def _decode(data: bytes) -> str | None:
    """Bytes to text with `\\n` line ends, or None for a binary file.

    After UTF-8 we try Windows-1252 before charset-normalizer: for short German texts the
    detector guesses cp1250 or even EBCDIC and garbles "à", "ñ" or every umlaut, while cp1252
    is what Windows-made German files actually use.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _normalise_newlines(data.decode("utf-16"))
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return _normalise_newlines(data.decode(encoding))
        except UnicodeDecodeError:
            pass
    match = from_bytes(data).best()
    return None if match is None else _normalise_newlines(str(match))


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Turning fields into an Article -----------------------------------------------------------


def _make_article(
    *,
    source: str,
    title: str,
    text: str,
    settings: Settings,
    date: str | None = None,
    url: str | None = None,
    publisher: str | None = None,
) -> Article | Skipped:
    """The one place every reader builds its `Article`, so all share the same cleaning."""
    # NFC so an umlaut typed on a Mac (decomposed) and one from Windows are the same string.
    body = unicodedata.normalize("NFC", _normalise_newlines(text))
    body = _trim_boilerplate(body).strip()
    if not body:
        return Skipped(source, "no text")
    limit = settings.max_article_chars
    if len(body) > limit:
        return Skipped(
            source, f"text over {limit:,} characters (limit: settings.max_article_chars)"
        )
    title = " ".join(unicodedata.normalize("NFC", title).split()) or _derive_title(body)
    return Article(
        doc_id=article_id(body),
        title=title,
        date=_normalise_date(date),
        source=source,
        text=body,
        url=(url or "").strip() or None,
        publisher=(publisher or "").strip() or None,
    )


def _trim_boilerplate(text: str) -> str:
    """Cut `text` at the first boilerplate marker line that starts in its second half."""
    half = len(text) / 2
    offset = 0
    for line in text.split("\n"):
        if offset >= half and _BOILERPLATE.match(line.strip()):
            return text[:offset]
        offset += len(line) + 1
    return text


def _derive_title(body: str) -> str:
    """A title for an article that has none: its first line, cut at a word near 80 chars."""
    first_line = " ".join(body.strip().split("\n", 1)[0].split())
    if len(first_line) <= DERIVED_TITLE_CHARS:
        return first_line
    cut = first_line[: DERIVED_TITLE_CHARS + 1].rsplit(" ", 1)[0]
    if len(cut) > DERIVED_TITLE_CHARS:  # one long word: no boundary to cut at
        cut = cut[:DERIVED_TITLE_CHARS]
    return cut.rstrip(" ,;:–-") + "…"


def _normalise_date(value: str | None) -> str | None:
    """ISO "YYYY-MM[-DD]" from ISO timestamps or German "1.6.2020"; anything else as given."""
    value = (value or "").strip()
    if not value:
        return None
    if iso := re.match(_DATE, value):
        return iso.group(0)
    if german := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", value):
        day, month, year = german.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return value


# --- Plain text and Markdown ------------------------------------------------------------------


def _read_text(text: str, source: str, markdown: bool, settings: Settings) -> Article | Skipped:
    date, text = _take_date_marker(text)
    title, body = _split_title(text, markdown)
    return _make_article(source=source, title=title, text=body, date=date, settings=settings)


def _take_date_marker(text: str) -> tuple[str | None, str]:
    """Find and remove a `date YYYY-MM[-DD]` marker: at the very start or alone on an early line."""
    if prefix := _DATE_PREFIX.match(text):
        return prefix.group(1), text[prefix.end() :].lstrip(" \t")
    lines = text.split("\n")
    for i, line in enumerate(lines[:_DATE_MARKER_LINES]):
        if own_line := _DATE_LINE.fullmatch(line.strip()):
            return own_line.group(1), "\n".join(lines[:i] + lines[i + 1 :])
    return None, text


def _split_title(text: str, markdown: bool) -> tuple[str, str]:
    """Split off the first line as title when it reads like a headline, else return no title."""
    first, _, rest = text.strip().partition("\n")
    heading = markdown and first.startswith("#")
    candidate = first.lstrip("#").strip() if heading else first.strip()
    headline = len(candidate) <= MAX_HEADLINE_CHARS and not candidate.endswith(".")
    # A lone line is the article itself, not a title over an empty body.
    if candidate and rest.strip() and (heading or headline):
        return candidate, rest
    return "", text


# --- HTML -------------------------------------------------------------------------------------

# What trafilatura raises on a page it cannot handle, besides lxml's own LxmlError.
PARSER_ERRORS = (ValueError, TypeError, AttributeError, LookupError, RuntimeError, AssertionError)


def _read_html(text: str, source: str, settings: Settings) -> Article | Skipped:
    # Imported here: trafilatura takes ~0.4 s to import and most corpora hold no HTML.
    import trafilatura
    from lxml.etree import LxmlError

    try:
        doc = trafilatura.bare_extraction(
            text,
            with_metadata=True,
            include_comments=False,
            # The extensive search guesses dates from free text, e.g. "© 2023" -> 2023-01-01.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except (*PARSER_ERRORS, LxmlError) as exc:  # a parser crash on one page must not stop the run
        return Skipped(source, f"HTML could not be parsed: {exc}")
    body = (doc.text or "") if doc is not None else ""
    if not body.strip():
        return Skipped(source, "no main text found in HTML")
    title = (doc.title or "").strip() or _html_title_tag(text)
    # trafilatura keeps the <h1> as the first line of the text; the title is stored apart.
    first, _, rest = body.strip().partition("\n")
    if title and " ".join(first.split()).casefold() == " ".join(title.split()).casefold():
        body = rest
    return _make_article(
        source=source,
        title=title,
        text=body,
        date=doc.date,
        url=doc.url,
        publisher=doc.sitename,
        settings=settings,
    )


def _html_title_tag(text: str) -> str:
    found = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return html.unescape(found.group(1)).strip() if found else ""


# --- JSON and JSON Lines ----------------------------------------------------------------------


def _read_jsonl(text: str, rel: str, settings: Settings) -> Iterator[Article | Skipped]:
    """One JSON object per line; `#N` is the line number, so a broken line is easy to find."""
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        source = f"{rel}#{n}"
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield Skipped(source, f"line {n}: invalid JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield Skipped(source, f"line {n}: not a JSON object")
            continue
        yield _record_article(record, source, settings)


def _read_json(text: str, rel: str, settings: Settings) -> Iterator[Article | Skipped]:
    """An object, an array of objects, or {"articles": [...]}; `#N` numbers array items."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        yield Skipped(rel, f"invalid JSON: {exc}")
        return
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if isinstance(data, dict):
        yield _record_article(data, rel, settings)
        return
    if not isinstance(data, list):
        yield Skipped(rel, 'expected an object, a list of objects or {"articles": [...]}')
        return
    for n, record in enumerate(data, start=1):
        if isinstance(record, dict):
            yield _record_article(record, f"{rel}#{n}", settings)
        else:
            yield Skipped(f"{rel}#{n}", "not a JSON object")


def _record_article(
    record: Mapping[str, object], source: str, settings: Settings
) -> Article | Skipped:
    """Map a JSON object or a CSV row with a header to an `Article` through `settings.fields`."""
    by_key = {str(key).strip().lower(): value for key, value in record.items()}
    fields = settings.fields

    def pick(names: tuple[str, ...]) -> str:
        for name in names:
            value = by_key.get(name.lower())
            # bool is an int, but "True" is never a title or a date.
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip():
                return value
        return ""

    return _make_article(
        source=source,
        title=pick(fields.title),
        text=pick(fields.text),
        date=pick(fields.date),
        url=pick(fields.url),
        publisher=pick(fields.source),
        settings=settings,
    )


# --- CSV and TSV ------------------------------------------------------------------------------


def _read_table(
    text: str, rel: str, suffix: str, settings: Settings
) -> Iterator[Article | Skipped]:
    """One article per row; `#N` counts data rows (header and blank lines not counted).

    With a header row whose names `settings.fields` knows, columns are mapped by name. Without
    one: a single column is the text; of two columns the longer one is the text (e.g. 10kGNAD's
    `label;'text'`); of three or more, column 0 is the title and column 1 the text (e.g. xglue's
    `title<TAB>body<TAB>category`).
    """
    # News bodies easily exceed the default 128 KiB field limit; oversize text is caught per row.
    csv.field_size_limit(2**31 - 1)
    delimiter, quotechar = _sniff_dialect(text, suffix)
    try:
        rows = [row for row in _csv_rows(text, delimiter, quotechar) if row]
    except csv.Error as exc:
        yield Skipped(rel, f"invalid {suffix[1:].upper()}: {exc}")
        return
    if not rows:
        yield Skipped(rel, "empty file")
        return

    if _is_header(rows[0], settings.fields):
        header = [name.strip().lower() for name in rows[0]]
        known_text = {name.lower() for name in settings.fields.text}
        if not known_text.intersection(header):
            names = ", ".join(settings.fields.text)
            yield Skipped(rel, f"no text column: the header names none of {names}")
            return
        for n, row in enumerate(rows[1:], start=1):
            yield _record_article(dict(zip(header, row, strict=False)), f"{rel}#{n}", settings)
        return

    width = Counter(len(row) for row in rows).most_common(1)[0][0]
    title_col: int | None = 0 if width >= 3 else None
    text_col = 1 if width >= 3 else 0
    if width == 2:
        text_col = max((0, 1), key=lambda col: sum(len(r[col]) for r in rows if len(r) > col))
    for n, row in enumerate(rows, start=1):
        yield _make_article(
            source=f"{rel}#{n}",
            title=row[title_col] if title_col is not None and len(row) > title_col else "",
            text=row[text_col] if len(row) > text_col else "",
            settings=settings,
        )


def _csv_rows(text: str, delimiter: str, quotechar: str | None) -> Iterator[list[str]]:
    if quotechar is None:
        return csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    return csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar)


def _is_header(row: list[str], fields: FieldMap) -> bool:
    known = {
        name.lower()
        for names in (fields.title, fields.text, fields.date, fields.url, fields.source)
        for name in names
    }
    return any(cell.strip().lower() in known for cell in row)


def _sniff_dialect(text: str, suffix: str) -> tuple[str, str | None]:
    """Delimiter and quote character (None: fields are not quoted) of a CSV/TSV text.

    csv.Sniffer picks " " or "," for both shared news files, so we choose the delimiter whose
    rows have the most consistent width, and the quote character from evidence in the data.
    """
    sample = text[:CSV_SNIFF_CHARS]
    if len(text) > CSV_SNIFF_CHARS:  # the last sample row is probably cut off
        sample = sample.rsplit("\n", 1)[0]
    if suffix == ".tsv":
        delimiter = "\t"
    else:
        delimiter = max(
            CSV_DELIMITERS,
            key=lambda d: _width_consistency(sample, d, _quote_char(sample, d)),
        )
    # The whole text, because the first quoted field may come late in a long file.
    return delimiter, _quote_char(text, delimiter)


def _quote_char(text: str, delimiter: str) -> str | None:
    """The quote character the writer used, or None when fields are not quoted.

    Evidence is a field that needed quoting: wrapped in the quote character and holding the
    delimiter, a line break or a doubled quote. A quoted title alone is no evidence: xglue has
    unquoted titles such as `"Twin Peaks"-Fortsetzung` that quote-aware parsing would mangle.
    """
    d = re.escape(delimiter)
    for q in ('"', "'"):
        qe = re.escape(q)
        field = re.compile(rf"(?:^|{d}){qe}([^{qe}]*(?:{qe}{qe}[^{qe}]*)*){qe}(?={d}|$)", re.M)
        for found in field.finditer(text):
            inner = found.group(1)
            if delimiter in inner or "\n" in inner or q + q in inner:
                return q
    return None


def _width_consistency(sample: str, delimiter: str, quotechar: str | None) -> tuple[bool, float]:
    """(more than one column, share of rows with the most common width): higher is likelier."""
    try:
        widths = Counter(len(row) for row in _csv_rows(sample, delimiter, quotechar) if row)
    except csv.Error:
        return False, 0.0
    if not widths:
        return False, 0.0
    width, count = widths.most_common(1)[0]
    return width > 1, count / sum(widths.values())
