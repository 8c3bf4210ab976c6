"""Snippet -> answer phrase: the figure, date, name or short phrase that answers the question.

The reader has chosen the sentence; this step names the few words in it that answer. It is a
small learned scorer over candidate spans: every run of 1-6 tokens that holds no question word,
scored by a linear model over what a span looks like (a figure, a year, a capitalised name, the
kind the question asks for), how far it stands from the question's words, and its length. The
weights are fitted by `benchmarks/fit_reader.py` (`qa/reader_weights.json`, key `phrase`).

When the index's encoder exposes token states (the int8 ONNX encoder), a span head answers
instead (`find_phrase`): the encoder runs once on question + snippet, and a small MLP
(`qa/phrase_head.npz`, fitted by `benchmarks/fit_phrase.py`) scores every piece of the snippet
as the phrase's first and last piece, reading the frozen states and the hand facts of the
piece's word. It beat the linear scorer on held-apart questions (0.34 vs 0.29 token F1 on
XQuAD-de test windows; docs/tuning.md "Span head"); numpy only at run time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.npy import load_npz

_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*(?:\.(?=\s))?|[^\W\d_]+(?:[-'’][^\W\d_]+)*|[^\w\s]", re.U)
_PUNCT_STOP = set(',;:()[]"„“”»«–—')
_MONTHS = (
    "januar februar märz april mai juni juli august september oktober november dezember "
    "jänner january february march june july october december"
).split()
_UNITS = set(
    """
    prozent % millionen million milliarden milliarde mio mrd tausend hundert euro dollar pfund
    franken meter kilometer km m cm mm kilogramm kg gramm g tonnen tonne liter l jahre jahren jahr
    monate monaten tage tagen stunden minuten sekunden grad quadratkilometer km² einwohner mal
    prozentpunkte punkte stück menschen personen mitglieder mitarbeiter
    """.split()
)
_NUMBER_WORDS = set(
    "ein eine einen zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig dreißig "
    "vierzig fünfzig hundert tausend dutzend".split()
)
_PREPOSITIONS = set(
    "in im am an auf aus bei mit nach von vom zu zum zur für über unter um seit bis durch "
    "gegen".split()
)
_WEAK = set(
    """
    der die das den dem des ein eine einen einem einer eines und oder aber in im ist war wird
    wurde sind waren hat haben zu zum zur von vom mit auf für an am bei nach aus als wie sich es
    er sie dass auch nicht so noch nur um über unter durch bis seit sein seine ihre ihr
    """.split()
)

_YEAR = re.compile(r"1\d{3}|20\d{2}")
_QUOTED = re.compile(r"[„\"»“][^„\"»“”«]{1,80}[“\"«”]")
KINDS = ("number", "date", "person", "place", "other")
_KIND_RULES = [
    (
        "date",
        re.compile(
            r"\b(wann|seit wann|bis wann|in welchem jahr(hundert)?|welche[ms]? jahr|"
            r"an welchem tag|welche[nm]? (datum|zeitraum|jahrzehnt)|when|what year)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\b(wie ?viele?|wieviel|wie (hoch|groß|lang|alt|weit|schwer|oft|lange|"
            r"breit|tief|schnell|stark|teuer)|welche[rn]? (anzahl|zahl|summe|"
            r"prozentsatz|anteil)|how (many|much))\b",
            re.I,
        ),
    ),
    (
        "person",
        re.compile(
            r"\b(wer|wem|wen|wessen|von wem|welche[rsnm]? (person|mann|frau|"
            r"spieler|künstler|präsident|könig)|who)\b",
            re.I,
        ),
    ),
    (
        "place",
        re.compile(
            r"\b(wo|woher|wohin|in welche[rmn]? (stadt|land|region|staat|ort)|"
            r"welche[rsnm]? (stadt|land|ort|region)|where)\b",
            re.I,
        ),
    ),
]

FEATURES = (
    "bias",
    "len1",
    "len2",
    "len3",
    "len4",
    "len5plus",
    "has_digit",
    "has_year",
    "has_month",
    "has_unit",
    "has_number_word",
    "cap_share",
    "starts_cap",
    "starts_weak",
    "ends_weak",
    "near1",
    "near3",
    "distance",
    "after_question_word",
    "before_question_word",
    "in_best_sentence",
    "kind_number_match",
    "kind_date_match",
    "kind_person_match",
    "kind_place_match",
    "kind_other_len",
    "kind_number_nodigit",
    "kind_date_nodate",
    "starts_sentence",
    "in_quotes",
    "ends_cap",
    "lower_share",
    "maximal_run",
    "left_bounded",
    "right_bounded",
    "starts_preposition",
    "ends_digit",
    "kind_other_ends_cap",
    "kind_number_ends_unit",
)


def question_kind(question: str) -> str:
    """What the question asks for: number, date, person, place or other."""
    for kind, rule in _KIND_RULES:
        if rule.search(question):
            return kind
    return "other"


def _fold(word: str) -> str:
    w = word.casefold()
    for a, b in (("ä", "a"), ("ö", "o"), ("ü", "u"), ("ß", "ss"), ("ae", "a"), ("oe", "o")):
        w = w.replace(a, b)
    return w.replace("ue", "u")


def _prefix(word: str) -> str:
    """A crude stem for matching question words in the snippet (first 5 folded characters)."""
    return _fold(word)[:5]


_WEAK_PREFIXES = frozenset(_prefix(w) for w in _WEAK)


@dataclass(frozen=True)
class Candidate:
    start: int  # offsets into the text the candidates were drawn from
    end: int
    features: np.ndarray


def candidates(question: str, text: str, max_len: int = 6) -> list[Candidate]:
    """Every run of 1..`max_len` tokens inside one clause that holds no question word."""
    spans, matrix = candidate_matrix(question, text, max_len)
    return [Candidate(s, e, row) for (s, e), row in zip(spans, matrix)]


def _question_words(question: str) -> set[str]:
    """The stems of the question's content words (weak words match too much to count)."""
    q_words = {_word_facts(w)[0] for w in _TOKEN.findall(question) if w[0].isalnum()}
    q_words -= _WEAK_PREFIXES
    return q_words


