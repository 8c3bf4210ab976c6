"""Time in a question: "2019", "im März 2020", "zwischen 2015 und 2018", "aktuell", "letzte Woche".

A news archive answers the same question differently over the years, so the question's period
decides which article is the right evidence. `find_period` turns the words that name a time into
a `Period` of ISO dates. Relative words are resolved against the archive's newest article date
(`anchor`), never the wall clock: "letztes Jahr" in an archive that ends in 2019 means 2018.

Absolute forms (years, months, days, ranges) are matched with patterns whose month names come
from dateparser's locale data (German and English, copied into `_MONTH_NAMES`). "vor zwei
Jahren", "two years ago" and "gestern" are resolved by dateparser itself with `RELATIVE_BASE`
set to the anchor (number words from its tables); "letzte Woche", "im vergangenen Jahr", "im
Vorjahr" are calendar steps back from the anchor (dateparser knows "letzte Woche" but not the
inflected forms). dateparser's free-text `search_dates` is not used: it reads "die" as Tuesday
and any number as a year, whereas a number here is a year (1800-2099) only where nothing says it
counts something ("2000 Euro", "über 2000", "vor 2000 Jahren" are not years).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

import numpy as np

# Words that say "now": the answer should come from the newest articles.
_PRESENT = re.compile(
    r"\b(?:aktuell(?:e[nmrs]?|ste[nmrs]?)?|derzeit(?:ig(?:e[nmrs]?)?)?|zurzeit|zur zeit|"
    r"momentan(?:e[nmrs]?)?|gegenwärtig(?:e[nmrs]?)?|heute|heutzutage|jetzt|inzwischen|"
    r"mittlerweile|zuletzt|jüngste[nmrs]?|neueste[nmrs]?|"
    r"currently|current|nowadays|now|today|at present|at the moment|presently|"
    r"latest|most recent(?:ly)?|recently|these days)\b",
    re.IGNORECASE,
)

# A number followed by one of these counts something: "2000 Euro", "2019 Menschen".
_QUANTITY_AFTER = re.compile(
    r"\s*(?:%|€|\$|£|(?:euro|eur|cent|dollar|pfund|franken|prozent|mio|millionen|milliarden|"
    r"mrd|tausend|menschen|personen|leute|einwohner|besucher|mitarbeiter|beschäftigte|"
    r"arbeitsplätze|stellen|stimmen|tote|todesopfer|opfer|verletzte|soldaten|polizisten|fälle|"
    r"meter|m|km|kilometer|kilogramm|kg|tonnen|t|liter|stück|mal|jahre|jahren|monate|monaten|"
    r"tage|tagen|stunden|minuten|sekunden|grad|kwh|mw|gw|ps|punkte|tore|seiten|exemplare|"
    r"wohnungen|häuser|autos|fahrzeuge|schüler|studierende|studenten|kinder|teilnehmer|"
    r"people|persons|dollars|euros|pounds|percent|per cent|million|billion|thousand|times|"
    r"years|months|days|hours|minutes|miles|metres|meters|tons|tonnes|votes|jobs|units|points|"
    r"cars|students|deaths|cases|visitors|employees|residents|soldiers|pages|copies)\b)",
    re.IGNORECASE,
)
# ... and so does a number after one of these: "über 2000", "rund 2000", "more than 2000".
_QUANTITY_BEFORE = re.compile(
    r"\b(?:wie viele|über|mehr als|weniger als|rund|etwa|fast|knapp|circa|ca\.|bis zu|"
    r"insgesamt|gut|genau|exakt|nur|about|over|more than|less than|fewer than|nearly|almost|"
    r"around|some|exactly|only|up to)\s*$",
    re.IGNORECASE,
)

# A year is 1800-2099, not part of a longer number ("12.019", "2019,5", "1.2019").
_YEAR_DIGITS = r"(?:1[89]\d\d|20\d\d)(?!\d)(?![.,]\d)"
_YEAR = r"(?<![\d.,/-])" + _YEAR_DIGITS
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"


@dataclass(frozen=True)
class Period:
    """A span of dates a question asks about, both ends inclusive, as ISO "YYYY-MM-DD".

    `text` is the words of the question that named it ("2019", "letzte Woche"). `present` marks
    "now" words ("aktuell", "derzeit"): the newest evidence is wanted, whatever its date, so the
    period runs up to the archive's newest date with an open start. An open end ("seit 2019"
    without an anchor) is None.
    """

    from_: str | None
    to: str | None
    text: str
    present: bool = False

    def to_dict(self) -> dict:
        """The public JSON form (`"period"` of `qa ask --json`)."""
        return {"from": self.from_, "to": self.to, "text": self.text}

    def contains(self, article_date: str | None) -> bool:
        """Whether an article's date ("2019", "2019-06" or "2019-06-01") overlaps the period.

        An undated article, or one whose date cannot be read, is never inside.
        """
        span = date_span(article_date)
        if span is None:
            return False
        first, last = span
        if self.from_ and last.isoformat() < self.from_:
            return False
        if self.to and first.isoformat() > self.to:
            return False
        return True

    def label(self, lang: str = "de") -> str:
        """A short form of the span: "2019", "2020-03", "2015–2018", "2024-12-23 – 2024-12-29";
        an open end in `lang` ("bis 2025-01-02", "until 2025-01-02")."""
        if self.from_ and self.to:
            first, last = date.fromisoformat(self.from_), date.fromisoformat(self.to)
            if (first.month, first.day, last.month, last.day) == (1, 1, 12, 31):
                years = f"{first.year}" if first.year == last.year else None
                return years or f"{first.year}–{last.year}"
            if first.day == 1 and last == _month_end(last.year, last.month):
                if (first.year, first.month) == (last.year, last.month):
                    return f"{first.year}-{first.month:02d}"
            if first == last:
                return self.from_
            return f"{self.from_} – {self.to}"
        since, until = ("from", "until") if lang == "en" else ("ab", "bis")
        if self.from_:
            return f"{since} {self.from_}"
        if self.to:
            return f"{until} {self.to}"
        return self.text


def date_span(value: str | None) -> tuple[date, date] | None:
    """The first and last day an ISO date prefix stands for: "2019" -> 2019-01-01..2019-12-31."""
    if not value:
        return None
    found = re.match(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value.strip())
    if not found:
        return None
    year, month, day = found.groups()
    try:
        if day:
            one = date(int(year), int(month), int(day))
            return one, one
        if month:
            return date(int(year), int(month), 1), _month_end(int(year), int(month))
        return date(int(year), 1, 1), date(int(year), 12, 31)
    except ValueError:
        return None


def newest_date(dates: Iterable[str | None]) -> date | None:
    """The archive's "now": the last day of the newest readable article date, None if none."""
    spans = [span for span in map(date_span, dates) if span is not None]
    return max((last for _, last in spans), default=None)


