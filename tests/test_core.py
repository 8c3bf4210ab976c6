"""Pure logic of the pipeline, with a tiny deterministic embedder instead of the model.

These run in milliseconds; the real-model tests (test_pipeline.py) check the same path end to end.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from qa.chunking import Chunker, sentence_spans
from qa.errors import IndexUnavailable, InvalidFilter, InvalidInput
from qa.index import CURRENT, SearchIndex, build_index, length_weighted_mean, live_version
from qa.retrieval import Filters, fuse
from qa.service import QAService, clean_question
from qa.types import Article

WHATSAPP = (
    "WhatsApp wurde 2009 von Jan Koum und Brian Acton gegründet. Der Dienst hat weltweit "
    "430 Millionen aktive Nutzer, davon 30 Millionen in Deutschland. Pro Tag werden rund 18 "
    "Milliarden Nachrichten verschickt. Facebook kaufte das Unternehmen am 19. Februar 2014."
)
WEATHER = (
    "In Hamburg regnete es am Montag den ganzen Tag. Die Temperaturen lagen bei zwölf Grad. "
    "Für das Wochenende erwarten die Meteorologen Sonne an der Küste."
)


def articles() -> list[Article]:
    return [
        Article("a1", "WhatsApp wächst", "2014-02-20", "whatsapp.txt", WHATSAPP),
        Article("a2", "Wetter im Norden", "2020-05-04", "wetter/hamburg.txt", WEATHER),
    ]


@pytest.fixture()
def pure_index(tmp_path, pure_settings, hash_embedder) -> Path:
    index_dir = tmp_path / "index"
    build_index(articles(), index_dir, pure_settings, hash_embedder)
    return index_dir


@pytest.fixture()
def pure_service(pure_index, pure_settings, hash_embedder) -> QAService:
    return QAService(pure_index, pure_settings, embedder=hash_embedder)


# --- fusion and filters --------------------------------------------------------------------------


def test_fuse_weights_scores_and_counts_a_missing_score_as_zero():
    fused = fuse([[(1, 0.9), (2, 0.5)], [(2, 1.0)]], [1.0, 0.5])
    assert fused == [(2, 1.0), (1, 0.9)]


def test_fuse_breaks_ties_by_id():
    assert fuse([[(7, 0.5), (3, 0.5)]], [1.0]) == [(3, 0.5), (7, 0.5)]


@pytest.mark.parametrize(
    "date_from, date_to",
    [("2019", "2020"), ("2019-03", None), (None, "2020-02-29"), ("2020", "2020-06"), ("", " ")],
)
def test_filters_accept_iso_prefixes(date_from, date_to):
    filters = Filters.parse(date_from, date_to, ["wetter/"])
    assert filters.sources == ("wetter/",)


@pytest.mark.parametrize(
    "date_from, date_to, message",
    [
        ("2020-13-45", None, "not a date"),
        ("gestern", None, "YYYY-MM-DD"),
        (None, "2021-02-29", "not a date"),
        ("2021", "2020", "reversed"),
        ("2020-06-02", "2020-06-01", "reversed"),
    ],
)
def test_filters_refuse_impossible_dates_and_reversed_ranges(date_from, date_to, message):
    with pytest.raises(InvalidFilter, match=message):
        Filters.parse(date_from, date_to)


def test_filters_allow_by_date_prefix_source_and_publisher():
    filters = Filters.parse("2020", "2020-05", ["wetter/"])
    assert filters.allows("2020-05-04", "wetter/hamburg.txt", None)
    assert not filters.allows("2020-06-01", "wetter/hamburg.txt", None)
    assert not filters.allows(None, "wetter/hamburg.txt", None)
    assert Filters.parse(sources=["NDR"]).allows(None, "x.txt", "NDR")


# --- questions -----------------------------------------------------------------------------------


def test_clean_question_strips_control_characters_and_bounds_length():
    assert (
        clean_question("  Wer\x00 hat\n WhatsApp\tgegründet?\x07 ") == "Wer hat WhatsApp gegründet?"
    )
    with pytest.raises(InvalidInput, match="empty"):
        clean_question(" \x00\n ")
    with pytest.raises(InvalidInput, match="at most 2000"):
        clean_question("Wer " * 600)


def test_question_without_letters_or_digits_is_declined_without_search(pure_service):
    answers = pure_service.ask_batch(["?!?", "🙂🙂", "Wer hat WhatsApp gegründet?"])
    assert [a.abstained for a in answers] == [True, True, False]
    assert answers[0].snippets == () and answers[1].question == "🙂🙂"


# --- chunks and sentences ------------------------------------------------------------------------


def test_chunks_and_sentences_are_exact_spans_of_the_article():
    article = Article("x", "t", None, "x.txt", (WHATSAPP + "\n\n") * 8)
    chunks = Chunker(300, 50).chunk(article)
    assert len(chunks) > 3
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
    assert chunks[0].start == 0 and chunks[-1].end == len(article.text.rstrip())
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start <= a.end + 2, "chunks follow each other and leave no gap"


def test_sentence_spans_keep_ordinals_and_abbreviations_inside_a_sentence():
    text = "Am 19. Februar 2014 kaufte Facebook z.B. WhatsApp. Dr. Koum blieb."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Am 19. Februar 2014 kaufte Facebook z.B. WhatsApp.",
        "Dr. Koum blieb.",
    ]


def test_length_weighted_mean_is_a_unit_vector_leaning_to_the_longer_sentence():
    import numpy as np

    vectors = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    mean = length_weighted_mean(vectors, [30, 10])
    assert abs(float(np.linalg.norm(mean)) - 1.0) < 1e-6 and mean[0] > mean[1]


# --- index ---------------------------------------------------------------------------------------


def test_manifest_and_articles_round_trip(pure_index, hash_embedder):
    index = SearchIndex.load(pure_index)
    assert index.manifest.model == hash_embedder.model_name
    assert index.manifest.articles == 2 and index.manifest.sentences == len(index.sentences)
    assert {a.doc_id: a for a in articles()} == index.articles
    saved = json.loads((live_version(pure_index) / "manifest.json").read_text())
    assert saved["chunks"] == len(index.chunks) == index.chunk_vectors.ntotal
    for s in index.sentences:
        text = index.articles[s.doc_id].text[s.start : s.end]
        assert text == text.strip() and text


def test_missing_index_names_the_command_to_run(tmp_path):
    with pytest.raises(IndexUnavailable, match="qa index"):
        SearchIndex.load(tmp_path / "nothing-here")


# --- answers -------------------------------------------------------------------------------------


def test_answer_quotes_and_cites_the_sentence_exactly(pure_service):
    answer = pure_service.ask("Wie viele Nachrichten werden pro Tag verschickt?")
    assert not answer.abstained
    first = answer.snippets[0]
    assert "18 Milliarden Nachrichten" in first.text
    article = pure_service.article(first.citation.doc_id)
    assert article.text[first.citation.start : first.citation.end] == first.text
    assert len(sentence_spans(first.text)) <= 2


def test_unrelated_question_is_declined(pure_service):
    answer = pure_service.ask("Welche Partei gewann die Kommunalwahl in Bayern?")
    assert answer.abstained and answer.snippets == ()


def test_filters_restrict_the_cited_articles(pure_service):
    question = "Wie war das Wetter in Hamburg am Montag?"
    assert pure_service.ask(question).snippets[0].citation.doc_id == "a2"
    assert pure_service.ask(question, Filters.parse(date_to="2019")).abstained


def test_unknown_article_id_is_a_user_error(pure_service):
    with pytest.raises(InvalidInput, match="no article"):
        pure_service.article("nope")


# --- snapshots across rebuilds -------------------------------------------------------------------


def test_service_switches_to_a_rebuilt_index(pure_index, pure_settings, hash_embedder):
    service = QAService(pure_index, pure_settings, embedder=hash_embedder)
    first = service.snapshot()
    extra = Article("a3", "Bahn", "2021-01-01", "bahn.txt", "Die Bahn fährt ab Montag öfter.")
    build_index([*articles(), extra], pure_index, pure_settings, hash_embedder)
    second = service.snapshot()
    assert second.version != first.version and "a3" in second.index.articles
    assert first.index.articles.keys() == {"a1", "a2"}, "an old snapshot never changes"


def test_reader_retries_when_its_version_folder_vanishes(pure_index, pure_settings, hash_embedder):
    # A rebuild replaces CURRENT and removes the old folder between a reader's two steps.
    old = live_version(pure_index)
    fresh = pure_index / "v-new"
    shutil.copytree(old, fresh)

    real_load = SearchIndex.load.__func__
    calls = []

    def racing_load(cls, index_dir):
        calls.append(1)
        if len(calls) == 1:  # read CURRENT, then lost the race to the rebuild
            (index_dir / CURRENT).write_text("v-new\n")
            shutil.rmtree(old)
            raise IndexUnavailable("the index points at a missing folder")
        return real_load(cls, index_dir)

    service = QAService(pure_index, replace(pure_settings), embedder=hash_embedder)
    SearchIndex.load = classmethod(racing_load)
    try:
        assert service.snapshot().version == "v-new"
    finally:
        SearchIndex.load = classmethod(real_load)
    assert len(calls) == 2 and not os.path.exists(old)
