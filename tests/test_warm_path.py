"""The warm question path (issue 17): the int8 first pass of the sentence search finds the
same rows as the exact search, fusion as arrays ranks as `fuse` does, and the spinning encoder
session gives the same vectors as the plain one. Timings stay out of tests (docs/benchmarks.md,
"Encoders")."""

from __future__ import annotations

import numpy as np
import pytest

from qa.retrieval import CoarseRows, Retriever, fuse
from tests.conftest import SEED_QUESTIONS, ranked_hits


def unit_rows(rng, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_coarse_rows_find_the_exact_top_k_or_say_they_cannot():
    rng = np.random.default_rng(7)
    matrix = unit_rows(rng, 6000, 48)
    # Questions near some rows, as real ones are: a clear top and a long tail.
    queries = unit_rows(rng, 40, 48) + 2.0 * matrix[rng.choice(len(matrix), 40)]
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    coarse = CoarseRows(matrix)
    proven = 0
    for query in queries:
        exact = matrix @ query
        found = coarse.search(matrix, query, 20)
        if found is None:
            continue
        proven += 1
        assert len(found) == 20 and len(set(found.tolist())) == 20
        assert np.allclose(np.sort(exact[found])[::-1], np.sort(exact)[::-1][:20])
        assert (np.diff(exact[found]) <= 0).all(), "best first"
    assert proven >= 30
    # Rows closer together than an int8 step cannot be told apart: the exact search must run.
    alike = matrix[0] + 1e-4 * unit_rows(rng, 6000, 48)
    alike /= np.linalg.norm(alike, axis=1, keepdims=True)
    assert CoarseRows(alike).search(alike, alike[0], 20) is None


def test_the_sentence_search_with_the_first_pass_gives_the_same_hits(service, monkeypatch):
    snap = service.snapshot()
    questions = list(SEED_QUESTIONS)
    vectors = snap.embedder.encode_queries(questions)
    exact = Retriever(snap.index, service.settings.candidates, service.settings.fusion)
    expected = exact.search_batch(questions, vectors, 5)
    monkeypatch.setattr(CoarseRows, "MIN_ROWS", 0)
    proofs: list[bool] = []
    prove = CoarseRows.search

    def watched(self, *args, **kwargs):
        found = prove(self, *args, **kwargs)
        proofs.extend(ids is not None for ids in found)
        return found

    monkeypatch.setattr(CoarseRows, "search", watched)
    # Every row scanned proves the best at once; a few rows and an unbeatable margin prove
    # nothing, so the exact search must run.
    for wide, margin, proven in ((1000, CoarseRows.MARGIN, True), (3, 10.0, False)):
        monkeypatch.setattr(CoarseRows, "WIDE", wide)
        monkeypatch.setattr(CoarseRows, "MARGIN", margin)
        quick = Retriever(snap.index, service.settings.candidates, service.settings.fusion)
        quick.prepare()
        assert quick._coarse is not None
        proofs.clear()
        got = quick.search_batch(questions, vectors, 5)
        assert proofs == [proven] * len(questions)
        assert ranked_hits(got) == ranked_hits(expected)


def test_hits_are_ranked_as_fuse_ranks_their_signals(service):
    snap = service.snapshot()
    question = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
    hits = snap.retriever.search_batch([question], snap.embedder.encode_queries([question]), 50)[0]
    w = service.settings.fusion
    fields = ("dense_score", "sentence_score", "lexical_score")
    lists = [[(h.chunk.chunk_id, getattr(h, f)) for h in hits] for f in fields]
    assert len(hits) > 2
    assert fuse(lists, (w.chunk, w.sentence, w.keyword)) == [
        (h.chunk.chunk_id, h.score) for h in hits
    ]


@pytest.fixture(scope="module")
def int8_models(settings):
    from qa.onnx_encoder import OnnxEmbedder

    OnnxEmbedder(models_dir=settings.model_dir).encode_queries(["lädt das Modell"])
    return settings.model_dir


def test_a_question_alone_gets_the_same_vector_on_either_session(int8_models, monkeypatch):
    from qa import cores
    from qa.onnx_encoder import OnnxEmbedder

    questions = ["Wann wurde die Universität gegründet?", "Wie viele Nutzer hat WhatsApp?"]
    monkeypatch.setattr(cores, "cpu_cores", lambda: 2)
    monkeypatch.setattr(cores, "busy_cores", lambda: 0)
    idle = OnnxEmbedder(models_dir=int8_models, threads=2)
    first = idle.encode_queries(questions[:1])
    assert idle._quick is not None, "an idle machine starts on the spinning session"
    monkeypatch.setattr(cores, "busy_cores", lambda: 1)
    busy = OnnxEmbedder(models_dir=int8_models, threads=2)
    assert np.array_equal(busy.encode_queries(questions[:1]), first)
    assert busy._quick is None, "another task running: it starts on the plain one"
    together = busy.encode_queries(questions)  # a batch: the plain session
    for spin in (True, False):  # each session, both questions alone
        session = busy._loaded(spin)
        for q, row in zip(questions, together):
            ids = busy._ids(busy.config["prompts"]["query"] + q)
            assert np.array_equal(busy._one(ids, session), row)


def test_a_question_alone_spins_only_while_the_cores_are_free(int8_models, monkeypatch):
    from qa import cores
    from qa.onnx_encoder import OnnxEmbedder

    monkeypatch.setattr(cores, "cpu_cores", lambda: 2)
    embedder = OnnxEmbedder(models_dir=int8_models, threads=2)
    quick, plain = embedder._loaded(True), embedder._loaded(False)
    monkeypatch.setattr(cores, "busy_cores", lambda: 0)
    assert embedder._run_session(alone=True) is quick
    assert embedder._run_session(alone=False) is plain, "a batch: the plain session"
    fresh = OnnxEmbedder(models_dir=int8_models, threads=2)
    fresh._loaded(True)  # as a preload on an idle machine leaves it
    assert fresh._run_session(alone=False) is fresh._loaded(False), "never a batch on spinning"
    assert fresh._session is not None
    monkeypatch.setattr(cores, "busy_cores", lambda: 1)
    assert embedder._run_session(alone=True) is plain, "another task running"
    one = OnnxEmbedder(models_dir=int8_models, threads=1)
    monkeypatch.setattr(cores, "busy_cores", lambda: 0)
    assert one._run_session(alone=True) is one._loaded(False), "one thread never spins"


def test_a_chain_of_follow_ups_encodes_its_context_once(seed_index, settings):
    from qa.followup import Turn
    from qa.service import QAService

    class Counting:
        """The real encoder, counting the texts it encodes."""

        def __init__(self, inner):
            self.inner, self.texts = inner, []
            self.model_name, self.encoder = inner.model_name, getattr(inner, "encoder", "fp32")

        def encode_queries(self, texts):
            self.texts += list(texts)
            return self.inner.encode_queries(texts)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    plain = QAService(seed_index, settings)
    counted = QAService(seed_index, settings, embedder=Counting(plain.embedder))
    first = "Wie viele Nutzer hat WhatsApp?"
    history = [Turn.of(plain.ask(first))]
    for follow_up in ("Und in Deutschland?", "Und in Indien?", "Und in Brasilien?"):
        answer, context = counted.ask_in_context(follow_up, history)
        assert context is not None and context.question == first
        again, _ = QAService(seed_index, settings).ask_in_context(follow_up, history)
        assert answer == again, "the kept context vector is the one a new encode gives"
        history.append(Turn.of(answer))
    contexts = [t for t in counted.embedder.texts if t.startswith(first)]
    assert len(contexts) == 1, counted.embedder.texts


def test_one_question_loads_one_session(int8_models, monkeypatch):
    from qa import cores
    from qa.onnx_encoder import OnnxEmbedder

    monkeypatch.setattr(cores, "cpu_cores", lambda: 2)
    monkeypatch.setattr(cores, "busy_cores", lambda: 0)
    embedder = OnnxEmbedder(models_dir=int8_models, threads=2)
    embedder._loaded(spin=False)  # as a preload on a busy machine leaves it
    embedder.encode_queries(["Wann wurde die Universität gegründet?"])
    assert embedder._quick is None and not embedder._loading_other, "`qa ask`: one session"
    embedder.encode_queries(["Wie viele Nutzer hat WhatsApp?"])
    assert embedder._loading_other, "a second question: the session it wants loads"


def test_warm_up_loads_both_sessions_and_sentencepiece_only_with_threads(int8_models):
    from qa.onnx_encoder import OnnxEmbedder

    own = OnnxEmbedder(models_dir=int8_models, threads=2)
    own.warm_up()
    assert own._quick is not None and own._session is not None
    server = OnnxEmbedder(models_dir=int8_models, threads=1)  # a chat server's worker
    server.warm_up()
    assert server._quick is None and server._session is not None
    if hasattr(own._tokenizer, "sentencepiece"):  # the Python tokenizer (`qa.unigram`)
        assert own._tokenizer._spm is not None and server._tokenizer._spm is None
    question = "Wann wurde die Universität gegründet?"
    assert np.array_equal(own.encode_queries([question]), server.encode_queries([question]))
