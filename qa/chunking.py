"""Articles -> chunks (retrieval units) and sentences (answer units), both as exact offsets."""

from __future__ import annotations

import re

from qa.types import Article, Chunk

# Periods after these words end an abbreviation, not a sentence.
_ABBREVIATIONS = frozenset(
    """
    abs abt allg bzw bspw ca chr dr dipl dt engl etc evtl frz ggf gr hl hr hrn inkl insb jh jhd
    jr kap kfz max min mio mrd nr nrn o.ä prof rd s sog st std str tel u.a u.ä usw vgl vs z.b
    z.t zb zzt zt mr mrs ms jan feb mär apr jun jul aug sep sept okt nov dez inc ltd co corp
    no vol fig e.g i.e approx
    """.split()
)
# A sentence ends at . ! ? … (plus closing quotes/brackets) before white space, or at a line break.
_BOUNDARY = re.compile(r"""[.!?…]+["'“”»«‘’)\]]*(?=\s)|\n+""")
_NEXT_STARTS_SENTENCE = re.compile(r"""\s*["'„“”»«‘’(\[]?[A-ZÄÖÜ0-9]""")


MAX_SENTENCE_CHARS = 1000


def sentence_spans(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[tuple[int, int]]:
    """Split `text` into sentences; returns `(start, end)` offsets with no surrounding space.

    Rules are deliberately small: German ordinals ("am 3. Oktober") and common abbreviations
    ("z.B.", "Dr.") do not end a sentence; a line break always does. A "sentence" longer than
    `max_chars` (a list, a table row) is cut at white space so the encoder sees all of it.
    """
    return [piece for span in _sentences(text) for piece in _cut_long(text, span, max_chars)]


def _cut_long(text: str, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    start, end = span
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        _append_stripped(text, start, cut, pieces)
        start = cut
    _append_stripped(text, start, end, pieces)
    return pieces


def _sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if not match.group().startswith("\n"):
            word = re.search(r"(\S+?)[.!?…]+\S*$", text[start:end])
            token = word.group(1).lower().lstrip("(\"'„“»«") if word else ""
            is_ordinal = token.isdigit() and len(token) <= 2 and match.group() == "."
            if token in _ABBREVIATIONS or len(token) == 1 and token.isalpha() or is_ordinal:
                continue
            if not _NEXT_STARTS_SENTENCE.match(text, end):
                continue
        _append_stripped(text, start, end, spans)
        start = end
    _append_stripped(text, start, len(text), spans)
    return spans


def _append_stripped(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


class Chunker:
    """Cuts articles into overlapping chunks that keep their character offsets."""

    def __init__(self, chunk_size: int, chunk_overlap: int):
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError(
                f"chunk_overlap ({chunk_overlap}) must be >= 0 and below chunk_size ({chunk_size})"
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        # Imported here: only indexing splits text, and the query path (`qa ask`) should not
        # pay the ~1.4 s and ~30 MB that langchain and pydantic take to import.
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
            keep_separator="end",
            add_start_index=True,
        )

    def chunk(self, article: Article, first_id: int = 0) -> list[Chunk]:
        chunks: list[Chunk] = []
        cursor, previous_start = 0, -1
        for piece in self._splitter.split_text(article.text):
            # The splitter strips white space; locate each piece to keep exact offsets. A chunk
            # starts after the one before it, so repeated paragraphs are not all found at the first.
            lowest = max(previous_start + 1, cursor - self.chunk_overlap - len(piece))
            start = article.text.find(piece, lowest)
            if start < 0:
                start = article.text.find(piece)
            end = start + len(piece)
            chunks.append(Chunk(first_id + len(chunks), article.doc_id, start, end, piece))
            cursor, previous_start = end, start
        return chunks
