"""`qa.unigram.QuickPieces` gives SentencePiece's ids for the int8 encoder's tokenizer.

The query path encodes questions with it instead of loading SentencePiece (~0.6 s); a single
differing id would change a question's vector, so every test compares with SentencePiece."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import SEEDS, SHARED, seed_sentences

EDGE_CASES = [
    "",
    " ",
    "   \t\n ",
    "  zwei  Leerzeichen  ",
    "query: Wann wurde die Universität gegründet?",
    "query: Wie hoch ist der Mindestlohn aktuell? ",
    "<mask>",
    "a<mask>b <mask> c",
    "\u3000Ideographic\u3000space",
    "Hallo\u00a0Welt\u2009und\u202fmehr",
    "ﬁnal ﬂott Ⅻ ① ＡＢＣ ｶﾀｶﾅ",
    "e\u0301 a\u0308 Åström",
    "NUL\x00in\x00der\x00Mitte\x00",
    "\x07\x1b[0m Steuerzeichen",
    "Emoji 😀👍🏽 und ZWJ 👨\u200d👩\u200d👧",
    "\ufeffBOM \u200bzero width",
    "𝐌𝐚𝐭𝐡 and \ue000 private use",
    "日本語のテキストと中文文本",
    "Zahlen: 1.234,56 € / 3/4 ½ ² ³",
    "▁bereits▁escaped",
    "x" * 300,
]


def fuzz(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """Random strings over awkward characters, and real texts with awkward insertions."""
    rng = random.Random(seed)
    ranges = [(0, 0x250), (0x2000, 0x2070), (0x3000, 0x3040), (0xFF00, 0xFF70), (0x300, 0x370)]
    alphabet = [chr(c) for a, b in ranges for c in range(a, b)]
    alphabet += ["\U0001f600", "\u200b", "\ufeff", "\u2581", "\ufffd", "\U0001d400", "<mask>"]
    inserts = ["  ", "\t", "\n", " <mask> ", "ﬁ", "①", "Ａ", "\u3000", "\u00a0", "😀", "\u0301"]
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))
        base = rng.choice(texts)
        k = rng.randint(0, len(base))
        out.append(base[:k] + rng.choice(inserts) + base[k:])
    return out


@pytest.fixture(scope="module")
def model_file(settings, tmp_path_factory) -> Path:
    """A copy of the int8 encoder's SentencePiece model (provisioned once per cache), so the
    table is made in a temporary folder."""
    from qa.onnx_export import SPM_FILE, provision_e5_small_int8

    folder = provision_e5_small_int8(settings.model_dir)
    copy = tmp_path_factory.mktemp("spm") / SPM_FILE
    shutil.copy2(folder / SPM_FILE, copy)
    return copy


@pytest.fixture(scope="module")
def both(model_file):
    import sentencepiece

    from qa.unigram import QuickPieces

    quick = QuickPieces.load(model_file)
    assert quick is not None
    return quick, sentencepiece.SentencePieceProcessor(model_file=str(model_file))


def python_ids(quick, text: str) -> list[int]:
    """The Python path alone (`encode` switches to SentencePiece after a while)."""
    return quick.ids(quick.normalize(text))


def assert_same(both, texts) -> None:
    quick, spm = both
    wrong = [t for t in texts if python_ids(quick, t) != spm.encode(t)]
    assert not wrong, f"{len(wrong)} of {len(texts)} differ, e.g. {wrong[:3]!r}"


def seed_texts() -> list[str]:
    """The seed articles' sentences and the start of each article (long inputs)."""
    return seed_sentences() + [p.read_text("utf-8")[:2000] for p in sorted(SEEDS.iterdir())]


def test_edge_cases_and_seed_sentences_match_sentencepiece(both):
    assert_same(both, EDGE_CASES + seed_texts())
    quick, spm = both
    assert python_ids(quick, "ab  <mask>") == spm.encode("ab  <mask>")


