"""What makes the int8 query path start fast and stay small (issue 17), without timing anything:
the same numbers as before each shortcut, and the heavy modules left out.

- BM25 scores of a loaded index come from `qa.lexical.SavedScores` (numpy only), equal to bm25s's;
- the month names of `qa.period` are dateparser's;
- the int8 model's weights sit in `model.onnx.data` (memory-mapped), with the same vectors;
- the encoder can load in the background while the index loads (`QAService` does it);
- `qa serve` imports Gradio without its stub writer.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import REPO


def test_saved_scores_equal_bm25s(seed_index):
    import bm25s

    from qa.index import live_version
    from qa.lexical import Analyzer, KeywordIndex, SavedScores

    folder = live_version(seed_index) / "bm25"
    ours = KeywordIndex.load(folder, Analyzer("german"))
    assert isinstance(ours._retriever, SavedScores)
    theirs = KeywordIndex(
        bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0),
        Analyzer("german"),
    )
    questions = [
        "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
        "Wer hat WhatsApp gegründet und wann?",
        "Nutzer Nutzern Nutzer",  # repeated terms count each time
        "Quokka Zebra",  # nothing in the vocabulary
        "der die das",  # stop words only
    ]
    for question in questions:
        assert np.array_equal(ours.scores(question), theirs.scores(question)), question
    assert ours.scores("WhatsApp").max() > 0
    terms = ["whatsapp", "quokka"]
    assert ours.document_frequency(terms) == theirs.document_frequency(terms)


def test_month_names_are_dateparsers():
    from dateparser.languages import default_loader

    from qa.period import _month_names

    keys = ("january", "february", "march", "april", "may", "june", "july", "august")
    keys += ("september", "october", "november", "december")
    expected: dict[str, int] = {}
    for language in ("de", "en"):
        info = default_loader.get_locale(language).info
        for number, key in enumerate(keys, start=1):
            for name in info.get(key, []):
                expected[name.casefold()] = number
    assert _month_names() == expected


@pytest.fixture(scope="module")
def int8_embedder(settings):
    from qa.embedding import load_embedder

    return load_embedder(settings.model, "int8", settings.model_dir, settings.batch_size)


def test_mapped_weights_give_the_same_vectors(int8_embedder, tmp_path):
    import shutil

    from qa.onnx_encoder import OnnxEmbedder
    from qa.onnx_export import DATA_FILE, INT8_FOLDER_NAME, int8_folder, write_mapped

    texts = ["Wie viele Nachrichten werden pro Tag verschickt?", "Kurz.", "Länger " * 40]
    mapped = int8_embedder.encode_passages(texts)
    folder = int8_folder(int8_embedder.models_dir)
    assert (folder / DATA_FILE).stat().st_size > 50e6 > (folder / "model.onnx").stat().st_size

    # A folder from before the weights were moved out: one self-contained model.onnx.
    import onnx

    old = tmp_path / INT8_FOLDER_NAME
    shutil.copytree(folder, old, ignore=shutil.ignore_patterns(DATA_FILE, "model.onnx"))
    onnx.save_model(onnx.load(str(folder / "model.onnx")), str(old / "model.onnx"))
    assert not (old / DATA_FILE).exists()
    embedded = OnnxEmbedder(int8_embedder.model_name, tmp_path).encode_passages(texts)
    assert np.array_equal(embedded, mapped)
    assert (old / DATA_FILE).exists()  # converted on first load, in place
    write_mapped(old / "model.onnx")  # converting again changes nothing
    again = OnnxEmbedder(int8_embedder.model_name, tmp_path).encode_passages(texts)
    assert np.array_equal(again, mapped)


def test_the_encoder_loads_in_the_background(int8_embedder, settings, tmp_path):
    from qa.cli import run_index
    from qa.onnx_encoder import OnnxEmbedder
    from qa.service import QAService

    fresh = OnnxEmbedder(int8_embedder.model_name, int8_embedder.models_dir)
    fresh.preload()
    vector = fresh.encode_queries(["Wer gründete WhatsApp?"])
    assert np.array_equal(vector, int8_embedder.encode_queries(["Wer gründete WhatsApp?"]))

    from tests.conftest import SEEDS

    index_dir = tmp_path / "index"
    int8 = replace(settings, encoder="int8")
    run_index(SEEDS, index_dir, int8, show_progress=False)
    service = QAService(index_dir, int8)
    service.snapshot()
    assert service._preloaded is service.embedder  # the one loaded beside the index is used
    assert service.ask("Wer gründete WhatsApp?").snippets


def test_gradio_imports_without_writing_stubs():
    code = (
        "from qa.ui.quick_import import skip_gradio_stubs\n"
        "skip_gradio_stubs()\n"
        "import gradio, gradio.component_meta as meta\n"
        "print(meta.create_or_modify_pyi.__name__, gradio.Textbox.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["_no_stub", "Textbox"]