# What a word is, whatever the question (`_word_facts`), in this order. The first seven are
# counted over a span's tokens (`_span_counts`).
_WORD_FACTS = (
    "digit",
    "year",
    "month",
    "unit",
    "numword",
    "alpha",
    "low",
    "alnum",
    "upper",
    "weak",
    "prep",
    "stop",  # a clause break: no span crosses it
    "end",  # ends a sentence (".", "!", "?")
)
_COUNTED = 7


@lru_cache(maxsize=1 << 16)
def _word_facts(word: str) -> tuple[str, int]:
    """A token's stem (to match question words) and its facts as bits in `_WORD_FACTS` order.

    Cached by word: a snippet's words are mostly common ones, so a text costs one lookup per
    token instead of a dozen string tests on every answer."""
    lower, first = word.casefold(), word[0]
    flags = (
        first.isdigit(),
        bool(_YEAR.fullmatch(word)),
        lower in _MONTHS,
        lower in _UNITS,
        lower in _NUMBER_WORDS,
        first.isalpha(),
        first.islower(),
        first.isalnum(),
        first.isupper(),
        lower in _WEAK,
        lower in _PREPOSITIONS,
        word in _PUNCT_STOP or word in ".!?",
        word in ".!?",
    )
    return _prefix(word), sum(1 << k for k, flag in enumerate(flags) if flag)


def _question_distances(is_q: np.ndarray) -> np.ndarray:
    """Distance of every token to the nearest question word (20 when there is none)."""
    where = np.flatnonzero(is_q)
    if not len(where):
        return np.full(len(is_q), 20)
    return np.abs(np.arange(len(is_q))[:, None] - where[None, :]).min(axis=1)


def _best_sentence(end: np.ndarray, upper: np.ndarray, is_q: np.ndarray) -> tuple[np.ndarray, int]:
    """Each token's sentence number, and the sentence with the most question words (the first
    of equals). A sentence ends at ".", "!" or "?" before a capitalised token."""
    if not len(end):
        return np.zeros(0, np.int64), 0
    sentence_of = np.concatenate(([0], np.cumsum(end[:-1] & upper[1:])))
    return sentence_of, int(np.argmax(np.bincount(sentence_of, weights=is_q)))