def find_period(question: str, anchor: date | None = None) -> Period | None:
    """The period a question names, or None.

    Several mentions ("2015 und 2024") make one period spanning them. Relative words need the
    `anchor` (the archive's newest date); without one they are ignored, so an undated archive
    answers as if no time had been named.
    """
    text = unicodedata.normalize("NFC", question)
    found: list[tuple[int, int, Period]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, period: Period | None) -> None:
        if period is not None and not any(s < end and start < e for s, e in taken):
            found.append((start, end, period))
            taken.append((start, end))

    for pattern, build in _absolute_patterns():
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            add(match.start(), match.end(), build(match, anchor))
    if anchor is not None:
        for match in _relative_pattern().finditer(text):
            add(match.start(), match.end(), _relative(match, anchor))
    if not found and anchor is not None:
        if match := _PRESENT.search(text):
            # Not "the last year": a topic's newest article may be older than that, and it is
            # still today's answer. Retrieval prefers the newest evidence instead.
            return Period(None, anchor.isoformat(), match.group(0), present=True)
    if not found:
        return None
    found.sort(key=lambda item: item[0])
    periods = [period for _, _, period in found]
    if len(periods) == 1:
        return periods[0]
    starts = [p.from_ for p in periods]
    ends = [p.to for p in periods]
    return Period(
        from_=None if None in starts else min(starts),  # type: ignore[type-var]
        to=None if None in ends else max(ends),  # type: ignore[type-var]
        text=", ".join(p.text for p in periods),
    )


