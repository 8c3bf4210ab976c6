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

from qa import cores
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
    return cores.cpu_cores()


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
        # A second session for a question alone on several threads: its threads spin while it
        # runs (`_run_session`). Made on first use, so indexing and the chat server (one
        # thread) never load it.
        self._quick = None
        self._tokenizer = None
        self._config: dict | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._folder: Path | None = None
        self._loading_other = False
        self._questions_alone = 0
        self._load_lock = threading.RLock()

    def preload(self) -> None:
        """Start loading the tokenizer and the ONNX session in a background thread.

        Both release the GIL while they work (~1 s of CPU, most of it SentencePiece building its
        250k-piece vocabulary), so a new process loads the index on the other core meanwhile
        (`QAService.snapshot`); the first encode waits for the load. A failed load is left for
        that encode to retry, so its error reaches the caller. The session loaded is the one a
        question alone would run on now (`_run_session`).

        A process that ends while the session is being built (a declined question or a refused
        filter needs no encoder) aborts in ONNX Runtime's C++ teardown ("terminate called
        without an active exception", exit status 134): exiting waits for the load to end."""
        if self._session is None and self._quick is None:
            self._load_in_background(self._wants_spin(alone=True))

    def _load_in_background(self, spin: bool) -> None:
        thread = threading.Thread(
            target=self._preload, args=(spin,), name="int8-encoder-load", daemon=True
        )
        thread.start()
        atexit.register(thread.join, PRELOAD_EXIT_WAIT)

    def _preload(self, spin: bool) -> None:
        try:
            self._loaded(spin)
        except (QAError, OSError):  # the first encode loads again and raises it there
            pass

    def _common(self) -> None:
        """The settings and the tokenizer, loaded once, whichever thread comes first."""
        if self._tokenizer is None:
            with self._load_lock:
                if self._tokenizer is None:
                    config, tokenizer, folder = self._load_tokenizer()
                    self._special = (
                        tokenizer.bos_id(),
                        tokenizer.eos_id(),
                        tokenizer.piece_to_id("▁"),
                    )
                    self._config, self._folder, self._tokenizer = config, folder, tokenizer

    def _wants_spin(self, alone: bool) -> bool:
        """Whether a question alone would start on the spinning session (`_run_session`):
        several threads, and a free core for each but this one (`qa.cores`)."""
        return alone and cores.free_cores_for(self.threads)

    def _run_session(self, alone: bool) -> object:
        """The session a text runs on: the spinning one for a question alone while the cores
        are free (`_wants_spin`), else the plain one.

        A session whose threads spin while it runs, and stop when it returns
        (`session.force_spinning_stop`), answered a question in 8.7 instead of 12.3 ms on the
        idle 2-core machine; but with other tasks running, spinning threads wait for each
        other (30 instead of 14 ms at load 4), and batches run a third slower. So it is chosen
        per question from the tasks running at that moment. A session is made on first use:
        a process asked one question (`qa ask`) loads one (the other from its second
        question on), indexing and the chat server (one
        thread per worker) never make the spinning one, and while the other loads in the
        background, the loaded one answers. The same kernels on the same thread count: the
        same vectors either way."""
        if not alone:
            return self._loaded(spin=False)
        spin = self._wants_spin(alone)
        self._questions_alone += 1
        wanted, other = (self._quick, self._session) if spin else (self._session, self._quick)
        if wanted is not None:
            return wanted
        if other is None:
            return self._loaded(spin)
        if self._questions_alone >= 2 and not self._loading_other:
            self._loading_other = True
            self._load_in_background(spin)
        return other

    def warm_up(self) -> None:
        """Load now the sessions a question alone may run on (`_run_session`), rather than
        during the first questions (`QAService.warm_up`).

        With several threads (a process of its own: `qa eval`, benchmarks) also SentencePiece:
        the Python tokenizer that spares a new `qa ask` its load (`qa.unigram`) takes ~1 ms a
        question against 0.1 and switches by itself only after 0.5 s of it. The chat server
        (one thread per worker) keeps it until then: SentencePiece holds 56 MB more."""
        self._common()
        switch = getattr(self._tokenizer, "sentencepiece", None)
        if self.threads > 1 and switch is not None:
            switch()
        ids = self._ids(self.config["prompts"]["query"] + "Wie viele Nutzer hat der Dienst?")
        for spin in (True, False) if self.threads > 1 else (False,):
            self._one(ids, self._loaded(spin))  # the first run also pays for its buffers

    def _loaded(self, spin: bool):
        """The spinning or the plain session, made once, whichever thread comes first."""
        self._common()
        if (self._quick if spin else self._session) is None:
            with self._load_lock:
                if spin and self._quick is None:
                    self._quick = self._new_session(self._folder, spin=True)
                elif not spin and self._session is None:
                    self._session = self._new_session(self._folder, spin=False)
        return self._quick if spin else self._session

    def _load_tokenizer(self):
        """The encoder's settings and the SentencePiece tokenizer, provisioning the model
        folder first if needed; and that folder."""
        if self.models_dir is None:
            raise EmbeddingError("the int8 encoder needs a models folder to provision into")
        from qa.onnx_export import DATA_FILE, SPM_FILE, int8_folder

        folder = int8_folder(self.models_dir)
        if not ((folder / SPM_FILE).exists() and (folder / DATA_FILE).exists()):
            from qa.onnx_export import provision_e5_small_int8  # torch: only this once

            folder = provision_e5_small_int8(self.models_dir)
        from qa.unigram import QuickPieces

        config = json.loads((folder / "encoder.json").read_text("utf-8"))
        try:
            # SentencePiece's ids without its 0.6 s load (`qa.unigram`); SentencePiece itself
            # for a model that module cannot encode exactly.
            tokenizer = QuickPieces.load(folder / SPM_FILE)
            if tokenizer is None:
                import sentencepiece

                tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(folder / SPM_FILE))
        except (OSError, ValueError, RuntimeError) as err:  # mean "rebuild it"
            raise EmbeddingError(
                f"cannot load the int8 encoder from {folder} ({err}): delete that folder and "
                "run `qa index` again to rebuild it"
            ) from err
        return config, tokenizer, folder

    def _new_session(self, folder: Path, spin: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # `threads` per run only for a question alone on free cores (the spinning session);
        # the plain one runs each text on one thread: a batch runs in parallel over texts
        # (`_encode`), 103 instead of 82 passages/s on the idle 2-core machine with two
        # threads per run, and a question on a busy machine gains nothing from a second thread.
        # The vectors are the same on one thread or two (tests/test_warm_path.py).
        options.intra_op_num_threads = self.threads if spin else 1
        options.inter_op_num_threads = 1
        # Idle threads must not spin: numpy, BM25 and the other requests need the cores.
        # Only the session for a question alone spins, and only while it runs (`_run_session`).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if spin:
            options.add_session_config_entry("session.force_spinning_stop", "1")
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
            return ort.InferenceSession(
                str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except (OSError, ValueError, RuntimeError, *ort_errors) as err:  # mean "rebuild it"
            raise EmbeddingError(
                f"cannot load the int8 encoder from {folder} ({err}): delete that folder and "
                "run `qa index` again to rebuild it"
            ) from err

    @property
    def config(self) -> dict:
        self._common()
        return self._config

    @property
    def dimension(self) -> int:
        return int(self.config["dimension"])

    def passage_prefix(self) -> str:
        return self.config["prompts"]["passage"]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.config["prompts"]["query"], query=True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prefix())

    def _encode(self, texts: Sequence[str], prefix: str, query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), np.float32)
        if not texts:
            return out
        session = self._run_session(alone=query and len(texts) == 1)
        ids = [self._ids(prefix + t) for t in texts]
        if len(ids) == 1 or self.threads == 1:
            vectors = (self._one(i, session) for i in ids)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="int8-encoder")
            vectors = self._pool.map(self._one, ids, [session] * len(ids))
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

    def _one(self, ids: np.ndarray, session) -> np.ndarray:
        """One text's unit vector: the mean of its token states (no padding: it runs alone)."""
        hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        vector = hidden[0][0].mean(axis=0)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def token_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The last hidden state of every piece of `text` (no prompt added, no pooling) and
        each piece's `(begin, end)` character offsets in `text`: the answer-phrase head
        (`qa.phrase`) reads them. The index's vectors are untouched (`_one` pools the same run)."""
        session = self._run_session(alone=True)
        bos, eos, _ = self._special
        pieces = self._tokenizer.encode(text, return_type="proto").pieces
        pieces = pieces[: self.config["max_tokens"] - 2]
        ids = np.asarray([bos, *(p.id for p in pieces), eos], np.int64)[None, :]
        hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        return hidden[0][0][1:-1], piece_offsets(text, pieces)


def piece_offsets(text: str, pieces) -> np.ndarray:
    """Each SentencePiece piece's `(begin, end)` in characters of `text`: SentencePiece counts
    UTF-8 bytes."""
    char_at = np.zeros(len(text.encode("utf-8")) + 1, np.int64)
    position = 0
    for k, ch in enumerate(text):
        size = len(ch.encode("utf-8"))
        char_at[position : position + size] = k
        position += size
    char_at[position] = len(text)
    return char_at[np.asarray([(p.begin, p.end) for p in pieces], np.int64).reshape(-1, 2)]
