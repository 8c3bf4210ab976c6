"""Follow-up detection and resolution (`qa.followup`): pure logic, no model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.errors import InvalidInput
from qa.followup import (
    FOLLOWUP_WEIGHT,
    Context,
    Query,
    Turn,
    content_words,
    context_of,
    entities,
    is_followup,
    mix,
    resolve,
)
from qa.types import Answer, Citation, Snippet

USERS = "Wie viele Nutzer hat WhatsApp?"
USERS_ANSWER = (
    "Angesichts der Größe kommt auch so genug Geld zusammen: Der Dienst hat inzwischen "
    "430 Millionen aktive Nutzer, davon 30 Millionen in Deutschland."
)
FOUNDER_ANSWER = (
    "„Wir hatten von Anfang an das Gefühl, dass wir nicht Werbung auf ein so persönliches Gerät "
    "wie ein Smartphone bringen wollen“, sagte Mitgründer Jan Koum am Montag auf der "
    "Innovationskonferenz DLD in München."
)


@pytest.mark.parametrize(
    "question",
    [
        "Und in Deutschland?",
        "und wie viele nachrichten pro tag?",
        "Aber wann?",
        "Auch in Österreich?",
        "Was ist mit Google?",
        "In Deutschland?",
        "Wann?",
        "Warum?",
        "Wo ist er aufgewachsen?",
        "wo ist er aufgewachsen",
        "Wann hat er das gegründet?",
        "Wann kam seine Familie in die USA?",
        "Wer könnte es kaufen?",
        "Worauf will es sich stattdessen konzentrieren?",
        "Wie alt war er damals?",
        "Wer war sein Rivale?",
        "Welche Übersetzung hat sie beeinflusst?",
        "Wie viel Prozent davon liegt in Brasilien?",
        "Wie viel Öl teilte er den Staaten zu?",
        "Was war seine erste Partitur für die Serie?",
        "Und wie lange sollte die halten?",
        "wo fand die statt?",
        "Wie viele Burgen gibt es dort?",
        "Where did he grow up?",
        "And in Germany?",
    ],
)
def test_followups_are_recognised(question):
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        USERS,
        "wie viele nutzer hat whatsapp",
        "Wer hat WhatsApp mitgegründet?",
        "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
        "In welchem Jahr starb Tesla?",
        # A possessive or pronoun pointing at the question's own subject.
        "Wie finanzierte Tesla seine Arbeit?",
        "Was forderte Luther, nachdem er die obligatorische Beichte abgelehnt hatte?",
        "Wen schlugen die Broncos 2015, um in ihrer Division zu gewinnen?",
        # "gibt es" is no reference; a relative clause's article is no pronoun.
        "Wie viele Menschen gibt es in Berlin?",
        "Wer war der Spieler, der den Ball von Newton eroberte?",
        # The polite "Sie"; an article with an adjective before its noun.
        "Nennen Sie ein Luxussegment von Toyota.",
        "Wer gilt als der erste moderne Geologe?",
        "Was ist mit Normalkräften verbunden?",
        "Wie viele Einwohner hatte Warschau 1901?",
        "How many users does WhatsApp have?",
        "",
    ],
)
def test_self_contained_questions_are_not_followups(question):
    assert not is_followup(question)


def test_content_words_are_the_nouns_and_names():
    assert content_words(USERS) == ["Nutzer", "WhatsApp"]
    assert content_words("Wann kam seine Familie in die USA?") == ["USA"]
    assert content_words("Wo ist er aufgewachsen?") == []
    # Typed in lower case, longer words that are not function words count (verbs too).
    assert content_words("wie viele nutzer hat whatsapp") == ["nutzer", "whatsapp"]


def test_entities_are_names_not_common_nouns():
    names = entities(FOUNDER_ANSWER)
    assert "Jan Koum" in names
    assert "DLD" in names
    assert "München" in names
    for noun in ("Montag", "Innovationskonferenz", "Smartphone", "Gefühl", "Wir"):
        assert noun not in names
    assert len(names) <= 4


def test_entities_skip_what_the_question_already_has():
    assert "Deutschland" in entities(USERS_ANSWER)
    assert "WhatsApp" not in entities("Nutzer von WhatsApp in den USA", exclude=["WhatsApp"])
    assert "USA" in entities("Nutzer von WhatsApp in den USA", exclude=["WhatsApp"])


def test_context_is_the_last_self_contained_question_with_its_answers_names():
    founder = Turn("Wer hat WhatsApp mitgegründet?", (FOUNDER_ANSWER,))
    context = context_of([founder])
    assert context.question == "Wer hat WhatsApp mitgegründet?"
    assert context.terms == ("WhatsApp",)
    assert "Jan Koum" in context.entities
    assert context.text.startswith("Wer hat WhatsApp mitgegründet?")
    assert "Jan Koum" in context.words


def test_a_chain_of_followups_keeps_the_question_that_named_the_subject():
    history = [
        Turn("Wer ist Angela Merkel?", ("Merkel war Bundeskanzlerin.",)),
        Turn(USERS, (USERS_ANSWER,)),
        Turn("Und in Deutschland?", (USERS_ANSWER,)),
        Turn("Und wie viele Nachrichten?", ("Pro Tag werden rund 18 Milliarden verschickt.",)),
    ]
    assert context_of(history).question == USERS
    # A self-contained question later on becomes the new context.
    history.append(Turn("Wo wurde Tesla geboren?", ("Tesla wurde in Smiljan geboren.",)))
    assert context_of(history).question == "Wo wurde Tesla geboren?"


def test_the_first_question_is_the_context_even_when_it_looks_elliptical():
    assert context_of([Turn("Und WhatsApp?")]).question == "Und WhatsApp?"
    assert context_of([]) is None


def test_resolve_uses_history_only_for_followups():
    history = [Turn(USERS, (USERS_ANSWER,))]
    assert resolve("Und in Deutschland?", []) == Query("Und in Deutschland?")
    assert resolve("Wo wurde Tesla geboren?", history) == Query("Wo wurde Tesla geboren?")
    query = resolve("Und in Deutschland?", history)
    assert query.context is not None and query.context.question == USERS


def test_query_text_keeps_the_context_question_when_the_followup_asks_nothing_itself():
    context = Context(USERS, ("Nutzer", "WhatsApp"), ("Deutschland",))
    elliptical = Query("Und in Deutschland?", context)
    assert elliptical.text.startswith("Und in Deutschland?")
    assert "Wie viele Nutzer hat WhatsApp?" in elliptical.text  # "wie viele": a number is wanted
    asking = Query("Wann wurde er geboren?", context)
    assert asking.text == "Wann wurde er geboren? Nutzer WhatsApp Deutschland"
    assert Query("Wo wurde Tesla geboren?").text == "Wo wurde Tesla geboren?"


def test_turns_come_from_answers_and_from_the_api_json():
    citation = Citation(1, "d1", "Titel", None, "a.txt", 0, 10)
    answer = Answer(USERS, False, (Snippet(USERS_ANSWER, 1.2, citation),))
    assert Turn.of(answer) == Turn(USERS, (USERS_ANSWER,))
    assert Turn.from_json({"question": USERS, "answer": answer.to_dict()}) == Turn.of(answer)
    assert Turn.from_json({"question": USERS, "answer": None}) == Turn(USERS)
    assert Turn.from_json({"question": USERS}) == Turn(USERS)
    declined = Answer(USERS, True).to_dict()
    assert Turn.from_json({"question": USERS, "answer": declined}) == Turn(USERS)


@pytest.mark.parametrize(
    "item",
    [
        "Wie viele Nutzer?",
        {"answer": {}},
        {"question": 3, "answer": {}},
        {"question": USERS, "answer": "30 Millionen"},
        {"question": USERS, "answer": {"snippets": "30 Millionen"}},
    ],
)
def test_malformed_history_entries_are_invalid_input(item):
    with pytest.raises(InvalidInput):
        Turn.from_json(item)


def test_mix_weights_the_followup_higher_and_keeps_unit_length():
    q = np.array([1.0, 0.0, 0.0], np.float32)
    c = np.array([0.0, 1.0, 0.0], np.float32)
    v = mix(q, c)
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert v @ q > v @ c > 0
    assert np.isclose(v[0] / v[1], FOLLOWUP_WEIGHT / (1 - FOLLOWUP_WEIGHT))
    assert np.allclose(mix(q, c, weight=1.0), q)
