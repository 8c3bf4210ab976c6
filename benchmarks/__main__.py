"""Speed and memory of Nachrichten-QA, all in one run: `python -m benchmarks [--quick]`.

- indexing efficiency: pipeline chunks/s vs the raw encoder vs the machine's matmul rate
  (`benchmarks.indexing`, in a subprocess that also reports the peak RSS of indexing);
- query latency of warm `QAService.ask` on corpora of ~2k and ~10k chunks of real news plus the
  XQuAD-de paragraphs, asked XQuAD-de questions, with the time split by step;
- FAISS search on 100k and 1M random unit vectors (exact `IndexFlatIP`, and HNSW);
- cold start (process start to the first answer of `qa ask`) and the peak RSS of serving.

Figures go to stdout and, with `--output`, into a Markdown file (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.indexing import matmul_rate
from benchmarks.machine import EVAL_DATA, REPO, describe, load_average, machine_line


def keep_load_section(path: Path, previous: str) -> None:
    """Carry the `benchmarks.load` and `benchmarks.encoders` sections of the old report over
    into the new one."""
    from benchmarks.encoders import SECTION as ENCODERS
    from benchmarks.load import SECTIONS
    from benchmarks.sections import find_section, write_section

    for name in (*SECTIONS, ENCODERS, f"{ENCODERS}-quality"):
        if span := find_section(previous, name):
            write_section(path, name, previous[span[0] : span[1]])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float, digits: int = 1) -> float:
    from qa.eval.metrics import percentile

    return round(percentile(values, q), digits)


# --- Subprocesses: cold start and peak memory ---------------------------------------------------


def run_measured(command: list[str]) -> dict:
    """Run a command; wall seconds to its first stdout line and to its exit; its stdout/stderr."""
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO)
        first_line = proc.stdout.readline()
        first = time.perf_counter() - started
        rest = proc.stdout.read()
        proc.wait()
        total = time.perf_counter() - started
        stderr.seek(0)
        errors = stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed: {errors[-1000:]}")
    return {
        "first_output_seconds": round(first, 2),
        "seconds": round(total, 2),
        "stdout": first_line + rest,
        "stderr": errors,
    }


def bench_indexing(n_chunks: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.indexing", "--chunks", str(n_chunks)]
    log(f"indexing: about {n_chunks} news chunks with an empty embedding cache …")
    result = run_measured(command)
    return json.loads(result["stdout"].strip().splitlines()[-1])


def bench_cold_start(index_dir: Path, question: str, runs: int) -> dict:
    """`qa ask` in a new process (via `benchmarks.peak`, which adds its peak RSS)."""
    from benchmarks.peak import MARKER

    command = [sys.executable, "-m", "benchmarks.peak", "qa", "ask", question]
    command += ["--index", str(index_dir), "--json"]
    results = [run_measured(command) for _ in range(runs)]
    peaks = [
        float(line.removeprefix(MARKER))
        for r in results
        for line in r["stderr"].splitlines()
        if line.startswith(MARKER)
    ]
    return {
        "runs": runs,
        "first_answer_seconds": [r["first_output_seconds"] for r in results],
        "peak_rss_mb": max(peaks),
    }


# --- Query latency, split by step ---------------------------------------------------------------


class StepTimer:
    """Accumulates wall time (and item counts) of chosen methods while patched in."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.items: dict[str, int] = defaultdict(int)

    @contextmanager
    def patched(self, targets: dict[str, tuple[type, str]]):
        originals = []
        for name, (owner, attr) in targets.items():
            original = getattr(owner, attr)
            originals.append((owner, attr, original))
            setattr(owner, attr, self._timed(name, original))
        try:
            yield self
        finally:
            for owner, attr, original in originals:
                setattr(owner, attr, original)

    def _timed(self, name: str, original: Callable) -> Callable:
        def timed(obj, texts, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(obj, texts, *args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.items[name] += len(texts)

        return timed

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)


def corpus_of(news, xquad, n_chunks: int | None, settings):
    """XQuAD-de paragraphs plus news articles (spread over the files) to about `n_chunks`
    (None: all news)."""
    from benchmarks.indexing import pick_articles
    from qa.chunking import Chunker
    from qa.eval.datasets import merge

    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    own = sum(len(chunker.chunk(a)) for a in xquad)
    extra = news if n_chunks is None else pick_articles(news, max(n_chunks - own, 1), settings)
    return merge(xquad, extra)


def bench_latency(
    label: str, articles, questions, settings, embedder, tmp: Path, search_questions=()
) -> dict:
    """Single warm `ask` calls, timed whole and by step. With `search_questions`, also FAISS
    figures on this index's real sentence vectors, queried with those questions' vectors."""
    from qa.answer import Reader
    from qa.embedding import Embedder
    from qa.index import build_index
    from qa.retrieval import Retriever
    from qa.service import QAService

    index_dir = tmp / label
    log(f"latency {label}: indexing {len(articles)} articles (embedding cache in use) …")
    report = build_index(articles, index_dir, settings, embedder)
    service = QAService(index_dir, settings, embedder)
    service.warm_up()
    service.ask(questions[0])  # first question: sentence splitting caches, allocator
    timer = StepTimer()
    steps = {
        "encode_query": (Embedder, "encode_queries"),
        "retrieval": (Retriever, "search_batch"),
        "reader": (Reader, "answer_batch"),
        "reader_encoding": (Embedder, "encode_passages"),
    }
    totals, per_step = [], defaultdict(list)
    log(f"latency {label}: {len(questions)} single questions …")
    with timer.patched(steps):
        for question in questions:
            before = timer.snapshot()
            started = time.perf_counter()
            service.ask(question)
            totals.append((time.perf_counter() - started) * 1000)
            after = timer.snapshot()
            for name in steps:
                per_step[name].append((after.get(name, 0.0) - before.get(name, 0.0)) * 1000)
    if search_questions:
        log(f"faiss: the {label} index's sentence vectors …")
        real = search_figures(
            service.index.sentence_matrix, embedder.encode_queries(search_questions), hnsw=True
        )
        real["data"] = f"sentence vectors of the {label} index, XQuAD-de questions"
    return {
        "faiss_real": real if search_questions else None,
        "corpus": label,
        "articles": len(articles),
        "chunks": report.chunks,
        "questions": len(questions),
        "p50_ms": pct(totals, 50),
        "p95_ms": pct(totals, 95),
        "steps_p50_ms": {name: pct(values, 50) for name, values in per_step.items()},
        "reader_encoded_per_question": round(timer.items["reader_encoding"] / len(questions), 1),
        "index": index_dir,
    }


# --- FAISS --------------------------------------------------------------------------------------


def search_figures(data, query, hnsw: bool, k: int = 10) -> dict:
    """Exact (IndexFlatIP) and HNSW search over `data` for each row of `query`, one per call."""
    import faiss
    import numpy as np

    n, dim = data.shape

    def single(index) -> tuple[list[float], np.ndarray]:
        times, found = [], []
        for i in range(len(query)):
            started = time.perf_counter()
            _, ids = index.search(query[i : i + 1], k)
            times.append((time.perf_counter() - started) * 1000)
            found.append(ids[0])
        return times, np.array(found)

    flat = faiss.IndexFlatIP(dim)
    started = time.perf_counter()
    flat.add(data)
    add_seconds = time.perf_counter() - started
    times, exact = single(flat)
    started = time.perf_counter()
    flat.search(query, k)
    batch_ms = (time.perf_counter() - started) * 1000 / len(query)
    out = {
        "vectors": n,
        "queries": len(query),
        "flat": {
            "add_seconds": round(add_seconds, 2),
            "p50_ms": pct(times, 50, 2),
            "p95_ms": pct(times, 95, 2),
            "batch_ms_per_query": round(batch_ms, 2),
        },
    }
    del flat
    if hnsw:
        log(f"faiss: HNSW (M=32) over {n:,} vectors …")
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        started = time.perf_counter()
        index.add(data)
        build = time.perf_counter() - started
        rows = []
        for ef in (16, 64, 256):
            index.hnsw.efSearch = ef
            times, found = single(index)
            recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact)])
            rows.append(
                {
                    "ef_search": ef,
                    "p50_ms": pct(times, 50, 2),
                    "p95_ms": pct(times, 95, 2),
                    "recall@10": round(float(recall), 3),
                }
            )
        out["hnsw"] = {
            "M": 32,
            "ef_construction": index.hnsw.efConstruction,
            "build_seconds": round(build, 1),
            "search": rows,
        }
    return out


