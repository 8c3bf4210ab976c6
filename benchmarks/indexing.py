"""Indexing efficiency, measured in one process so that the ratios hold on a noisy machine.

    python -m benchmarks.indexing --chunks 384

1. the pipeline: `build_index` on real news with an EMPTY embedding cache (a temporary cache
   folder; only the provisioned model folder is shared). Every text it hands the encoder is
   recorded, call by call (today: each sentence once);
2. the raw encoder: `Embedder.encode_passages` on the very same texts with the same batch size,
   once in a single call and once replaying the pipeline's calls;
3. the machine's fp32 matmul rate on the encoder's own shapes, before and after.

Prints a JSON object as the last line, with the process's peak RSS after the pipeline build.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.machine import EVAL_DATA, peak_rss_mb


def pick_articles(articles, n_chunks: int, settings):
    """Articles spread evenly over `articles` whose chunks add up to about `n_chunks`."""
    from qa.chunking import Chunker
    from qa.eval.datasets import spread

    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    counts = [len(chunker.chunk(a)) for a in articles]
    per_article = sum(counts) / len(counts)
    return spread(articles, max(1, round(n_chunks / per_article)))


def encoder_shape(model) -> dict:
    """Layers, hidden size and parameters outside the embeddings of a sentence-transformers BERT."""
    bert = model[0].auto_model
    config = bert.config
    params = sum(
        p.numel()
        for name, p in bert.named_parameters()
        if not name.startswith(("embeddings.", "pooler."))
    )
    return {
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "ffn": config.intermediate_size,
        "params_non_embedding": params,
    }


def flops(lengths, shape: dict) -> float:
    """Forward FLOPs for sequences of these token lengths: 2*params per token plus attention
    (QK^T and AV: 4 * length * hidden per token and layer)."""
    per_token = 2 * shape["params_non_embedding"]
    attention = 4 * shape["hidden"] * shape["layers"]
    return float(sum(n * (per_token + attention * n) for n in lengths))


def slices(items: list, sizes: list[int]) -> list[list]:
    """`items` cut into consecutive pieces of the given sizes."""
    out, start = [], 0
    for size in sizes:
        out.append(items[start : start + size])
        start += size
    return out


def padded_lengths(char_lengths, token_lengths, batch_size: int, calls: list[int]) -> list[int]:
    """Token lengths as executed: sentence-transformers sorts each call's texts by characters
    (longest first) and pads every batch to its longest member. `calls`: texts per encoder call."""
    out: list[int] = []
    for call in slices(list(zip(char_lengths, token_lengths)), calls):
        ordered = sorted(call, key=lambda item: -item[0])
        for i in range(0, len(ordered), batch_size):
            batch = ordered[i : i + batch_size]
            longest = max(t for _, t in batch)
            out.extend([longest] * len(batch))
    return out


def matmul_rate(hidden: int, ffn: int, rows: int = 8192, seconds: float = 3.0) -> float:
    """fp32 GFLOP/s of one encoder layer's dense matmuls on [rows, hidden] activations."""
    import torch

    with torch.inference_mode():
        x = torch.randn(rows, hidden)
        square = [torch.randn(hidden, hidden) for _ in range(4)]  # Q, K, V, output
        up, down = torch.randn(hidden, ffn), torch.randn(ffn, hidden)
        per_round = 2 * rows * (4 * hidden * hidden + 2 * hidden * ffn)

        def one_round() -> None:
            for w in square:
                x @ w
            (x @ up) @ down

        one_round()
        rounds, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            one_round()
            rounds += 1
        return per_round * rounds / (time.perf_counter() - started) / 1e9