# --- Absolute forms ---------------------------------------------------------------------------


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _year_span(first: int, last: int, text: str) -> Period:
    return Period(date(first, 1, 1).isoformat(), date(last, 12, 31).isoformat(), text)


def _month_span(year: int, first: int, last: int, text: str) -> Period:
    return Period(date(year, first, 1).isoformat(), _month_end(year, last).isoformat(), text)


def _day(year: int, month: int, day: int, text: str) -> Period | None:
    try:
        one = date(year, month, day).isoformat()
    except ValueError:
        return None
    return Period(one, one, text)


# Month names and abbreviations in German and English: dateparser's locale data ("de", "en"),
# written out so that a question does not import dateparser (0.3 s of a new `qa ask`);
# tests/test_encoder_speed.py checks the table against dateparser's.
_MONTH_NAMES = {
    **{"jan": 1, "januar": 1, "jänner": 1, "feb": 2, "februar": 2, "feber": 2, "mär": 3},
    **{"märz": 3, "mrz": 3, "apr": 4, "april": 4, "mai": 5, "jun": 6, "juni": 6, "jul": 7},
    **{"juli": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9, "okt": 10},
    **{"oktober": 10, "nov": 11, "november": 11, "dez": 12, "dezember": 12, "january": 1},
    **{"february": 2, "mar": 3, "march": 3, "may": 5, "june": 6, "july": 7, "oct": 10},
    **{"october": 10, "dec": 12, "december": 12},
}


def _month_names() -> dict[str, int]:
    """Month names and abbreviations in German and English (casefolded) -> month number."""
    return _MONTH_NAMES


def _month_pattern() -> str:
    names = sorted(_month_names(), key=len, reverse=True)
    return r"(?P<month>" + "|".join(re.escape(n) for n in names) + r")\.?"


def _month_number(name: str) -> int:
    return _month_names()[name.casefold().rstrip(".")]


def _is_year(match: re.Match, group: str = "year") -> bool:
    """Whether the number in `group` is a year: nothing around it says it counts something."""
    before = match.string[: match.start(group)]
    after = match.string[match.end(group) :]
    return not _QUANTITY_AFTER.match(after) and not _QUANTITY_BEFORE.search(before)


def _strip_lead(text: str) -> str:
    """ "im Jahr 2019" -> "2019", "in March 2020" -> "March 2020": the words that carry the time."""
    return re.sub(
        r"^(?:(?:im|in|am|vom|des|dem|the|of|year|jahr(?:e|es)?)\s+)+", "", text, flags=re.I
    ).strip()


_PARTS = {
    # Part of a year: (first month, last month).
    "anfang": (1, 4),
    "early": (1, 4),
    "beginning of": (1, 4),
    "mitte": (5, 8),
    "mid": (5, 8),
    "middle of": (5, 8),
    "ende": (9, 12),
    "late": (9, 12),
    "end of": (9, 12),
    "frühjahr": (3, 5),
    "frühling": (3, 5),
    "spring": (3, 5),
    "sommer": (6, 8),
    "summer": (6, 8),
    "herbst": (9, 11),
    "autumn": (9, 11),
    "fall": (9, 11),
}
_QUARTERS = {"ersten": 1, "zweiten": 2, "dritten": 3, "vierten": 4}
_QUARTERS |= {"first": 1, "second": 2, "third": 3, "fourth": 4}


