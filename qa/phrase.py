"""Snippet -> answer phrase: the figure, date, name or short phrase that answers the question.

The reader has chosen the sentence; this step names the few words in it that answer. It is a
small learned scorer over candidate spans: every run of 1-6 tokens that holds no question word,
scored by a linear model over what a span looks like (a figure, a year, a capitalised name, the
kind the question asks for), how far it stands from the question's words, and its length. The
weights are fitted by `benchmarks/fit_reader.py` (`qa/reader_weights.json`, key `phrase`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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


def candidate_matrix(
    question: str, text: str, max_len: int = 6
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The candidates' `(start, end)` offsets into `text` and their feature rows."""
    kind = question_kind(question)
    q_words = {_prefix(t.text) for t in tokens(question) if t.text[0].isalnum()}
    q_words -= _WEAK_PREFIXES
    toks = tokens(text)
    n = len(toks)
    if not n:
        return [], np.zeros((0, len(FEATURES)), np.float32)
    words = [t.text for t in toks]
    lower = [w.casefold() for w in words]
    alnum = [w[0].isalnum() for w in words]
    is_q = [alnum[k] and _prefix(words[k]) in q_words for k in range(n)]
    q_pos = [k for k in range(n) if is_q[k]]
    # Distance of every token to the nearest question word (20 when there is none).
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
    digit = [w[0].isdigit() for w in words]
    year = [bool(_YEAR.fullmatch(w)) for w in words]
    month = [w in _MONTHS for w in lower]
    unit = [w in _UNITS for w in lower]
    numword = [w in _NUMBER_WORDS for w in lower]
    alpha = [w[0].isalpha() for w in words]
    upper = [w[0].isupper() for w in words]
    low = [w[0].islower() for w in words]
    weak = [w in _WEAK for w in lower]
    prep = [w in _PREPOSITIONS for w in lower]
    stop = [w in _PUNCT_STOP or w in ".!?" for w in words]
    # The sentence of the text with the most question words ("best sentence").
    sentence_of, sentence, counts = [], 0, {}
    for k in range(n):
        sentence_of.append(sentence)
        counts[sentence] = counts.get(sentence, 0) + is_q[k]
        if words[k] in ".!?" and k + 1 < n and words[k + 1][:1].isupper():
            sentence += 1
    best_sentence = max(counts, key=counts.get)
    quotes = [m.span() for m in _QUOTED.finditer(text)]
    qset = set(q_pos)
    spans, rows = [], []
    for i in range(n):
        if is_q[i] or stop[i] or not alnum[i]:
            continue
        starts_sentence = 1.0 if i == 0 or words[i - 1] in ".!?" else 0.0
        before = words[i - 1] if i > 0 else "."
        left_bounded = (i - 1) in qset or not before[0].isalnum()
        after_q = 1.0 if (i - 1) in qset or (i - 2) in qset else 0.0
        has = dict.fromkeys(("digit", "year", "month", "unit", "numword"), False)
        n_alpha = n_upper = n_lower = 0
        for j in range(i, min(n, i + max_len)):
            if is_q[j] or stop[j]:
                break
            has["digit"] |= digit[j]
            has["year"] |= year[j]
            has["month"] |= month[j]
            has["unit"] |= unit[j]
            has["numword"] |= numword[j]
            n_alpha += alpha[j]
            n_upper += alpha[j] and upper[j]
            n_lower += low[j]
            if not alnum[j]:
                continue
            length = j - i + 1
            cap_share = n_upper / n_alpha if n_alpha else 0.0
            distance = min(dist[i], dist[j])
            after = words[j + 1] if j + 1 < n else "."
            right_bounded = (j + 1) in qset or not after[0].isalnum()
            before_q = 1.0 if (j + 1) in qset or (j + 2) in qset else 0.0
            in_quotes = any(a <= toks[i].start and toks[j].end <= b for a, b in quotes)
            is_date = has["year"] or has["month"]
            is_number = has["digit"] or has["numword"]
            capital = cap_share > 0.5 and not starts_sentence
            ends_cap = upper[j] or digit[j]
            spans.append((toks[i].start, toks[j].end))
            rows.append(
                (
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
                    weak[i],
                    weak[j],
                    distance <= 1,
                    distance <= 3,
                    min(distance, 20) / 20,
                    after_q,
                    before_q,
                    sentence_of[i] == best_sentence,
                    kind == "number" and is_number,
                    kind == "date" and is_date,
                    kind == "person" and capital,
                    kind == "place" and capital,
                    (kind == "other") * min(length, 6) / 6,
                    kind == "number" and not is_number,
                    kind == "date" and not is_date,
                    starts_sentence,
                    in_quotes,
                    ends_cap,
                    n_lower / length,
                    left_bounded and right_bounded,
                    left_bounded,
                    right_bounded,
                    prep[i],
                    digit[j],
                    kind == "other" and ends_cap,
                    kind == "number" and unit[j],
                )
            )
    return spans, np.array(rows, np.float32).reshape(len(rows), len(FEATURES))


def best_phrase(
    question: str, text: str, coef: Sequence[float] | np.ndarray
) -> tuple[int, int] | None:
    """`(start, end)` of the best-scoring candidate in `text`, or None when there is none."""
    spans, matrix = candidate_matrix(question, text)
    if not spans:
        return None
    return spans[int(np.argmax(matrix @ np.asarray(coef, np.float32)))]


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
