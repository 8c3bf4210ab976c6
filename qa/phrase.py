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


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


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
    q_words = {_prefix(t.text) for t in tokens(question) if t.text[0].isalnum()}
    q_words -= _WEAK_PREFIXES
    return q_words


def _question_distances(is_q: list[bool]) -> list[int]:
    """Distance of every token to the nearest question word (20 when there is none)."""
    n = len(is_q)
    dist = [20] * n
    last = None
    for k in range(n):
        if is_q[k]:
            last = k
        if last is not None:
            dist[k] = k - last
    last = None
    for k in range(n - 1, -1, -1):
        if is_q[k]:
            last = k
        if last is not None:
            dist[k] = min(dist[k], last - k)
    return dist


def _best_sentence(words: list[str], is_q: list[bool]) -> tuple[list[int], int]:
    """Each token's sentence number, and the sentence with the most question words."""
    sentence_of, sentence, counts = [], 0, {}
    for k in range(len(words)):
        sentence_of.append(sentence)
        counts[sentence] = counts.get(sentence, 0) + is_q[k]
        if words[k] in ".!?" and k + 1 < len(words) and words[k + 1][:1].isupper():
            sentence += 1
    return sentence_of, max(counts, key=counts.get)


class _TextFacts:
    """Per-token facts of one text, computed once and read by every candidate span."""

    def __init__(self, text: str, toks: list[Token], q_words: set[str]) -> None:
        n = len(toks)
        self.toks = toks
        self.n = n
        words = self.words = [t.text for t in toks]
        lower = [w.casefold() for w in words]
        alnum = self.alnum = [w[0].isalnum() for w in words]
        is_q = self.is_q = [alnum[k] and _prefix(words[k]) in q_words for k in range(n)]
        self.dist = _question_distances(is_q)
        self.digit = [w[0].isdigit() for w in words]
        self.year = [bool(_YEAR.fullmatch(w)) for w in words]
        self.month = [w in _MONTHS for w in lower]
        self.unit = [w in _UNITS for w in lower]
        self.numword = [w in _NUMBER_WORDS for w in lower]
        self.alpha = [w[0].isalpha() for w in words]
        self.upper = [w[0].isupper() for w in words]
        self.low = [w[0].islower() for w in words]
        self.weak = [w in _WEAK for w in lower]
        self.prep = [w in _PREPOSITIONS for w in lower]
        self.stop = [w in _PUNCT_STOP or w in ".!?" for w in words]
        self.sentence_of, self.best_sentence = _best_sentence(words, is_q)
        self.quotes = [m.span() for m in _QUOTED.finditer(text)]
        self.qset = {k for k in range(n) if is_q[k]}


@dataclass
class _GrowingSpan:
    """A span grown token by token from `first`: its start context and what it holds so far."""

    first: int
    starts_sentence: float
    left_bounded: bool
    after_q: float
    has: dict[str, bool]
    n_alpha: int = 0
    n_upper: int = 0
    n_lower: int = 0


