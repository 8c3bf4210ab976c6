"""Time in questions (`qa.period`): pure, no model, no index."""

from __future__ import annotations

from datetime import date

import pytest

from qa.period import Period, date_span, find_period, newest_date

ANCHOR = date(2025, 1, 2)  # the archive's newest article, a Thursday


def span(question: str, anchor: date | None = ANCHOR) -> tuple[str | None, str | None] | None:
    period = find_period(question, anchor)
    return None if period is None else (period.from_, period.to)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Wie hoch war der Mindestlohn 2015?", ("2015-01-01", "2015-12-31")),
        ("Wie hoch war der Mindestlohn im Jahr 2019?", ("2019-01-01", "2019-12-31")),
        ("Wie viele Menschen kamen 2015 nach Deutschland?", ("2015-01-01", "2015-12-31")),
        ("Wer wurde 2014 Weltmeister?", ("2014-01-01", "2014-12-31")),
        ("Wie hoch war die Inflation im März 2020?", ("2020-03-01", "2020-03-31")),
        ("Wie hoch war die Inflation im Februar 2024?", ("2024-02-01", "2024-02-29")),
        ("Was geschah zwischen 2015 und 2018?", ("2015-01-01", "2018-12-31")),
        ("Wie viel kostete es von 2010 bis 2012?", ("2010-01-01", "2012-12-31")),
        ("Wie entwickelte sich der Preis 2017–2019?", ("2017-01-01", "2019-12-31")),
        ("Was passierte am 3. März 2020?", ("2020-03-03", "2020-03-03")),
        ("Was passierte am 03.03.2020?", ("2020-03-03", "2020-03-03")),
        ("Was passierte am 2020-03-03?", ("2020-03-03", "2020-03-03")),
        ("Wie viele Studierende gab es im Wintersemester 2012/13?", ("2012-01-01", "2013-12-31")),
        ("Wie sank der Umsatz im ersten Quartal 2021?", ("2021-01-01", "2021-03-31")),
        ("Was änderte sich Ende 2019?", ("2019-09-01", "2019-12-31")),
        ("Wie war die Stimmung in den 1990er Jahren?", ("1990-01-01", "1999-12-31")),
        ("Was gilt seit 2019?", ("2019-01-01", "2025-01-02")),
        ("Wie war es vor 2018?", (None, "2017-12-31")),
        ("Wie hoch war der Mindestlohn 2015 und 2024?", ("2015-01-01", "2024-12-31")),
        ("What was the minimum wage in 2016?", ("2016-01-01", "2016-12-31")),
        ("What happened in March 2020?", ("2020-03-01", "2020-03-31")),
        ("What happened on March 3, 2020?", ("2020-03-03", "2020-03-03")),
        ("How did prices change between 2015 and 2018?", ("2015-01-01", "2018-12-31")),
    ],
)
def test_absolute_periods(question, expected):
    assert span(question) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # Relative to the archive's newest date (2025-01-02), not to today.
        ("Wie hoch war der Mindestlohn vor einem Jahr?", ("2024-01-01", "2024-12-31")),
        ("Wie teuer war ein Brief vor zehn Jahren?", ("2015-01-01", "2015-12-31")),
        ("Wie war der Preis vor zwanzig Jahren?", ("2005-01-01", "2005-12-31")),
        ("Was kostete es vor drei Monaten?", ("2024-10-01", "2024-10-31")),
        ("Was geschah letzte Woche in Berlin?", ("2024-12-23", "2024-12-29")),
        ("Was geschah vergangene Woche in Berlin?", ("2024-12-23", "2024-12-29")),
        ("Was kostete die BahnCard letzten Monat?", ("2024-12-01", "2024-12-31")),
        ("Wie hoch war der Leitzins im vergangenen Jahr?", ("2024-01-01", "2024-12-31")),
        ("Wie hoch war der Bafög-Satz letztes Jahr?", ("2024-01-01", "2024-12-31")),
        ("Wie hoch war der Preis im Vorjahr?", ("2024-01-01", "2024-12-31")),
        ("Wie hoch war der Mindestlohn vorletztes Jahr?", ("2023-01-01", "2023-12-31")),
        ("Wie hoch ist der Mindestlohn dieses Jahr?", ("2025-01-01", "2025-12-31")),
        ("Was war gestern?", ("2025-01-01", "2025-01-01")),
        ("Wie war es in den letzten drei Jahren?", ("2022-01-02", "2025-01-02")),
        ("What happened two years ago?", ("2023-01-01", "2023-12-31")),
        ("What happened last week?", ("2024-12-23", "2024-12-29")),
        ("What happened in the past 2 years?", ("2023-01-02", "2025-01-02")),
    ],
)
def test_relative_periods_use_the_archive_anchor(question, expected):
    assert span(question) == expected