class _TextFacts:
    """Per-token facts of one text as numpy columns, computed once: every candidate span of the
    text is then scored at once (`_span_matrix`), not token by token in Python."""

    def __init__(self, text: str, q_words: set[str]) -> None:
        matches = list(_TOKEN.finditer(text))
        n = self.n = len(matches)
        self.words = [m.group() for m in matches]
        self.starts = np.array([m.start() for m in matches], np.int64)
        self.ends = np.array([m.end() for m in matches], np.int64)
        facts = [_word_facts(w) for w in self.words]
        codes = np.array([code for _, code in facts], np.int64).reshape(n, 1)
        self.table = ((codes >> np.arange(len(_WORD_FACTS))) & 1) == 1  # tokens x _WORD_FACTS
        (
            self.digit,
            self.year,
            self.month,
            self.unit,
            self.numword,
            self.alpha,
            self.low,
            self.alnum,
            self.upper,
            self.weak,
            self.prep,
            self.stop,
            self.end,
        ) = self.table.T
        self.is_q = self.alnum & np.array([stem in q_words for stem, _ in facts], bool)
        self.dist = _question_distances(self.is_q)
        self.sentence_of, self.best_sentence = _best_sentence(self.end, self.upper, self.is_q)
        self.quotes = [m.span() for m in _QUOTED.finditer(text)]


