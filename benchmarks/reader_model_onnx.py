"""The int8 ONNX runtime path for `benchmarks.fit_reader_model`'s weights: tried, NOT wired in.

The trained reader did not beat the shipped span head on held-apart windows (docs/tuning.md,
"Trained reader model"), so nothing in `qa/` uses this. It is kept as the tested recipe for a
later, better fit: `build` merges the base model (`qa.provision`) with the trained top layers and
head and writes int8 ONNX into the model cache once (`qa.onnx_export`'s steps; needs torch;
about 2 minutes; atomic; one build at a time), and `ReaderOnnx` runs it with ONNX Runtime and
SentencePiece alone (no torch): one run over "query: <question> passage: <window>" per answer,
the same pair as the span head (`qa.phrase.encode_pair`), p50 ~70 ms for a 370-char window on
one thread. Its logits match torch's within int8 noise.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

from qa.errors import EmbeddingError, ProvisionError
from qa.onnx_encoder import default_threads, piece_offsets
from qa.onnx_export import MAX_TOKENS

FOLDER_PREFIX = "reader-model-int8-"
ONNX_FILE = "model.onnx"
MAX_PIECES = 16  # longest answer, in pieces


def weights_id(path: Path) -> str:
    """A short hash of the weights file: a new fit gets a new built folder."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def folder_of(models_dir: Path, path: Path) -> Path:
    return models_dir / f"{FOLDER_PREFIX}{weights_id(path)}"


def build(models_dir: Path, path: Path) -> Path:
    """The int8 ONNX reader in the cache, built once (written aside, renamed into place)."""
    folder = folder_of(models_dir, path)
    if (folder / "reader.json").exists():
        return folder
    from qa.onnx_export import SPM_FILE, _fuse, build_once, write_mapped, write_sentencepiece
    from qa.provision import provision_e5_small

    try:
        import torch  # noqa: F401 - the exporter
    except ImportError as err:
        raise ProvisionError(f"building the reader model needs torch ({err})") from err
    source = provision_e5_small(models_dir)

    def make(staging: Path) -> None:
        config = json.loads((source / "config.json").read_text("utf-8"))
        raw, fused, dynamic = staging / "fp32.onnx", staging / "fused.onnx", staging / "d.onnx"
        _export(source, path, raw)
        _fuse(raw, fused, config)
        raw.unlink()
        _quantize(fused, dynamic, staging / ONNX_FILE)
        write_mapped(staging / ONNX_FILE)
        write_sentencepiece(staging / SPM_FILE)
        report = json.loads(str(np.load(path)["report"]))
        (staging / "reader.json").write_text(
            json.dumps({"weights": weights_id(path), "report": report}, indent=2), "utf-8"
        )

    return build_once(folder, "reader.json", make)


def _quantize(fused: Path, dynamic: Path, final: Path) -> None:
    """`qa.onnx_export`'s recipe (int8 matmuls, FFN output projections fp32, 4-bit word
    embeddings), and the head in fp32 too: its input, the last hidden state, has a few very
    large dimensions, and one int8 scale for the whole tensor blurs the logits."""
    import onnx

    from qa.onnx_export import KEEP_FP32, quantize

    graph = onnx.load(str(fused), load_external_data=False).graph
    keep = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and (KEEP_FP32.search(n.name) or n.name.startswith("/heads/"))
    ]
    quantize(fused, dynamic, final, keep)


def _export(source: Path, weights: Path, path: Path) -> None:
    """The base model with the trained top layers, and the head, traced to ONNX. Output: per
    piece (start, end, answerable); the answerable logit (read on the first token) is repeated
    on every piece, so the passage pieces carry it."""

    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(
        str(source), add_pooling_layer=False, attn_implementation="eager"
    ).eval()
    data = np.load(weights)
    layers = int(data["layers"])
    top = torch.nn.ModuleList(bert.encoder.layer[-layers:])
    top.load_state_dict(
        {
            k[4:]: torch.from_numpy(data[k].astype(np.float32))
            for k in data.files
            if k.startswith("top.")
        }
    )
    heads = torch.nn.Linear(bert.config.hidden_size, 3)
    heads.load_state_dict(
        {
            k[6:]: torch.from_numpy(data[k].astype(np.float32))
            for k in data.files
            if k.startswith("heads.")
        }
    )

    class Reader(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert, self.heads = bert, heads

        def forward(self, input_ids, attention_mask):
            out = self.heads(self.bert(input_ids=input_ids, attention_mask=attention_mask)[0])
            answerable = out[:, :1, 2:3].expand(-1, out.shape[1], 1)
            return torch.cat([out[..., :2], answerable], dim=-1)

    from qa.onnx_export import trace_to_onnx

    trace_to_onnx(Reader(), path)


def best_span(
    window: str, spans: np.ndarray, logits: np.ndarray, max_chars: int = 60
) -> tuple[int, int] | None:
    """`(start, end)` in `window` of the best span (start + end logit of the window's pieces,
    `spans` their character offsets), widened to whole words, never over a sentence end:
    `qa.phrase.best_logit_span`, with this reader's longest span."""
    from qa.phrase import best_logit_span

    return best_logit_span(window, spans, logits, MAX_PIECES, max_chars)


class ReaderOnnx:
    """The built reader on ONNX Runtime and SentencePiece (no torch): loaded on first use."""

    def __init__(self, models_dir: Path, path: Path, threads: int | None = None):
        self.models_dir, self.path = models_dir, path
        self.threads = threads or default_threads()
        self._session = self._tokenizer = None
        self._lock = threading.Lock()

    def _ready(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()

    def _load(self) -> None:
        import onnxruntime as ort
        import sentencepiece

        from qa.onnx_export import SPM_FILE

        try:
            folder = folder_of(self.models_dir, self.path)
            if not (folder / "reader.json").exists():
                folder = build(self.models_dir, self.path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(folder / SPM_FILE))
        except (OSError, ValueError, RuntimeError) as err:  # ORT's own errors are RuntimeErrors
            raise EmbeddingError(
                f"cannot load the reader model ({err}): delete "
                f"{folder_of(self.models_dir, self.path)} to rebuild it"
            ) from err
        self._tokenizer, self._session = tokenizer, session

    def read(self, question: str, window: str) -> tuple[np.ndarray, np.ndarray, float]:
        """One run over "query: <question> passage: <window>": the (start, end) logits of the
        window's pieces, their `(begin, end)` offsets in `window`, and the answerable logit."""
        from qa.phrase import PASSAGE_PROMPT, QUERY_PROMPT

        self._ready()
        head = QUERY_PROMPT + question + PASSAGE_PROMPT
        text = head + window
        pieces = self._tokenizer.encode(text, return_type="proto").pieces[: MAX_TOKENS - 2]
        bos, eos = self._tokenizer.bos_id(), self._tokenizer.eos_id()
        ids = np.asarray([bos, *(p.id for p in pieces), eos], np.int64)[None, :]
        out = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        logits = out[0][0]
        offsets = piece_offsets(text, pieces)
        in_window = offsets[:, 1] > len(head)
        spans = np.clip(offsets[in_window] - len(head), 0, len(window))
        return logits[1:-1][in_window, :2], spans, float(logits[0, 2])

    def answer_span(
        self, question: str, window: str, max_chars: int = 60
    ) -> tuple[int, int] | None:
        logits, spans, _ = self.read(question, window)
        return best_span(window, spans, logits, max_chars)