def candidate_matrix(
    question: str, text: str, max_len: int = 6
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The candidates' `(start, end)` offsets into `text` and their feature rows."""
    kind = question_kind(question)
    q_words = _question_words(question)
    toks = tokens(text)
    if not toks:
        return [], np.zeros((0, len(FEATURES)), np.float32)
    facts = _TextFacts(text, toks, q_words)
    spans, rows = [], []
    for i in range(facts.n):
        if facts.is_q[i] or facts.stop[i] or not facts.alnum[i]:
            continue
        _add_spans_from(facts, kind, i, max_len, spans, rows)
    return spans, np.array(rows, np.float32).reshape(len(rows), len(FEATURES))


def _add_spans_from(
    facts: _TextFacts,
    kind: str,
    i: int,
    max_len: int,
    spans: list[tuple[int, int]],
    rows: list[tuple],
) -> None:
    """Append every candidate starting at token `i` (and its feature row) to `spans`/`rows`."""
    words, qset = facts.words, facts.qset
    before = words[i - 1] if i > 0 else "."
    span = _GrowingSpan(
        first=i,
        starts_sentence=1.0 if i == 0 or words[i - 1] in ".!?" else 0.0,
        left_bounded=(i - 1) in qset or not before[0].isalnum(),
        after_q=1.0 if (i - 1) in qset or (i - 2) in qset else 0.0,
        has=dict.fromkeys(("digit", "year", "month", "unit", "numword"), False),
    )
    for j in range(i, min(facts.n, i + max_len)):
        # A span never crosses a question word or a clause break.
        if facts.is_q[j] or facts.stop[j]:
            break
        span.has["digit"] |= facts.digit[j]
        span.has["year"] |= facts.year[j]
        span.has["month"] |= facts.month[j]
        span.has["unit"] |= facts.unit[j]
        span.has["numword"] |= facts.numword[j]
        span.n_alpha += facts.alpha[j]
        span.n_upper += facts.alpha[j] and facts.upper[j]
        span.n_lower += facts.low[j]
        # Punctuation may sit inside a span but never ends one.
        if not facts.alnum[j]:
            continue
        spans.append((facts.toks[i].start, facts.toks[j].end))
        rows.append(_span_features(facts, kind, span, j))


def _span_features(facts: _TextFacts, kind: str, span: _GrowingSpan, j: int) -> tuple:
    """The feature row (`FEATURES` order) of the span from `span.first` to token `j`."""
    i, has, qset, toks = span.first, span.has, facts.qset, facts.toks
    upper, digit = facts.upper, facts.digit
    length = j - i + 1
    cap_share = span.n_upper / span.n_alpha if span.n_alpha else 0.0
    distance = min(facts.dist[i], facts.dist[j])
    after = facts.words[j + 1] if j + 1 < facts.n else "."
    right_bounded = (j + 1) in qset or not after[0].isalnum()
    before_q = 1.0 if (j + 1) in qset or (j + 2) in qset else 0.0
    in_quotes = any(a <= toks[i].start and toks[j].end <= b for a, b in facts.quotes)
    is_date = has["year"] or has["month"]
    is_number = has["digit"] or has["numword"]
    capital = cap_share > 0.5 and not span.starts_sentence
    ends_cap = upper[j] or digit[j]
    return (
        1.0,
        length == 1,
        length == 2,
        length == 3,
        length == 4,
        length >= 5,
        has["digit"],
        has["year"],
        has["month"],
        has["unit"],
        has["numword"],
        cap_share,
        upper[i],
        facts.weak[i],
        facts.weak[j],
        distance <= 1,
        distance <= 3,
        min(distance, 20) / 20,
        span.after_q,
        before_q,
        facts.sentence_of[i] == facts.best_sentence,
        kind == "number" and is_number,
        kind == "date" and is_date,
        kind == "person" and capital,
        kind == "place" and capital,
        (kind == "other") * min(length, 6) / 6,
        kind == "number" and not is_number,
        kind == "date" and not is_date,
        span.starts_sentence,
        in_quotes,
        ends_cap,
        span.n_lower / length,
        span.left_bounded and right_bounded,
        span.left_bounded,
        right_bounded,
        facts.prep[i],
        digit[j],
        kind == "other" and ends_cap,
        kind == "number" and facts.unit[j],
    )


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
    toks = tokens(window)
    if not toks:
        return out
    f = _TextFacts(window, toks, _question_words(question))
    ends = np.asarray([t.end for t in toks])
    for p, (a, b) in enumerate(spans):
        while a < b and window[a].isspace():
            a += 1
        k = min(int(np.searchsorted(ends, a, side="right")), f.n - 1)
        if not (toks[k].start < b and a < toks[k].end):
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
            a == toks[k].start,
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
        with np.load(path) as data:
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
    n = len(tok.spans)
    if n == 0:
        return None
    extra = piece_features(question, window, tok.spans) if head.hand else None
    logits = head.logits(head_inputs(tok.states, tok.query, extra))
    score = logits[:, 0][:, None] + logits[:, 1][None, :]
    i, j = np.indices((n, n))
    score[(j < i) | (j - i >= max_pieces)] = -np.inf
    for flat in np.argsort(-score, axis=None)[:50]:
        a, b = divmod(int(flat), n)
        if not np.isfinite(score[a, b]):
            break
        span = _whole_words(window, int(tok.spans[a, 0]), int(tok.spans[b, 1]))
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