@cache
def _absolute_patterns():
    """(pattern, builder) pairs, most specific first: a later pattern never re-reads a span."""
    month = _month_pattern()
    year = rf"(?P<year>{_YEAR})"
    return (
        *_day_patterns(month, year),
        *_range_patterns(),
        *_month_patterns(month, year),
        *_year_patterns(year),
    )


def _day_patterns(month: str, year: str):
    """Full dates: ISO, German numeric, and with a month name."""
    ci = re.IGNORECASE

    def iso_day(m, _anchor):
        return _day(int(m["y"]), int(m["m"]), int(m["d"]), m.group(0))

    def german_day(m, _anchor):
        return _day(int(m["y"]), int(m["m"]), int(m["d"]), m.group(0))

    def named_day(m, _anchor):
        if not _is_year(m, "year"):
            return None
        text = _strip_lead(m.group(0))
        return _day(int(m["year"]), _month_number(m["month"]), int(m["d"]), text)

    return (
        (re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>0[1-9]|1[0-2])-(?P<d>[0-3]\d)(?!\d)"), iso_day),
        (
            re.compile(
                rf"(?<![\d.])(?P<d>{_DAY})\.\s?(?P<m>0?[1-9]|1[0-2])\.\s?(?P<y>{_YEAR_DIGITS})"
            ),
            german_day,
        ),
        (re.compile(rf"\b(?P<d>{_DAY})\.?\s+{month}\s+(?:de[rs]\s+)?{year}", ci), named_day),
        (re.compile(rf"\b{month}\s+(?P<d>{_DAY})(?:st|nd|rd|th)?,?\s+{year}", ci), named_day),
    )


def _range_patterns():
    """Spans of whole years: "zwischen 2019 und 2021", "2019-2021", "2023/24"."""
    ci = re.IGNORECASE

    def year_range(m, _anchor):
        first, last = int(m["y1"]), int(m["y2"])
        if first > last or not _is_year(m, "y2") or not _is_year(m, "y1"):
            return None
        return _year_span(first, last, m.group(0).strip())

    def split_year(m, _anchor):
        # "2023/24", "Wintersemester 2023/2024": both years.
        first = int(m["y1"])
        last = int(m["y2"]) if len(m["y2"]) == 4 else first // 100 * 100 + int(m["y2"])
        if last != first + 1:
            return None
        return _year_span(first, last, m.group(0))

    to = r"\s*(?:-|–|—|bis|und|to|and|until|till)\s*"
    return (
        (
            re.compile(
                rf"\b(?:zwischen|von|vom|from|between)\s+(?:(?:de[mn]\s+)?jahre?n?\s+)?"
                rf"(?P<y1>{_YEAR}){to}(?:(?:dem\s+)?jahr\s+)?(?P<y2>{_YEAR})",
                ci,
            ),
            year_range,
        ),
        (re.compile(rf"(?P<y1>{_YEAR})\s*(?:-|–|—|bis|to)\s*(?P<y2>{_YEAR})", ci), year_range),
        (re.compile(rf"(?P<y1>{_YEAR})/(?P<y2>\d{{2}}|\d{{4}})(?!\d)"), split_year),
    )