@pytest.mark.parametrize(
    "question",
    [
        "Wie hoch ist der Mindestlohn aktuell?",
        "Wie viele Abgeordnete hat der Bundestag derzeit?",
        "Wie hoch ist der Leitzins zurzeit?",
        "Wie viele Einwohner hat Berlin heute?",
        "Wann wurde das Porto zuletzt erhöht?",
        "What is the minimum wage now?",
        "How much does a stamp cost currently?",
    ],
)
def test_present_words_ask_for_the_newest_evidence(question):
    period = find_period(question, ANCHOR)
    assert period is not None and period.present
    assert (period.from_, period.to) == (None, "2025-01-02")
    assert period.contains("2016-03-10") and period.contains("2025-01-02")


@pytest.mark.parametrize(
    "question",
    [
        "Der Konzern verdiente 430 Millionen Euro.",
        "Wie viel kosten 2000 Euro Miete im Jahr?",
        "Über 2000 Menschen demonstrierten in Berlin.",
        "Es kamen 2019 Besucher.",
        "Wie viele Tote gab es vor 2000 Jahren?",
        "Wie alt ist die 1500 Jahre alte Kirche?",
        "Die Fabrik beschäftigt rund 1900 Mitarbeiter.",
        "Der Preis stieg um 2,5 Prozent auf 1.999 Euro.",
        "Wie hoch ist der Mindestlohn?",
        "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
        "More than 2000 people came.",
    ],
)
def test_plain_numbers_and_timeless_questions_name_no_period(question):
    assert find_period(question, ANCHOR) is None


def test_relative_words_need_an_anchor():
    """An undated archive has no "now": relative words are ignored, absolute ones still count."""
    assert find_period("Wie hoch ist der Mindestlohn aktuell?", None) is None
    assert find_period("Wie hoch war der Mindestlohn vor einem Jahr?", None) is None
    assert span("Wie hoch war der Mindestlohn 2019?", None) == ("2019-01-01", "2019-12-31")
    assert span("Was gilt seit 2019?", None) == ("2019-01-01", None)


def test_an_absolute_year_wins_over_a_present_word():
    period = find_period("Wie hoch ist der Mindestlohn 2024 aktuell?", ANCHOR)
    assert period == Period("2024-01-01", "2024-12-31", "2024")


def test_text_is_the_words_that_named_the_period():
    assert find_period("Wie hoch war der Mindestlohn im Jahr 2019?", ANCHOR).text == "2019"
    assert find_period("Wie hoch war die Inflation im März 2020?", ANCHOR).text == "März 2020"
    assert find_period("Was war vor einem Jahr?", ANCHOR).text == "vor einem Jahr"
    assert find_period("Wie hoch ist er aktuell?", ANCHOR).text == "aktuell"


def test_to_dict_is_the_public_json_shape():
    period = find_period("Wie hoch war der Mindestlohn 2019?", ANCHOR)
    assert period.to_dict() == {"from": "2019-01-01", "to": "2019-12-31", "text": "2019"}


@pytest.mark.parametrize(
    ("period", "label"),
    [
        (Period("2019-01-01", "2019-12-31", "2019"), "2019"),
        (Period("2015-01-01", "2018-12-31", "zwischen 2015 und 2018"), "2015–2018"),
        (Period("2020-03-01", "2020-03-31", "März 2020"), "2020-03"),
        (Period("2020-03-03", "2020-03-03", "3. März 2020"), "2020-03-03"),
        (Period("2024-12-23", "2024-12-29", "letzte Woche"), "2024-12-23 – 2024-12-29"),
        (Period(None, "2025-01-02", "aktuell", present=True), "bis 2025-01-02"),
    ],
)
def test_label(period, label):
    assert period.label() == label


