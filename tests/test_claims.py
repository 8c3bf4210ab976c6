"""Claim checking without a model: parts, normalisation, alignment, negation, the verdict rule.

The evidence is the seed corpus's WhatsApp article (taz/dpa), quoted as the reader would.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict

import pytest

from benchmarks.claims import alter, drop_words, reorder
from qa.claims import (
    Check,
    CheckResult,
    Claim,
    Passage,
    check,
    check_passage,
    extract,
    is_common_noun,
    parse_number,
    same_value,
)
from qa.types import Citation

WHATSAPP = (
    "Angesichts der Größe kommt auch so genug Geld zusammen: Der Dienst hat inzwischen "
    "430 Millionen aktive Nutzer, davon 30 Millionen in Deutschland. Pro Tag werden rund "
    "18 Milliarden Nachrichten verschickt – damit dürfte WhatsApp die Größenordnung der "
    "klassischen SMS-Dienste erreicht haben."
)
ADVERTISING = (
    "MÜNCHEN dpa | Der Messaging-Dienst WhatsApp will sich auf Dauer nicht über Werbung "
    "finanzieren."
)
# Where the quoted passage starts in its (imagined) article.
OFFSET = 745


def passage(text: str, date: str | None = "2014-01-20", n: int = 1, doc: str = "d1") -> Passage:
    citation = Citation(
        n, doc, "WhatsApp für die Welt", date, "003.txt", OFFSET, OFFSET + len(text)
    )
    return Passage(text, 1.2, citation)


def part(text: str, kind: str = "number"):
    found = [p for p in extract(text) if p.kind == kind]
    assert found, f"no {kind} in {text!r}"
    return found[0]


# --- Numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [("1.000,5", 1000.5), ("1.000", 1000.0), ("1000", 1000.0), ("3,6", 3.6), ("18", 18.0),
     ("17.786.419", 17786419.0), ("0,039", 0.039), ("5,-", 5.0)],
)  # fmt: skip
def test_german_number_formats(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Es wurden 18 Mrd. Nachrichten verschickt.", "Es wurden 18 Milliarden Nachrichten."),
        ("Der Preis: 1.000 Euro.", "Der Preis: 1000 Euro."),
        ("Die Steuer steigt um 3,6 Cent.", "Die Steuer steigt um 0,036 Euro."),
        ("Die Quote lag bei 2,5 %.", "Die Quote lag bei 2,5 Prozent."),
        ("Es kamen dreißig Millionen Besucher.", "Es kamen 30 Millionen Besucher."),
        ("Es kamen 430 Mio. Besucher.", "Es kamen 430.000.000 Besucher."),
        ("Das kostet 5 Mio. €.", "Das kostet 5 Millionen Euro."),
    ],
)
def test_same_value_after_normalisation(a, b):
    assert same_value(part(a), part(b))
    assert part(a).value[1] == part(b).value[1]


def test_units_and_scale_are_part_of_the_value():
    assert part("Die Steuer steigt um 3,6 Cent.").value == pytest.approx((0.036, "EUR"))
    assert part("Der Umsatz: 2,5 %.").value == (2.5, "%")
    assert not same_value(part("Es waren 18 Millionen."), part("Es waren 18 Milliarden."))
    assert not same_value(part("Sie zahlt 3,6 Cent."), part("Sie zahlt 3,6 Euro."))


def test_hedged_figures_compare_within_five_percent():
    assert same_value(part("Pro Tag rund 18 Milliarden."), part("Pro Tag 18,5 Milliarden."))
    assert not same_value(part("Pro Tag rund 18 Milliarden."), part("Pro Tag 20 Milliarden."))
    assert not same_value(part("Pro Tag 18 Milliarden."), part("Pro Tag 18,5 Milliarden."))


def test_articles_and_decades_are_not_counts():
    assert [p.text for p in extract("Er hatte eine Idee und ein Ziel.")] == []
    assert [p.text for p in extract("Das kostete eine Million Euro.")] == ["eine Million Euro"]
    decade = part("In den 1950er Jahren wuchs die Stadt.", "date")
    assert decade.value == (None, None, None, 1950)


# --- Dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("im März 2014", "im 03.2014", True),
        ("am 12. März 2014", "im März 2014", True),
        ("am 12.03.2014", "am 12. März 2014", True),
        ("am 7. Februar 2016", "on February 7, 2016", True),
        ("im Jahr 2014", "im Jahr 2020", False),
        ("im März 2014", "im April 2014", False),
        ("am 12.03.2014", "am 13.03.2014", False),
    ],
)
def test_dates_normalised(a, b, same):
    assert same_value(part(a, "date"), part(b, "date")) is same


def test_a_bare_year_is_a_date_but_a_count_is_not():
    assert part("Koum kam 1992 in die USA.", "date").value == (1992, None, None, None)
    assert part("Es kamen 2.000 Menschen.").value == (2000.0, "")


# --- Entities ---------------------------------------------------------------------------------


def test_entities_by_capitalisation_skip_common_nouns_and_sentence_starts():
    text = (
        "Mitgründer Jan Koum sagte auf der Innovationskonferenz DLD in München, "
        "dass Facebook zahlt."
    )
    names = [p.text for p in extract(text) if p.kind == "entity"]
    assert names == ["Jan Koum", "DLD", "München", "Facebook"]
    assert [p.text for p in extract("WhatsApp-Nutzer lesen Nachrichten.")] == ["WhatsApp"]
    assert all(is_common_noun(w) for w in ["Nutzern", "Häuser", "Innovationskonferenz"])
    assert not any(is_common_noun(w) for w in ["Deutschland", "München", "Koum"])


def test_offsets_index_the_claim():
    claim = "Laut Koum hat WhatsApp seit März 2014 rund 600 Millionen Nutzer."
    for p in extract(claim):
        assert claim[p.start : p.end] == p.text
    assert [p.kind for p in extract(claim)] == ["entity", "entity", "date", "number"]


# --- Alignment and verdicts on the seed article --------------------------------------------------


def test_whatsapp_600_million_differs_from_430_not_from_30():
    result = check("WhatsApp hat 600 Millionen Nutzer.", [passage(WHATSAPP)])
    assert result.verdict == "contradicted"
    (evidence,) = result.evidence
    number = next(c for c in evidence.checks if c.kind == "number")
    assert number.status == "differs"
    assert number.evidence.text == "430 Millionen"
    # Evidence offsets index the article, like citations.
    assert (
        WHATSAPP[number.evidence.start - OFFSET : number.evidence.end - OFFSET] == "430 Millionen"
    )
    name = next(c for c in evidence.checks if c.kind == "entity")
    assert (name.status, name.evidence.text) == ("match", "WhatsApp")


def test_matching_figures_support():
    assert check("WhatsApp hat 430 Millionen Nutzer.", [passage(WHATSAPP)]).verdict == "supported"
    result = check("Pro Tag werden 18 Mrd. Nachrichten verschickt.", [passage(WHATSAPP)])
    assert result.verdict == "supported"
    assert result.evidence[0].checks[0].evidence.text == "18 Milliarden"


def test_a_figure_qualified_differently_is_not_the_same_thing():
    claim = Claim.parse("In Deutschland hat WhatsApp 30 Millionen Nutzer.")
    checks = check_passage(claim, passage(WHATSAPP)).checks
    number = next(c for c in checks if c.kind == "number")
    assert number.status == "match" and number.evidence.text == "30 Millionen"


def test_unrelated_figures_stay_absent():
    result = check("WhatsApp beschäftigt 50 Ingenieure.", [passage(WHATSAPP)])
    evidence = check_passage(Claim.parse(result.claim), passage(WHATSAPP))
    assert [c.status for c in evidence.checks if c.kind == "number"] == ["absent"]
    assert result.verdict == "not_found" and result.evidence == ()


def test_negation_on_one_side_contradicts():
    claim = "WhatsApp will sich über Werbung finanzieren."
    assert check(claim, [passage(ADVERTISING)]).verdict == "contradicted"
    agrees = "WhatsApp will sich nicht über Werbung finanzieren."
    assert check(agrees, [passage(ADVERTISING)]).verdict == "supported"
    assert not Claim.parse("Das ist nicht nur teuer, sondern auch langsam.").negated


def test_evidence_that_disagrees_with_itself_is_mixed_newest_first():
    later = "WhatsApp hat inzwischen zwei Milliarden aktive Nutzer."
    passages = [passage(WHATSAPP, "2014-01-20", 1, "d1"), passage(later, "2020-02-12", 2, "d2")]
    result = check("WhatsApp hat 430 Millionen Nutzer.", passages)
    assert result.verdict == "mixed"
    assert [e.citation.date for e in result.evidence] == ["2020-02-12", "2014-01-20"]
    assert [e.citation.n for e in result.evidence] == [1, 2]


def test_nothing_to_check_and_nothing_found():
    assert check("Das ist eine gute Sache.", [passage(WHATSAPP)]).verdict == "not_checkable"
    declined = check("WhatsApp hat 600 Millionen Nutzer.", [passage(WHATSAPP)], found=False)
    assert (declined.verdict, declined.evidence) == ("not_found", ())


def test_json_is_the_documented_contract():
    result = check("WhatsApp hat 600 Millionen Nutzer.", [passage(WHATSAPP)])
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {"claim", "verdict", "evidence"}
    (evidence,) = data["evidence"]
    assert set(evidence) == {"text", "score", "citation", "checks"}
    assert set(evidence["citation"]) == set(asdict(result.evidence[0].citation))
    assert {"n", "doc_id", "title", "date", "source", "start", "end"} <= set(evidence["citation"])
    for c in evidence["checks"]:
        assert set(c) == {"kind", "claim", "evidence", "status"}
        assert c["kind"] in ("number", "date", "entity")
        assert set(c["claim"]) == {"text", "start", "end"}
        assert c["evidence"] is None or set(c["evidence"]) == {"text", "start", "end"}
    assert isinstance(result, CheckResult) and isinstance(result.evidence[0].checks[0], Check)


# --- The benchmark's claim makers ----------------------------------------------------------------


def test_altered_figures_differ_and_variants_keep_them():
    rng = random.Random(1)
    sentence = "Der Dienst hatte im Jahr 2014 insgesamt 430.000 aktive Nutzer in Europa."
    for p in [x for x in extract(sentence) if x.kind != "entity"]:
        changed = alter(sentence, p, rng)
        assert changed and changed != sentence
        result = check(changed, [passage(sentence)])
        assert result.verdict == "contradicted", changed
    dropped = drop_words(sentence, rng)
    assert "430.000" in dropped and "2014" in dropped and len(dropped) < len(sentence)
    assert (
        reorder("Im Jahr 2014, sagte er, kam der Dienst.")
        == "Sagte er, kam der Dienst, Im Jahr 2014."
    )