def _month_patterns(month: str, year: str):
    """Months of one year: quarters, seasons and parts, named and numeric months."""
    ci = re.IGNORECASE

    def month_year(m, _anchor):
        if not _is_year(m, "year"):
            return None
        number = _month_number(m["month"])
        return _month_span(int(m["year"]), number, number, _strip_lead(m.group(0)))

    def numeric_month(m, _anchor):
        number = int(m["m"])
        return _month_span(int(m["y"]), number, number, m.group(0))

    def quarter(m, _anchor):
        if not _is_year(m, "year"):
            return None
        q = int(m["q"]) if m["q"] else _QUARTERS[m["qword"].lower()]
        return _month_span(int(m["year"]), 3 * q - 2, 3 * q, _strip_lead(m.group(0)))

    def part(m, _anchor):
        if not _is_year(m, "year"):
            return None
        first, last = _PARTS[" ".join(m["part"].lower().split())]
        return _month_span(int(m["year"]), first, last, m.group(0))

    parts = "|".join(sorted((re.escape(p) for p in _PARTS), key=len, reverse=True))
    return (
        (
            re.compile(
                rf"\b(?:(?:im|in the)\s+)?(?:(?P<qword>ersten|zweiten|dritten|vierten|first|"
                rf"second|third|fourth)\s+(?:quartal|quarter)|q(?P<q>[1-4]))\s+(?:of\s+)?"
                rf"(?:de[sr]\s+jahres\s+)?{year}",
                ci,
            ),
            quarter,
        ),
        (re.compile(rf"\b(?P<part>{parts})\s+(?:de[sr]\s+jahres\s+)?{year}", ci), part),
        (re.compile(rf"\b(?:(?:im|in)\s+)?{month}\s+(?:(?:de[sr]|of)\s+)?{year}", ci), month_year),
        (re.compile(rf"(?<![\d.,/])(?P<y>{_YEAR})-(?P<m>0[1-9]|1[0-2])(?![\d-])"), numeric_month),
        (re.compile(rf"(?<![\d.,/])(?P<m>0?[1-9]|1[0-2])/(?P<y>{_YEAR})"), numeric_month),
    )


def _year_patterns(year: str):
    """Decades, open spans ("seit 2019", "bis 2020") and bare years, the least specific last."""
    ci = re.IGNORECASE

    def decade(m, _anchor):
        first = int(m["decade"])
        return _year_span(first, first + 9, m.group(0))

    def since(m, anchor):
        if not _is_year(m, "year"):
            return None
        first = int(m["year"]) + (1 if m["word"].lower() in ("nach", "after") else 0)
        end = anchor.isoformat() if anchor else None
        return Period(date(first, 1, 1).isoformat(), end, _strip_lead(m.group(0)))

    def until(m, _anchor):
        if not _is_year(m, "year"):
            return None
        last = int(m["year"]) - (1 if m["word"].lower() in ("vor", "before") else 0)
        return Period(None, date(last, 12, 31).isoformat(), m.group(0))

    def year_only(m, _anchor):
        if not _is_year(m, "year"):
            return None
        number = int(m["year"])
        return _year_span(number, number, m["year"])

    return (
        (
            re.compile(
                r"\b(?:(?:in\s+)?den\s+|the\s+)?(?P<decade>(?:1[89]|20)\d0)(?:er|s)"
                r"(?:(?:\s+|-)jahre[n]?)?\b",
                ci,
            ),
            decade,
        ),
        (
            re.compile(
                rf"\b(?P<word>seit|ab|nach|since|after)\s+(?:(?:de[mn]\s+)?jahre?\s+)?{year}", ci
            ),
            since,
        ),
        (
            re.compile(
                rf"\b(?P<word>bis|vor|before|until|till)\s+(?:(?:zum|dem)\s+)?(?:jahr\s+)?{year}",
                ci,
            ),
            until,
        ),
        (re.compile(rf"(?:\b(?:im|in)\s+(?:jahre?\s+)?)?{year}", ci), year_only),
    )


# --- Relative forms: resolved by dateparser against the anchor --------------------------------

_NUMBER_WORDS = (
    r"\d{1,3}|einer|einem|ein|eins|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|"
    r"zwanzig|dreißig|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty"
)
_UNITS_DE = r"tag(?:e|en)?|woche(?:n)?|monat(?:e|en)?|jahr(?:e|en)?|jahrzehnt(?:e|en)?"
_UNITS_EN = r"days?|weeks?|months?|years?|decades?"
_TENS = {"zwanzig": 20, "dreißig": 30, "twenty": 20, "thirty": 30}