def run(n_chunks: int, news: Path) -> dict:
    from qa.config import Settings
    from qa.corpus import read_corpus
    from qa.embedding import Embedder
    from qa.index import build_index

    base = Settings()
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(base.model_dir.resolve(), target_is_directory=True)
        settings = replace(base, cache_dir=cache)
        everything = read_corpus(news, settings).articles
        articles = pick_articles(everything, n_chunks, settings)

        embedder = Embedder(settings.model, settings.model_dir, settings.batch_size)
        shape = encoder_shape(embedder.model)
        # Warm up threads and allocator on text outside the measured corpus.
        embedder.encode_passages([a.text[:400] for a in everything[-settings.batch_size :]])
        rate_before = matmul_rate(shape["hidden"], shape["ffn"])

        calls: list[list[str]] = []  # every text the pipeline encodes, call by call
        encode = embedder.encode_passages

        def recording(texts):
            calls.append(list(texts))
            return encode(texts)

        embedder.encode_passages = recording
        report = build_index(articles, Path(tmp) / "index", settings, embedder)
        del embedder.encode_passages
        rss_indexing = peak_rss_mb()

        texts = [t for call in calls for t in call]
        started = time.perf_counter()
        embedder.encode_passages(texts)
        raw_one_call = time.perf_counter() - started
        started = time.perf_counter()
        for call in calls:
            embedder.encode_passages(call)
        raw_replayed = time.perf_counter() - started
        rate_after = matmul_rate(shape["hidden"], shape["ffn"])

    model = embedder.model
    prefix = embedder.passage_prefix()
    encoded = model.tokenizer([prefix + t for t in texts])["input_ids"]
    tokens = [min(len(ids), model.max_seq_length) for ids in encoded]
    chars = [len(prefix + t) for t in texts]
    sizes = [len(call) for call in calls]
    useful = flops(tokens, shape)
    padded_one = flops(padded_lengths(chars, tokens, embedder.batch_size, [len(texts)]), shape)
    padded_calls = flops(padded_lengths(chars, tokens, embedder.batch_size, sizes), shape)
    rate = statistics.mean([rate_before, rate_after])
    seconds = report.seconds
    return {
        "articles": len(articles),
        "chunks": report.chunks,
        "encoded_texts": len(texts),
        "embedded": report.embedded,
        "tokens": sum(tokens),
        "mean_tokens": round(sum(tokens) / len(texts), 1),
        "batch_size": embedder.batch_size,
        "encoder_calls": len(calls),
        "texts_per_call": round(len(texts) / max(len(calls), 1), 1),
        "pipeline_seconds": seconds,
        "raw_one_call_seconds": round(raw_one_call, 2),
        "raw_replayed_seconds": round(raw_replayed, 2),
        "pipeline_chunks_per_second": round(report.chunks / seconds, 2),
        "raw_one_call_chunks_per_second": round(report.chunks / raw_one_call, 2),
        "raw_replayed_chunks_per_second": round(report.chunks / raw_replayed, 2),
        "pipeline_vs_raw": round(raw_one_call / seconds, 3),
        "pipeline_vs_raw_replayed": round(raw_replayed / seconds, 3),
        "encoder": shape,
        "gflop_per_chunk": round(useful / report.chunks / 1e9, 2),
        "padding_overhead_one_call": round(padded_one / useful - 1, 3),
        "padding_overhead_pipeline_calls": round(padded_calls / useful - 1, 3),
        "matmul_gflops_before": round(rate_before, 1),
        "matmul_gflops_after": round(rate_after, 1),
        "pipeline_gflops": round(useful / seconds / 1e9, 1),
        "raw_one_call_gflops": round(useful / raw_one_call / 1e9, 1),
        "pipeline_share_of_matmul": round(useful / seconds / 1e9 / rate, 3),
        "raw_share_of_matmul": round(useful / raw_one_call / 1e9 / rate, 3),
        "raw_executed_share_of_matmul": round(padded_one / raw_one_call / 1e9 / rate, 3),
        "pipeline_executed_share_of_matmul": round(padded_calls / seconds / 1e9 / rate, 3),
        "peak_rss_mb_indexing": rss_indexing,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.indexing")
    parser.add_argument("--chunks", type=int, default=384, help="about this many news chunks")
    parser.add_argument("--news", type=Path, default=EVAL_DATA / "news", help="news folder")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.chunks, args.news)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