@pytest.mark.parametrize(
    ("article_date", "inside"),
    [
        ("2019-06-01", True),
        ("2019-06", True),
        ("2019", True),
        ("2018-12-31", False),
        ("2020-01-01", False),
        (None, False),
        ("gestern", False),
    ],
)
def test_contains_reads_article_date_prefixes(article_date, inside):
    assert Period("2019-01-01", "2019-12-31", "2019").contains(article_date) is inside


def test_date_span_and_newest_date():
    assert date_span("2019") == (date(2019, 1, 1), date(2019, 12, 31))
    assert date_span("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert date_span("2024-02-30") is None
    assert date_span("") is None
    assert newest_date(["2019-05-01", None, "2021", "kein Datum", "2020-12-31"]) == date(
        2021, 12, 31
    )
    assert newest_date([None, ""]) is None


# --- What a period does to a ranking: pure functions on hand-made values ------------------------


def test_period_articles_compares_each_date_at_its_own_precision():
    import numpy as np

    from qa.retrieval import period_articles

    dates = np.array(["2019", "2019-06", "2019-06-30", "2018-12-31", "2020", "", "Mai 2019"])
    inside = period_articles(dates, Period("2019-01-01", "2019-12-31", "2019"))
    assert inside.tolist() == [True, True, True, False, False, False, False]
    june = period_articles(dates, Period("2019-06-15", "2019-06-20", "Mitte Juni 2019"))
    assert june.tolist() == [True, True, False, False, False, False, False]
    open_end = period_articles(dates, Period("2019-07-01", None, "seit Juli 2019"))
    assert open_end.tolist() == [True, False, False, False, True, False, False]


def test_period_boosts_only_articles_inside_an_absolute_period():
    from qa.period import period_boosts

    dates = {"a": "2015-01-02", "b": "2024-01-02", "c": None}
    assert period_boosts(Period("2015-01-01", "2015-12-31", "2015"), dates, 0.2) == {"a": 0.2}
    assert period_boosts(Period(None, "2024-01-02", "aktuell", present=True), dates, 0.2) == {}
    assert period_boosts(None, dates, 0.2) == {}
    assert period_boosts(Period("2015-01-01", "2015-12-31", "2015"), dates, 0.0) == {}


def _unit(*rows):
    import numpy as np

    vectors = np.array(rows, np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_prefer_newest_puts_a_near_equal_newer_alternative_just_above_the_older():
    import numpy as np

    from qa.period import prefer_newest

    scores = np.array([1.80, 1.70, 1.75], np.float32)
    days = [date(2015, 1, 2), date(2024, 1, 2), date(2024, 6, 1)]
    # 0 and 1 say the same kind of thing (cosine ~0.995); 2 is about something else.
    vectors = _unit([1.0, 0.1, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    adjusted = prefer_newest(scores, days, vectors, margin=0.15, min_similarity=0.92)
    order = list(np.argsort(-adjusted, kind="stable"))
    assert order == [1, 0, 2]  # newest alternative first, the older right after it
    assert adjusted[1] - scores[0] < 0.01  # just above, not a jump over unrelated items
    assert adjusted[2] == scores[2]  # the newer but unrelated item is not lifted


def test_prefer_newest_leaves_clear_winners_undated_items_and_off_switch_alone():
    import numpy as np

    from qa.period import prefer_newest

    scores = np.array([1.80, 1.50], np.float32)
    vectors = _unit([1.0, 0.0], [1.0, 0.01])
    days = [date(2015, 1, 2), date(2024, 1, 2)]
    too_far = prefer_newest(scores, days, vectors, margin=0.15, min_similarity=0.92)
    assert too_far.tolist() == scores.tolist()  # 0.3 below: not near-equal
    undated = prefer_newest(np.array([1.8, 1.75], np.float32), [None, None], vectors, 0.15, 0.92)
    assert undated.tolist() == np.array([1.8, 1.75], np.float32).tolist()
    half = prefer_newest(np.array([1.8, 1.75], np.float32), [None, days[1]], vectors, 0.15, 0.92)
    assert half.tolist() == np.array([1.8, 1.75], np.float32).tolist()
    off = prefer_newest(np.array([1.8, 1.75], np.float32), days, vectors, 0.0, 0.92)
    assert off.tolist() == np.array([1.8, 1.75], np.float32).tolist()