@cache
def _relative_pattern() -> re.Pattern:
    return re.compile(
        rf"\b(?:"
        rf"(?P<last>(?:im\s+|in\s+der\s+|in\s+the\s+|the\s+)?(?P<adj>vorletzte|letzte|"
        rf"vergangene|vorige|last|past|previous)[nmrs]?\s+(?P<unit>woche|monat|jahr|week|month|"
        rf"year)(?:e?s)?)"
        rf"|(?P<prev>im\s+vorjahr|im\s+vormonat|in\s+der\s+vorwoche)"
        rf"|(?P<this>(?:in\s+)?(?:diese[nmrs]?|this)\s+(?P<this_unit>woche|monat|jahr|week|"
        rf"month|year))"
        rf"|(?P<ago>vor\s+(?P<n>{_NUMBER_WORDS})\s+(?P<ago_unit>{_UNITS_DE}))"
        rf"|(?P<en_ago>(?P<en_n>{_NUMBER_WORDS})\s+(?P<en_ago_unit>{_UNITS_EN})\s+ago)"
        rf"|(?P<span>(?:in\s+den|während\s+der|in\s+the|over\s+the|during\s+the)\s+"
        rf"(?:letzten|vergangenen|last|past)\s+(?P<span_n>{_NUMBER_WORDS})\s+"
        rf"(?P<span_unit>{_UNITS_DE}|{_UNITS_EN}))"
        rf"|(?P<day>vorgestern|gestern|day before yesterday|yesterday)"
        rf")\b",
        re.IGNORECASE,
    )


def _parse(phrase: str, anchor: date) -> tuple[date, str] | None:
    """dateparser's reading of a relative phrase at `anchor`: (a day in it, its granularity)."""
    from dateparser.date import DateDataParser

    base = datetime(anchor.year, anchor.month, anchor.day, 12)
    parser = DateDataParser(
        languages=["de", "en"], settings={"PREFER_DATES_FROM": "past", "RELATIVE_BASE": base}
    )
    data = parser.get_date_data(phrase)
    if data is None or data.date_obj is None:
        return None
    return data.date_obj.date(), data.period or "day"


def _unit_period(day: date, unit: str, text: str) -> Period:
    """The calendar year, month, ISO week or day that holds `day`."""
    if unit == "year":
        return _year_span(day.year, day.year, text)
    if unit == "month":
        return _month_span(day.year, day.month, day.month, text)
    if unit == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(monday.isoformat(), (monday + timedelta(days=6)).isoformat(), text)
    return Period(day.isoformat(), day.isoformat(), text)


def _unit(word: str) -> str:
    """ "Jahren" -> "year", "weeks" -> "week", "Jahrzehnt" -> "decade"."""
    word = word.lower()
    for prefix, unit in (
        ("jahrzehnt", "decade"),
        ("decade", "decade"),
        ("jahr", "year"),
        ("year", "year"),
        ("monat", "month"),
        ("month", "month"),
        ("woche", "week"),
        ("week", "week"),
    ):
        if word.startswith(prefix):
            return unit
    return "day"


def _relative(match: re.Match, anchor: date) -> Period | None:
    text = " ".join(match.group(0).split())
    if match["last"] or match["prev"] or match["this"]:
        if match["prev"]:
            unit, steps = _unit(match["prev"].split()[-1][3:]), 1  # "Vorjahr" -> "jahr"
        elif match["this"]:
            unit, steps = _unit(match["this_unit"]), 0
        else:
            unit = _unit(match["unit"])
            steps = 2 if match["adj"].lower() == "vorletzte" else 1
        return _unit_period(_shift(anchor, unit, steps), unit, _strip_lead(text))
    if match["ago"] or match["en_ago"]:
        amount = _int(match["n"] or match["en_n"])
        unit = _unit(match["ago_unit"] or match["en_ago_unit"])
        if amount is None:
            return None
        if unit == "decade":
            unit, amount = "year", amount * 10
        # dateparser reads the phrase as written ("vor zwei Jahren", "two years ago"); digits
        # are the fallback for number words its tables lack ("vor zwanzig Jahren").
        parsed = _parse(text, anchor) or _parse(f"{amount} {unit}s ago", anchor)
        if parsed is None:
            return None
        return _unit_period(parsed[0], parsed[1], text)
    if match["span"]:
        amount = _int(match["span_n"])
        unit = _unit(match["span_unit"])
        if amount is None:
            return None
        if unit == "decade":
            unit, amount = "year", amount * 10
        return Period(_shift(anchor, unit, amount).isoformat(), anchor.isoformat(), text)
    if match["day"]:
        parsed = _parse(text, anchor)
        return None if parsed is None else _unit_period(parsed[0], "day", text)
    return None


