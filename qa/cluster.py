"""Embedding on a Ray cluster: `qa index --ray [ADDRESS]`.

Indexing is bound by the encoder, so that is the part spread over the cluster. The driver reads
the corpus and splits it into sentences and chunks exactly as a single-process build does, looks
every sentence up in the embedding cache, and hands only the missing ones to Ray Data; each
worker loads the encoder once (a callable class in `map_batches`) and encodes its blocks. The
driver commits the vectors to the cache block by block as they come back (so a killed run
resumes, and the next incremental run reuses them) and writes the index exactly as
`build_index` does. Vectors therefore agree with a single-process build to float rounding.

Ray is an optional extra (`pip install -e '.[cluster]'`); nothing imports this module unless
`--ray` is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from qa.errors import IndexUnavailable

BLOCK = 256  # texts per Ray block and per encoder call on a worker


class _Encoder:
    """One per Ray worker: loads the model once, then encodes the batches it is given."""

    def __init__(
        self, model: str, models_dir: str, batch_size: int, threads: int, encoder: str = "fp32"
    ):
        if encoder == "int8":  # one text per run: the same vectors as a single-process build
            from qa.onnx_encoder import OnnxEmbedder

            self.embedder = OnnxEmbedder(model, Path(models_dir), batch_size, threads=threads)
            return
        import torch

        from qa.embedding import Embedder

        torch.set_num_threads(threads)
        self.embedder = Embedder(model, Path(models_dir), batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode_passages([str(t) for t in batch["text"]])
        return {"position": batch["position"], "vector": vectors}


def connect(address: str | None, workers: int | None = None) -> None:
    """Join the Ray cluster at `address` (`auto`, `ray://host:port`), or start a local one."""
    try:
        import ray
    except ImportError as err:
        raise IndexUnavailable(
            "--ray needs Ray: install the cluster extra (`pip install -e '.[cluster]'`)"
        ) from err
    if ray.is_initialized():
        return
    options = {"log_to_driver": False, "include_dashboard": False, "logging_level": "ERROR"}
    if address in (None, "", "local"):
        # Ray starts its workers at niceness 15, so on a busy machine the encoders got a
        # fraction of the CPU a single-process build gets; ours are the job, not background.
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=workers or os.cpu_count(), **options)
    else:
        ray.init(address=address, **options)
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


class RayEmbedder:
    """Stands in for `Embedder` in `build_index`: passages are encoded by Ray workers.

    `stream_passages` yields `(positions, vectors)` per finished block, which
    `embed_with_cache` commits to the cache as they arrive.
    """

    def __init__(
        self,
        model: str,
        models_dir: Path,
        batch_size: int = 32,
        workers: int | None = None,
        threads_per_worker: int = 1,
        encoder: str = "fp32",
    ):
        from qa.embedding import resolve_encoder

        self.encoder = resolve_encoder(model, encoder)
        self.model_name = model
        self.models_dir = models_dir
        self.batch_size = batch_size
        self.workers = workers
        self.threads = threads_per_worker
        self._dimension: int | None = None

    def _pool_size(self) -> int:
        import ray

        if self.workers:
            return self.workers
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, cpus // self.threads)

    def stream_passages(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import ray

        if not texts:
            return
        items = [{"position": i, "text": t} for i, t in enumerate(texts)]
        blocks = max(1, -(-len(items) // BLOCK))
        size = min(self._pool_size(), blocks)
        dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            _Encoder,
            fn_constructor_kwargs={
                "model": self.model_name,
                "models_dir": str(self.models_dir),
                "batch_size": self.batch_size,
                "threads": self.threads,
                "encoder": self.encoder,
            },
            batch_size=BLOCK,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=size),
            num_cpus=self.threads,
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            vectors = np.asarray(np.stack(batch["vector"]), dtype=np.float32)
            self._dimension = vectors.shape[1]
            yield np.asarray(batch["position"], dtype=np.int64), vectors

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """All vectors in order (for callers that do not stream)."""
        out: np.ndarray | None = None
        for positions, vectors in self.stream_passages(texts):
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), np.float32)
            out[positions] = vectors
        return out if out is not None else np.zeros((0, self.dimension), np.float32)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            from qa.embedding import load_embedder

            self._dimension = load_embedder(
                self.model_name, self.encoder, self.models_dir
            ).dimension
        return self._dimension