def candidate_matrix(
    question: str, text: str, max_len: int = 6
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The candidates' `(start, end)` offsets into `text` and their feature rows, ordered by
    first token, then last."""
    kind = question_kind(question)
    q_words = _question_words(question)
    facts = _TextFacts(text, q_words)
    if not facts.n:
        return [], np.zeros((0, len(FEATURES)), np.float32)
    first, last = _span_bounds(facts, max_len)
    spans = list(zip(facts.starts[first].tolist(), facts.ends[last].tolist()))
    return spans, _span_matrix(facts, kind, first, last)


@lru_cache(maxsize=512)
def _runs(n: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last token of every run of 1..`max_len` of `n` tokens, by first, then last."""
    first = np.repeat(np.arange(n), max_len)
    last = first + np.tile(np.arange(max_len), n)
    first, last = first[last < n], last[last < n]
    first.setflags(write=False)  # shared by every call for `n` tokens
    last.setflags(write=False)
    return first, last


def _span_bounds(facts: _TextFacts, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last token of every candidate: 1..`max_len` tokens that start and end on a word
    and never cross a question word or a clause break (punctuation may sit inside a span but
    never ends one)."""
    first, last = _runs(facts.n, max_len)
    blocked = np.concatenate(([0], np.cumsum(facts.is_q | facts.stop)))  # ... before token k
    keep = (blocked[last + 1] == blocked[first]) & facts.alnum[first] & facts.alnum[last]
    return first[keep], last[keep]


# The features a span reads at its first token and at its last (`_edge_facts`' columns).
_AT_FIRST = (
    "starts_cap",
    "starts_weak",
    "starts_preposition",
    "starts_sentence",
    "left_bounded",
    "after_question_word",
    "in_best_sentence",
)
_AT_LAST = ("ends_weak", "ends_digit", "ends_cap", "right_bounded", "before_question_word")
_COLUMN = {name: c for c, name in enumerate(FEATURES)}


def _edge_facts(f: _TextFacts) -> tuple[np.ndarray, np.ndarray]:
    """What a span starting at token k takes from there (row k of the first table, `_AT_FIRST`)
    and what one ending there takes (the second: `_AT_LAST`, then whether k is a unit)."""
    q = np.concatenate(([False, False], f.is_q, [False, False]))  # q[k + 2]: token k
    open_ = f.is_q | ~f.alnum  # a question word or punctuation bounds a span
    starts = (
        f.upper,
        f.weak,
        f.prep,
        np.concatenate(([True], f.end[:-1])),  # the first token or one after ".", "!", "?"
        np.concatenate(([True], open_[:-1])),
        q[1:-3] | q[:-4],  # a question word one or two tokens before
        f.sentence_of == f.best_sentence,
    )
    ends = (
        f.weak,
        f.digit,
        f.upper | f.digit,
        np.concatenate((open_[1:], [True])),
        q[3:-1] | q[4:],  # a question word one or two tokens after
        f.unit,
    )
    return np.stack(starts, axis=1), np.stack(ends, axis=1)


def _span_counts(f: _TextFacts, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """How many of the tokens i..j of each span have each counted fact (`_WORD_FACTS`' first
    `_COUNTED`), and how many are capitalised words (the last column)."""
    counted = np.concatenate((f.table[:, :_COUNTED], (f.alpha & f.upper)[:, None]), axis=1)
    before = np.concatenate((np.zeros((1, _COUNTED + 1), np.int64), np.cumsum(counted, 0)))
    return before[j + 1] - before[i]


def _span_matrix(f: _TextFacts, kind: str, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The feature rows (`FEATURES` order) of the spans from token `i` to token `j`: the same
    values rows of Python numbers held, so the same scores and the same best span. Features of
    a kind the question does not ask for stay 0."""
    col, matrix = _COLUMN, np.zeros((len(i), len(FEATURES)), np.float32)
    starts, ends = _edge_facts(f)
    first, last, count = starts[i], ends[j], _span_counts(f, i, j)
    matrix[:, [col[name] for name in _AT_FIRST]] = first
    matrix[:, [col[name] for name in _AT_LAST]] = last[:, :5]
    has = count[:, :5] > 0  # digit, year, month, unit, number word
    matrix[:, col["has_digit"] : col["has_number_word"] + 1] = has
    length = j - i + 1
    matrix[:, col["len1"] : col["len5plus"] + 1] = np.minimum(length, 5)[:, None] == _ONE_TO_5
    matrix[:, col["bias"]] = 1.0
    n_alpha = count[:, 5]
    cap_share = np.where(n_alpha > 0, count[:, 7] / np.maximum(n_alpha, 1), 0.0)
    matrix[:, col["cap_share"]] = cap_share
    matrix[:, col["lower_share"]] = count[:, 6] / length
    distance = np.minimum(f.dist[i], f.dist[j])
    matrix[:, col["near1"]] = distance <= 1
    matrix[:, col["near3"]] = distance <= 3
    matrix[:, col["distance"]] = np.minimum(distance, 20) / 20
    matrix[:, col["maximal_run"]] = first[:, 4] & last[:, 3]
    matrix[:, col["in_quotes"]] = _in_quotes(f, i, j)
    if kind == "number":
        is_number = has[:, 0] | has[:, 4]
        matrix[:, col["kind_number_match"]] = is_number
        matrix[:, col["kind_number_nodigit"]] = ~is_number
        matrix[:, col["kind_number_ends_unit"]] = last[:, 5]
    elif kind == "date":
        is_date = has[:, 1] | has[:, 2]
        matrix[:, col["kind_date_match"]] = is_date
        matrix[:, col["kind_date_nodate"]] = ~is_date
    elif kind in ("person", "place"):
        matrix[:, col[f"kind_{kind}_match"]] = (cap_share > 0.5) & ~first[:, 3]
    elif kind == "other":
        matrix[:, col["kind_other_len"]] = np.minimum(length, 6) / 6
        matrix[:, col["kind_other_ends_cap"]] = last[:, 2]
    return matrix


_ONE_TO_5 = np.arange(1, 6)


def _in_quotes(f: _TextFacts, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Whether each span lies inside a quotation."""
    inside = np.zeros(len(i), bool)
    for a, b in f.quotes:
        inside |= (a <= f.starts[i]) & (f.ends[j] <= b)
    return inside


def best_phrase(
    question: str, text: str, coef: Sequence[float] | np.ndarray
) -> tuple[int, int] | None:
    """`(start, end)` of the best-scoring candidate in `text`, or None when there is none."""
    spans, matrix = candidate_matrix(question, text)
    if not spans:
        return None
    return spans[int(np.argmax(matrix @ np.asarray(coef, np.float32)))]


# --- The span head: start/end scores over the encoder's frozen token states ---------------------

QUERY_PROMPT, PASSAGE_PROMPT = "query: ", " passage: "


@dataclass(frozen=True)
class TokenStates:
    """The encoder's last hidden states of a window's pieces, read together with the question."""

    states: np.ndarray  # (pieces, dim)
    spans: np.ndarray  # (pieces, 2): each piece's offsets in the window (leading space dropped)
    query: np.ndarray  # (dim,): the mean state of the question's pieces


def encode_pair(encoder, question: str, window: str) -> TokenStates:
    """One encoder run over "query: <question> passage: <window>"; the window's piece states.

    `encoder` is a `qa.onnx_encoder.OnnxEmbedder` (anything with `token_states(text)`)."""
    head = QUERY_PROMPT + question + PASSAGE_PROMPT
    states, offsets = encoder.token_states(head + window)
    q0, q1 = len(QUERY_PROMPT), len(QUERY_PROMPT) + len(question)
    in_question = (offsets[:, 0] >= q0 - 1) & (offsets[:, 1] <= q1) & (offsets[:, 1] > q0)
    in_window = offsets[:, 1] > len(head)
    spans = np.clip(offsets[in_window] - len(head), 0, len(window))
    query = states[in_question].mean(axis=0) if in_question.any() else states.mean(axis=0)
    return TokenStates(states[in_window], spans, query)


PIECE_FEATURES = (
    "question_word",
    "digit",
    "year",
    "month",
    "unit",
    "number_word",
    "capital",
    "weak",
    "preposition",
    "punctuation",
    "near1",
    "near3",
    "distance",
    "best_sentence",
    "word_start",
    *(f"kind_{k}" for k in KINDS),
)


def piece_features(question: str, window: str, spans: np.ndarray) -> np.ndarray:
    """The hand facts of the word each piece belongs to (`_TextFacts`), and the question kind."""
    out = np.zeros((len(spans), len(PIECE_FEATURES)), np.float32)
    out[:, PIECE_FEATURES.index(f"kind_{question_kind(question)}")] = 1.0
    f = _TextFacts(window, _question_words(question))
    if not f.n:
        return out
    starts, ends = f.starts.tolist(), f.ends
    for p, (a, b) in enumerate(spans):
        while a < b and window[a].isspace():
            a += 1
        k = min(int(np.searchsorted(ends, a, side="right")), f.n - 1)
        if not (starts[k] < b and a < ends[k]):
            continue  # a piece of white space or of nothing
        out[p, :15] = (
            f.is_q[k],
            f.digit[k],
            f.year[k],
            f.month[k],
            f.unit[k],
            f.numword[k],
            f.upper[k] and f.alpha[k],
            f.weak[k],
            f.prep[k],
            f.stop[k] or not f.alnum[k],
            f.dist[k] <= 1,
            f.dist[k] <= 3,
            min(f.dist[k], 20) / 20,
            f.sentence_of[k] == f.best_sentence,
            a == starts[k],
        )
    return out


def head_inputs(
    states: np.ndarray, query: np.ndarray, extra: np.ndarray | None = None
) -> np.ndarray:
    """Per piece: its state, its elementwise product with the question's mean state, and (when
    the head was fitted with them) the hand facts of `piece_features`."""
    parts = [states, states * query[None, :]] + ([extra] if extra is not None else [])
    return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass(frozen=True)
class SpanHead:
    """A one-hidden-layer MLP: piece -> (start, end) logits. Fitted by `benchmarks.fit_phrase`."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    hand: bool = False  # reads `piece_features` too

    @classmethod
    def load(cls, path) -> SpanHead:
        data = load_npz(path)
        weights = (data[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2"))
        return cls(*weights, hand=bool(data["hand"]) if "hand" in data else False)

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = x @ self.w1 + self.b1
        h = 0.5 * h * (1.0 + np.tanh(0.7978845608 * (h + 0.044715 * h**3)))  # GELU
        return h @ self.w2 + self.b2


def head_span(
    head: SpanHead,
    tok: TokenStates,
    question: str,
    window: str,
    max_pieces: int = 16,
    max_chars: int = 60,
) -> tuple[int, int] | None:
    """`(start, end)` in `window` of the best span (start + end logit), widened to whole words."""
    if not len(tok.spans):
        return None
    extra = piece_features(question, window, tok.spans) if head.hand else None
    logits = head.logits(head_inputs(tok.states, tok.query, extra))
    return best_logit_span(window, tok.spans, logits, max_pieces, max_chars)


def best_logit_span(
    window: str, spans: np.ndarray, logits: np.ndarray, max_pieces: int = 16, max_chars: int = 60
) -> tuple[int, int] | None:
    """`(start, end)` in `window` of the best span by start + end logit of the window's pieces
    (`spans` their character offsets, `logits` [pieces, >= 2]), widened to whole words, at most
    `max_pieces` pieces and `max_chars` characters, never over a sentence end."""
    n = len(spans)
    if n == 0:
        return None
    score = logits[:, 0][:, None] + logits[:, 1][None, :]
    i, j = np.indices((n, n))
    score[(j < i) | (j - i >= max_pieces)] = -np.inf
    for flat in np.argsort(-score, axis=None)[:50]:
        a, b = divmod(int(flat), n)
        if not np.isfinite(score[a, b]):
            break
        span = _whole_words(window, int(spans[a, 0]), int(spans[b, 1]))
        span = _with_units(window, span) if span else None
        if span and span[1] - span[0] <= max_chars and not _SENTENCE_END.search(window, *span):
            return span
    return None


HEAD_FILE = Path(__file__).with_name("phrase_head.npz")
# A phrase never runs over a sentence end (a full stop after a digit is an ordinal: "3. Mai").
_SENTENCE_END = re.compile(r"[^\d\s][.!?]\s")


@lru_cache(maxsize=2)
def load_head(path: Path = HEAD_FILE) -> SpanHead | None:
    """The shipped span head, or None when the file is absent (the linear scorer answers)."""
    return SpanHead.load(path) if Path(path).exists() else None


def find_phrase(
    question: str,
    text: str,
    coef: Sequence[float] | np.ndarray,
    encoder=None,
    max_chars: int = 60,
) -> tuple[int, int] | None:
    """`(start, end)` of the answer phrase in `text`: the span head over `encoder`'s token states
    when there is a head and the encoder exposes them (the int8 ONNX encoder), else the linear
    scorer (`best_phrase`). One extra encoder run of the question and `text` together."""
    head = load_head() if hasattr(encoder, "token_states") else None
    if head is not None:
        return head_span(head, encode_pair(encoder, question, text), question, text, 16, max_chars)
    return best_phrase(question, text, coef)


_NEXT_WORD = re.compile(r"\s*([^\W\d_]+|%)", re.U)


def _with_units(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A figure takes the units after it along ("18" -> "18 Milliarden Dollar")."""
    start, end = span
    if not text[end - 1].isdigit():
        return span
    for _ in range(2):
        m = _NEXT_WORD.match(text, end)
        if not m or m.group(1).casefold() not in _UNITS:
            break
        end = m.end()
    return start, end


def _whole_words(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Widen to whole words, then drop spaces and punctuation at either edge (keep "%", "€")."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    while start < end and not (text[start].isalnum() or text[start] in "€$£"):
        start += 1
    while end > start and not (text[end - 1].isalnum() or text[end - 1] in "%€$£"):
        end -= 1
    return (start, end) if end > start else None


# --- Token F1, as the eval reports it (SQuAD's measure; German articles dropped like MLQA's) ----

_ARTICLES = re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b")


def answer_tokens(text: str) -> list[str]:
    text = "".join(" " if not (c.isalnum() or c.isspace()) else c for c in text.casefold())
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    overlap = 0
    counts: dict[str, int] = {}
    for t in ref:
        counts[t] = counts.get(t, 0) + 1
    for t in pred:
        if counts.get(t, 0) > 0:
            counts[t] -= 1
            overlap += 1
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    return float(answer_tokens(prediction) == answer_tokens(gold))