def _int(word: str) -> int | None:
    """A count written as digits or as a German/English number word, via dateparser's tables."""
    if word.isdigit():
        return int(word)
    if word.lower() in _TENS:
        return _TENS[word.lower()]
    from dateparser.languages import default_loader

    lowered = word.lower()
    for language in ("de", "en"):
        for rule in default_loader.get_locale(language).info.get("simplifications", []):
            for source, target in rule.items():
                if source == lowered and str(target).isdigit():
                    return int(target)
    return None


def _shift(anchor: date, unit: str, steps: int) -> date:
    """`anchor` moved back by `steps` calendar units (the day clamped to the month's end)."""
    if unit == "day":
        return anchor - timedelta(days=steps)
    if unit == "week":
        return anchor - timedelta(weeks=steps)
    months = steps * (12 if unit == "year" else 1)
    index = anchor.year * 12 + anchor.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


# --- Preferences: what the period and "now" do to a ranking ------------------------------------


def period_boosts(
    period: Period | None, dates: dict[str, str | None], weight: float
) -> dict[str, float]:
    """`weight` for every article (doc_id -> date) inside an absolute period, for a ranking.

    A boost, not a filter: an article outside the period (or undated) still answers when it is
    clearly the better match. "Now" words and no period boost nothing (see `prefer_newest`).
    """
    if period is None or period.present or not weight:
        return {}
    return {doc_id: weight for doc_id, day in dates.items() if period.contains(day)}


def prefer_newest(
    scores: np.ndarray,
    days: Sequence[date | None],
    vectors: np.ndarray,
    margin: float,
    min_similarity: float,
) -> np.ndarray:
    """Scores where a newer alternative ranks just above the older item it supersedes.

    Item j supersedes item i when j's date is later, j scores at most `margin` below i, and their
    vectors (unit length) have cosine >= `min_similarity`: the archive saying the same kind of
    thing at two times ("Der Mindestlohn beträgt 8,50 Euro" / "... 12,41 Euro"). j then gets i's
    score plus a hair (more for a larger time gap), so among near-equal candidates the newest
    comes first and the older one right after it. Undated items neither supersede nor are
    superseded, so an undated archive is ranked exactly as before.
    """
    adjusted = np.array(scores, np.float32, copy=True)
    dated = [i for i, day in enumerate(days) if day is not None]
    if len(dated) < 2 or margin <= 0:
        return adjusted
    similarity = vectors[dated] @ vectors[dated].T
    for a, i in enumerate(dated):
        for b, j in enumerate(dated):
            newer = days[j] > days[i]  # type: ignore[operator]
            if newer and scores[j] >= scores[i] - margin and similarity[a, b] >= min_similarity:
                gap_years = (days[j] - days[i]).days / 365.25  # type: ignore[operator]
                lift = float(scores[i]) + 1e-4 * (1 + min(gap_years, 100) / 10)
                adjusted[j] = max(adjusted[j], lift)
    return adjusted


def day_of(article_date: str | None) -> date | None:
    """The first day an article date stands for, None when undated or unreadable."""
    span = date_span(article_date)
    return None if span is None else span[0]
