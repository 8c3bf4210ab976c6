"""Texts -> vectors with the int8 encoder, through ONNX Runtime and SentencePiece only.

The query path (`qa ask`, `qa chat`, `qa check`, `qa serve`) uses this when the index was built
with `--encoder int8`: no torch, no sentence-transformers, no transformers is imported, so a new
process starts fast and holds a fraction of the memory. Tokens come from SentencePiece (the same
vocabulary and ids as `tokenizer.json`, see `qa.onnx_export.write_sentencepiece`): `tokenizers`
needs 282 MB for this 250k-piece vocabulary, SentencePiece 55 MB. Same interface as
`qa.embedding.Embedder`; the model folder is built once by `qa.onnx_export`.

Every text runs through the model alone. The int8 model quantises activations with one scale
per tensor, and a padded batch would be one tensor: the same sentence would get a different
vector in a different batch, which would break the embedding cache and `qa eval` = `qa ask`.
Alone, the scale is the text's own. Texts of one call still run in parallel, one per thread.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_MODEL
from qa.errors import EmbeddingError, QAError

# Seconds an exiting process waits for a background encoder load (`OnnxEmbedder.preload`): ~1 s
# normally, minutes only when the int8 model is being made for the first time.
PRELOAD_EXIT_WAIT = 300.0


def default_threads() -> int:
    """`OMP_NUM_THREADS` when set (the chat server sets 1: its answer workers, one per core,
    are the parallelism, `qa.serving.limit_threads`), else one thread per core."""
    if (value := os.environ.get("OMP_NUM_THREADS", "")).isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class OnnxEmbedder:
    """The int8 multilingual-e5-small: e5 prompts, mean pooling, unit vectors."""

    encoder = "int8"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        models_dir: Path | None = None,
        batch_size: int = 32,
        threads: int | None = None,
    ):
        if model != DEFAULT_MODEL:
            raise EmbeddingError(
                f"the int8 encoder exists only for the default model {DEFAULT_MODEL!r}, not "
                f"{model!r}: use `--encoder fp32` with other models"
            )
        self.model_name = model
        self.models_dir = models_dir
        self.batch_size = batch_size  # texts per cache commit (`embed_with_cache`)
        self.threads = threads or default_threads()
        self._session = None
        self._tokenizer = None
        self._config: dict | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._load_lock = threading.Lock()

    def preload(self) -> None:
        """Start loading the tokenizer and the ONNX session in a background thread.

        Both release the GIL while they work (~1 s of CPU, most of it SentencePiece building its
        250k-piece vocabulary), so a new process loads the index on the other core meanwhile
        (`QAService.snapshot`); the first encode waits for the load. A failed load is left for
        that encode to retry, so its error reaches the caller.

        A process that ends while the session is being built (a declined question or a refused
        filter needs no encoder) aborts in ONNX Runtime's C++ teardown ("terminate called
        without an active exception", exit status 134): exiting waits for the load to end."""
        if self._session is None:
            thread = threading.Thread(target=self._preload, name="int8-encoder-load", daemon=True)
            thread.start()
            atexit.register(thread.join, PRELOAD_EXIT_WAIT)

    def _preload(self) -> None:
        try:
            self._ready()
        except (QAError, OSError):  # the first encode loads again and raises it there
            pass

    def _ready(self) -> None:
        """Load on first use, once, whichever thread comes first."""
        if self._session is None:
            with self._load_lock:
                if self._session is None:
                    self._load()

    def _load(self) -> None:
        if self.models_dir is None:
            raise EmbeddingError("the int8 encoder needs a models folder to provision into")
        from qa.onnx_export import DATA_FILE, SPM_FILE, int8_folder

        folder = int8_folder(self.models_dir)
        if not ((folder / SPM_FILE).exists() and (folder / DATA_FILE).exists()):
            from qa.onnx_export import provision_e5_small_int8  # torch: only this once

            folder = provision_e5_small_int8(self.models_dir)
        import onnxruntime as ort
        import sentencepiece

        config = json.loads((folder / "encoder.json").read_text("utf-8"))
        options = ort.SessionOptions()
        # `threads` per run (1 in the chat server, whose answer workers are the parallelism;
        # else one per core): a question alone then uses both cores of an idle machine, while
        # the texts of a batch also run in parallel over texts (`_encode`). Measured on the
        # shared 2-core machine (docs/benchmarks.md "Encoders").
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle threads must not spin: numpy, BM25 and the other requests need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

        # ORT raises its own kinds, none of them below RuntimeError.
        ort_errors = tuple(
            getattr(ort_state, name)
            for name in (
                "Fail",
                "InvalidProtobuf",
                "InvalidGraph",
                "NoSuchFile",
                "RuntimeException",
                "InvalidArgument",
            )
        )
        try:
            session = ort.InferenceSession(
                str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(folder / SPM_FILE))
        except (OSError, ValueError, RuntimeError, *ort_errors) as err:  # mean "rebuild it"
            raise EmbeddingError(
                f"cannot load the int8 encoder from {folder} ({err}): delete that folder and "
                "run `qa index` again to rebuild it"
            ) from err
        self._special = (tokenizer.bos_id(), tokenizer.eos_id(), tokenizer.piece_to_id("▁"))
        self._config, self._tokenizer, self._session = config, tokenizer, session

    @property
    def config(self) -> dict:
        self._ready()
        return self._config

    @property
    def dimension(self) -> int:
        return int(self.config["dimension"])

    def passage_prefix(self) -> str:
        return self.config["prompts"]["passage"]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.config["prompts"]["query"])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prefix())

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), np.float32)
        if not texts:
            return out
        ids = [self._ids(prefix + t) for t in texts]
        if len(ids) == 1 or self.threads == 1:
            vectors = map(self._one, ids)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="int8-encoder")
            vectors = self._pool.map(self._one, ids)
        for row, vector in enumerate(vectors):
            out[row] = vector
        return out

    def _ids(self, text: str) -> np.ndarray:
        """Token ids as `tokenizer.json` gives them: `<s>`, pieces, `</s>`, at most 512."""
        bos, eos, space = self._special
        pieces = self._tokenizer.encode(text)
        if text[-1:].isspace() and not text.isspace():
            pieces.append(space)  # `tokenizers` keeps one trailing "▁"; SentencePiece strips it
        pieces = pieces[: self.config["max_tokens"] - 2]
        return np.asarray([bos, *pieces, eos], np.int64)[None, :]

    def _one(self, ids: np.ndarray) -> np.ndarray:
        """One text's unit vector: the mean of its token states (no padding: it runs alone)."""
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        vector = hidden[0][0].mean(axis=0)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def token_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The last hidden state of every piece of `text` (no prompt added, no pooling) and
        each piece's `(begin, end)` character offsets in `text`: the answer-phrase head
        (`qa.phrase`) reads them. The index's vectors are untouched (`_one` pools the same run)."""
        self._ready()
        bos, eos, _ = self._special
        pieces = self._tokenizer.encode(text, return_type="proto").pieces
        pieces = pieces[: self.config["max_tokens"] - 2]
        ids = np.asarray([bos, *(p.id for p in pieces), eos], np.int64)[None, :]
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        # SentencePiece counts UTF-8 bytes; map them to characters.
        char_at = np.zeros(len(text.encode("utf-8")) + 1, np.int64)
        position = 0
        for k, ch in enumerate(text):
            size = len(ch.encode("utf-8"))
            char_at[position : position + size] = k
            position += size
        char_at[position] = len(text)
        offsets = np.asarray([(p.begin, p.end) for p in pieces], np.int64).reshape(-1, 2)
        return hidden[0][0][1:-1], char_at[offsets]