def test_random_texts_match_sentencepiece(both):
    texts = fuzz(EDGE_CASES + seed_texts(), 1500)
    assert_same(both, texts)


@pytest.mark.skipif(not (SHARED / "eval").is_dir(), reason="needs ../shared/eval")
def test_eval_questions_and_paragraphs_match_sentencepiece(both):
    texts: list[str] = []
    for path in sorted((SHARED / "eval").glob("*.json"))[:2]:
        for article in json.loads(path.read_text("utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                texts.append(paragraph["context"][:600])
                texts += ["query: " + qa["question"] for qa in paragraph["qas"]]
    assert len(texts) > 500
    assert_same(both, texts[:3000])


def test_special_ids_and_options_are_sentencepiece_s(both):
    quick, spm = both
    assert (quick.bos_id(), quick.eos_id(), quick.unk_id) == (spm.bos_id(), spm.eos_id(), 3)
    for piece in ("▁", "<s>", "</s>", "<pad>", "<unk>", "<mask>", "▁die", "keinpiece", "a\x00"):
        assert quick.piece_to_id(piece) == spm.piece_to_id(piece), piece
    text = "Wann wurde die Universität gegründet?"
    proto = quick.encode(text, return_type="proto")  # answered by SentencePiece itself
    assert [p.id for p in proto.pieces] == spm.encode(text)
    assert [(p.begin, p.end) for p in proto.pieces][0][0] == 0


def test_the_table_is_kept_beside_the_model_and_remade_when_the_model_changes(model_file):
    from qa.unigram import SUFFIX, QuickPieces

    table = model_file.with_name(model_file.name + SUFFIX)
    QuickPieces.load(model_file)
    assert (table / "pieces.npy").is_file()
    made = (table / "flags.json").stat().st_mtime_ns
    QuickPieces.load(model_file)  # reused
    assert (table / "flags.json").stat().st_mtime_ns == made
    later = time.time() + 5
    os.utime(model_file, (later, later))  # the model "changed": the table is made again
    again = QuickPieces.load(model_file)
    flags = json.loads((table / "flags.json").read_text("utf-8"))
    assert flags["stamp"][1] == model_file.stat().st_mtime_ns
    import sentencepiece

    spm = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    assert again.encode("Hallo Welt") == spm.encode("Hallo Welt")
    assert not [p for p in table.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_model_it_cannot_read_is_left_to_sentencepiece(tmp_path):
    from qa.unigram import QuickPieces

    broken = tmp_path / "tokenizer.model"
    broken.write_bytes(b"not a model")
    assert QuickPieces.load(broken) is None


def test_much_encoding_switches_to_sentencepiece_with_the_same_ids(model_file, monkeypatch):
    import qa.unigram

    monkeypatch.setattr(qa.unigram, "SWITCH_AFTER", 0.0)
    quick = qa.unigram.QuickPieces.load(model_file)
    texts = seed_texts()
    first = [quick.encode(t) for t in texts]  # the first starts SentencePiece loading
    deadline = time.monotonic() + 60
    while quick._spm is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert quick._spm is not None
    assert [quick.encode(t) for t in texts] == first


def test_the_int8_encoder_tokenizes_with_it(settings):
    from qa.onnx_encoder import OnnxEmbedder
    from qa.unigram import QuickPieces

    embedder = OnnxEmbedder(models_dir=settings.model_dir)
    assert embedder.config["dimension"] == 384  # loads the tokenizer only
    assert isinstance(embedder._tokenizer, QuickPieces)


def test_a_damaged_table_is_made_again(model_file):
    from qa.unigram import SUFFIX, QuickPieces

    table = model_file.with_name(model_file.name + SUFFIX)
    expected = QuickPieces.load(model_file).encode("Wann wurde die Universität gegründet?")
    (table / "ids.npy").write_bytes(b"")  # as a crash while writing could leave it
    again = QuickPieces.load(model_file)
    assert again is not None
    assert again.encode("Wann wurde die Universität gegründet?") == expected
    assert (table / "ids.npy").stat().st_size > 0
