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

Passages run on `model.onnx`, questions on `query.onnx`: the same model with its FFN output
projections int8 as well (`qa.onnx_export`, step 6), a fifth quicker per question. The index's
vectors never come from it, so it changes no index and no cache.
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
    return cpu_cores()


def cpu_cores() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_cores() -> int:
    """How many other tasks are running right now (runnable, on any core), from the kernel's
    count in `/proc/loadavg` less this thread; 0 where that file does not exist."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


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
        # Sessions by kind, each made on first use (`_loaded`): "passage" (model.onnx, one
        # thread per text), "query" (query.onnx, the same) and "quick" (query.onnx for a
        # question alone on several threads that spin while it runs, `_run_session`). So
        # indexing loads only the first, and `qa ask` and the chat server only query ones.
        self._sessions: dict[str, object] = {}
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
        if not self._sessions:
            self._load_in_background(self._question_kind(alone=True))

    def _load_in_background(self, kind: str) -> None:
        thread = threading.Thread(
            target=self._preload, args=(kind,), name="int8-encoder-load", daemon=True
        )
        thread.start()
        atexit.register(thread.join, PRELOAD_EXIT_WAIT)

    def _preload(self, kind: str) -> None:
        try:
            self._loaded(kind)
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

    def _question_kind(self, alone: bool) -> str:
        """The session a question starts on (`_run_session`): "quick" (spinning) when alone
        with several threads and a free core for each but this one (`busy_cores`), else
        "query"."""
        spin = alone and self.threads > 1 and busy_cores() + self.threads <= cpu_cores()
        return "quick" if spin else "query"

    def _run_session(self, query: bool, alone: bool) -> object:
        """The session a text runs on: "passage" for passages; for questions the spinning one
        for a question alone while the cores are free (`_question_kind`), else the plain one.

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
        if not query:
            return self._loaded("passage")
        if not alone:
            return self._loaded("query")
        kind = self._question_kind(alone)
        other = "query" if kind == "quick" else "quick"
        self._questions_alone += 1
        if kind in self._sessions:
            return self._sessions[kind]
        if other not in self._sessions:
            return self._loaded(kind)
        if self._questions_alone >= 2 and not self._loading_other:
            self._loading_other = True
            self._load_in_background(kind)
        return self._sessions[other]

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
        for kind in ("quick", "query") if self.threads > 1 else ("query",):
            self._one(ids, self._loaded(kind))  # the first run also pays for its buffers

    def _loaded(self, kind: str):
        """The session of `kind` ("passage", "query", "quick"), made once, whichever thread
        comes first."""
        self._common()
        if kind not in self._sessions:
            with self._load_lock:
                if kind not in self._sessions:
                    self._sessions[kind] = self._new_session(self._folder, kind)
        return self._sessions[kind]

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

    def _new_session(self, folder: Path, kind: str):
        import onnxruntime as ort

        spin = kind == "quick"
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
            if kind == "passage":
                path = folder / "model.onnx"
            else:
                from qa.onnx_export import provision_query_model

                path = provision_query_model(folder)  # made once, for a folder from before it
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
        session = self._run_session(query, alone=query and len(texts) == 1)
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
        (`qa.phrase`) reads them, from the passage model it was fitted on."""
        session = self._run_session(query=False, alone=True)
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