def bench_faiss(n: int, hnsw: bool, dim: int = 384, queries: int = 200) -> dict:
    """Search figures on `n` random unit vectors (seeded), with random unit queries."""
    import numpy as np

    log(f"faiss: {n:,} random unit vectors …")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((n, dim), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    query = rng.standard_normal((queries, dim), dtype=np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    return {"data": "random unit vectors"} | search_figures(data, query, hnsw)


# --- Report -------------------------------------------------------------------------------------


def markdown(results: dict, command: str, seconds: float) -> str:
    info, ix = results["machine"], results["indexing"]
    enc = ix["encoder"]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` ({'quick' if results['quick'] else 'full'} run, "
        f"{seconds / 60:.1f} min) on {info['date']}, commit {info['commit']}.",
        f"Machine: {machine_line(info)}.",
        "",
        "All figures come from one run, so ratios between them hold even on a noisy machine. "
        "They are measurements, not targets, and no test asserts them. Other work on the machine "
        "skews them; as a probe, the fp32 matmul rate (see below) was "
        f"{ix['matmul_gflops_before']:.0f} / {ix['matmul_gflops_after']:.0f} GFLOP/s before / "
        f"after the indexing, {results['probe'][0]:.0f} before the latency runs and "
        f"{results['probe'][1]:.0f} at the end (load average at the start: {results['load']}).",
        "",
        "## Indexing efficiency",
        "",
        f"{ix['chunks']} chunks of {ix['articles']} real news articles (10kGNAD + xglue, spread "
        f"over both files), embedding cache empty, batch size {ix['batch_size']}, one process. "
        f"The pipeline handed the encoder {ix['encoded_texts']:,} texts (sentences; "
        f"{ix['mean_tokens']} tokens each on average) in {ix['encoder_calls']} calls; the raw "
        "rows encode exactly those texts.",
        "",
        "| what | seconds | chunks/s | speed relative to the pipeline |",
        "|---|---:|---:|---:|",
        f"| pipeline: `build_index` (split, embed, cache, FAISS, BM25, write) | "
        f"{ix['pipeline_seconds']:.1f} | {ix['pipeline_chunks_per_second']:.2f} | 1.00 |",
        f"| raw `Embedder.encode_passages`, same texts, one call | "
        f"{ix['raw_one_call_seconds']:.1f} | {ix['raw_one_call_chunks_per_second']:.2f} | "
        f"{1 / ix['pipeline_vs_raw']:.2f} |",
        f"| raw `encode_passages`, same texts, replaying the pipeline's {ix['encoder_calls']} "
        f"calls ({ix['texts_per_call']:.0f} texts each) | {ix['raw_replayed_seconds']:.1f} | "
        f"{ix['raw_replayed_chunks_per_second']:.2f} | {1 / ix['pipeline_vs_raw_replayed']:.2f} |",
        "",
        f"- **Pipeline vs raw encoder: {ix['pipeline_vs_raw']:.2f}** (target >= 0.9); vs the raw "
        f"encoder making the pipeline's own calls: {ix['pipeline_vs_raw_replayed']:.2f} (the rest "
        "of the pipeline: splitting, cache, FAISS, BM25, writing).",
        f"- Padding: sentence-transformers sorts each call's texts by length and pads each batch "
        f"to its longest text. Executed FLOPs exceed the useful ones by "
        f"{ix['padding_overhead_one_call']:.0%} in one call and by "
        f"{ix['padding_overhead_pipeline_calls']:.0%} in the pipeline's calls.",
        f"- Hardware limit: fp32 matmul on the encoder's shapes ([8192, {enc['hidden']}] x "
        f"[{enc['hidden']}, {enc['hidden']}] four times, x [{enc['hidden']}, {enc['ffn']}], "
        f"x [{enc['ffn']}, {enc['hidden']}]) ran at {ix['matmul_gflops_before']:.0f} GFLOP/s "
        f"before and {ix['matmul_gflops_after']:.0f} GFLOP/s after the indexing.",
        f"- Encoder cost: {enc['layers']} layers, {enc['params_non_embedding'] / 1e6:.1f} M "
        f"parameters outside the embeddings; 2 x params + attention (4 x length x hidden x "
        f"layers) per token = {ix['gflop_per_chunk']:.1f} GFLOP per chunk (useful, unpadded).",
        f"- **Achieved share of the matmul rate: pipeline {ix['pipeline_share_of_matmul']:.0%}, "
        f"raw encoder {ix['raw_share_of_matmul']:.0%}** of useful FLOPs; counting the padded "
        f"FLOPs actually executed: pipeline {ix['pipeline_executed_share_of_matmul']:.0%}, raw "
        f"{ix['raw_executed_share_of_matmul']:.0%}.",
        f"- Peak RSS of the indexing process: {ix['peak_rss_mb_indexing']:.0f} MiB.",
        "",
        "## Query latency (warm, in-process `QAService.ask`)",
        "",
        "XQuAD-de paragraphs plus real news articles; XQuAD-de questions spread over the set, "
        "one `ask` each after a warm-up. Steps are the p50 of each step's own time.",
        "",
        "| corpus | chunks | questions | p50 ms | p95 ms | query vector | retrieval | reader | "
        "encoder calls in the reader |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["latency"]:
        s = row["steps_p50_ms"]
        lines.append(
            f"| {row['corpus']} | {row['chunks']:,} | {row['questions']} | {row['p50_ms']:.0f} | "
            f"{row['p95_ms']:.0f} | {s['encode_query']:.0f} | {s['retrieval']:.0f} | "
            f"{s['reader']:.0f} | {row['reader_encoded_per_question']} texts/question |"
        )
    lines += [
        "",
        "## FAISS search (dim 384, k=10, one query per call)",
        "",
        "Exact search is what the index uses; HNSW (M=32) is the option for far larger corpora. "
        "Recall is against exact search.",
        "",
        "| vectors | data | index | build s | p50 ms | p95 ms | recall@10 |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for row in results["faiss"]:
        f = row["flat"]
        lines.append(
            f"| {row['vectors']:,} | {row['data']} | IndexFlatIP (batch of {row['queries']}: "
            f"{f['batch_ms_per_query']:.2f} ms/query) | {f['add_seconds']:.1f} | "
            f"{f['p50_ms']:.2f} | {f['p95_ms']:.2f} | 1.000 |"
        )
        if "hnsw" in row:
            h = row["hnsw"]
            for s in h["search"]:
                lines.append(
                    f"| {row['vectors']:,} | {row['data']} | IndexHNSWFlat efConstruction="
                    f"{h['ef_construction']}, efSearch={s['ef_search']} | {h['build_seconds']:.1f} "
                    f"| {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | {s['recall@10']:.3f} |"
                )
    lines += [
        "",
        "Random vectors have no cluster structure, the hard case for HNSW; the real sentence "
        "vectors show what to expect from the product's own data.",
        "",
        "## Cold start and memory (`qa ask QUESTION --index DIR --json` in a new process)",
        "",
        "Run as `python -m benchmarks.peak qa ask …` (the `qa` entry point plus a report of the "
        "process's own VmHWM).",
        "",
        "| corpus | chunks | process start to first answer, s | peak RSS MiB |",
        "|---|---:|---|---:|",
    ]
    for row in results["cold_start"]:
        runs = ", ".join(f"{s:.1f}" for s in row["first_answer_seconds"])
        lines.append(f"| {row['corpus']} | {row['chunks']:,} | {runs} | {row['peak_rss_mb']:.0f} |")
    lines += [
        "",
        f"Peak RSS while indexing ({ix['chunks']} chunks, model loaded, embedding): "
        f"{ix['peak_rss_mb_indexing']:.0f} MiB.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=summary)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--output", type=Path, help="write the Markdown report here")
    parser.add_argument("--index-chunks", type=int, help="news chunks to index (384; quick 64)")
    parser.add_argument("--questions", type=int, help="questions per latency corpus (40; quick 8)")
    parser.add_argument("--data", type=Path, default=EVAL_DATA, help="folder of the eval data")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    quick = args.quick
    n_index = args.index_chunks or (64 if quick else 384)
    n_questions = args.questions or (8 if quick else 40)
    results: dict = {"machine": describe(), "quick": quick, "load": load_average()}
    results["indexing"] = bench_indexing(n_index)
    shape = results["indexing"]["encoder"]
    results["probe"] = [matmul_rate(shape["hidden"], shape["ffn"])]

    from qa.config import Settings
    from qa.corpus import read_corpus
    from qa.embedding import Embedder
    from qa.eval.datasets import load_dataset, spread

    settings = Settings()
    xquad = load_dataset(args.data / "xquad.de.json")
    news = list(read_corpus(args.data / "news", settings).articles)
    questions = [q.text for q in spread(xquad.questions, n_questions)]
    embedder = Embedder(settings.model, settings.model_dir, settings.batch_size)
    sizes = [("~1k chunks", 1000)] if quick else [("~2k chunks", 2000), ("all 2,028 news", None)]
    results["latency"], results["cold_start"] = [], []
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        search_questions = [q.text for q in spread(xquad.questions, 200)]
        for n, (label, size) in enumerate(sizes, start=1):
            articles = corpus_of(news, xquad.articles, size, settings)
            last = search_questions if n == len(sizes) else ()
            row = bench_latency(label, articles, questions, settings, embedder, Path(tmp), last)
            results["latency"].append(row)
        for row in results["latency"]:
            log(f"cold start: qa ask on {row['corpus']} …")
            cold = bench_cold_start(row.pop("index"), questions[0], 1 if quick else 2)
            results["cold_start"].append({"corpus": row["corpus"], "chunks": row["chunks"]} | cold)
    del embedder
    results["faiss"] = [row.pop("faiss_real") for row in results["latency"]]
    results["faiss"] = [f for f in results["faiss"] if f]
    results["faiss"].append(bench_faiss(100_000, hnsw=True))
    if not quick:
        results["faiss"].append(bench_faiss(1_000_000, hnsw=True))

    results["probe"].append(matmul_rate(shape["hidden"], shape["ffn"]))
    command = "python -m benchmarks" + (" " + shlex.join(argv or sys.argv[1:])).rstrip()
    report = markdown(results, command, time.perf_counter() - started)
    print(report)
    print(json.dumps(results, default=str), flush=True)
    if args.output:
        # The serving-under-load figures come from `benchmarks.load`; keep them.
        previous = args.output.read_text("utf-8") if args.output.exists() else ""
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, "utf-8")
        keep_load_section(args.output, previous)
        log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
