"""Scale figures for docs/scaling.md: Ray indexing against one process, and index types at size.

    python -m benchmarks.scale ray single|ray|incremental|compare   # Ray vs one process
    python -m benchmarks.scale ann --base INDEX --sizes 1000000      # exact vs approx
    python -m benchmarks.scale askbuild --base INDEX --size 1000000  # a 1M-sentence index
    python -m benchmarks.scale askrun --index DIR                    # full `ask`, fresh process
    python -m benchmarks.scale big build|search --base INDEX         # 10M vectors, search only

`ray`: 500 news articles (spread over 10kGNAD + xglue) in `--root`, indexed by `run_index` in
this process (`single`) and by `run_index(ray="local")` with 2 local Ray workers (`ray`), each
with an EMPTY embedding cache (only the provisioned model is shared), one phase per command so
that each fits a quiet window. Wall time and the CPU time of every process involved (Ray's
runtime included, `TreeCPU`) are recorded; the local runtime's start is timed on its own.
`incremental` gives a third of the articles one more sentence and updates both indexes;
`compare` checks chunks (must be identical), sentence vectors (cosine) and the answers to
`--questions` questions (article titles).

`ann`: real sentence vectors (from `--base` and `--vectors` embedding caches), repeated with
small Gaussian noise (`NOISE`, calibrated on real text variations) up to each size. Queries are
real question vectors. Reported per size: exact vs approximate recall@10, build time, bytes on
disk and resident memory per vector, search p50/p95.

`askbuild` writes a whole index of ~N sentences (the base articles repeated with a copy number
in title and source, dates spread over 2000-2025) through the product's writer; `askrun` times
full `QAService.ask` on one index with and without a date filter, in a fresh process.

`big`: `build` writes 10M noisy copies block by block into a memory-mapped `.npy` (never all in
RAM), keeps the exact top 10 of the queries on the way, and builds the approximate index;
`search` (timed) loads it and measures search-only latency and recall.

The last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from benchmarks.machine import EVAL_DATA, describe, peak_rss_mb


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values, q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000, q)), 2)


def _tree_ticks() -> dict[int, int]:
    """CPU ticks (utime..cstime) of this process and each of its descendants, from /proc."""
    parent, used = {}, {}
    for entry in Path("/proc").iterdir():
        try:
            text = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if text:
            fields = text[text.rindex(")") + 2 :].split()
            parent[int(entry.name)] = int(fields[1])
            used[int(entry.name)] = sum(int(f) for f in fields[11:15])
    tree, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, ppid in parent.items() if ppid == pid and child not in tree]
    return {pid: used[pid] for pid in tree if pid in used}


class TreeCPU:
    """CPU seconds used by this process and all its descendants while it runs (a local Ray
    runtime: GCS, raylet, agents, workers). Sampled every half second, because Ray reaps its
    workers without adding their time to anyone's. On a shared machine this is the overhead
    figure that waiting for a core does not blur."""

    def __enter__(self) -> TreeCPU:
        import threading

        self._start = _tree_ticks()
        self._last = dict(self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            self._last |= _tree_ticks()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._last |= _tree_ticks()
        ticks = sum(v - self._start.get(pid, 0) for pid, v in self._last.items())
        self.seconds = round(ticks / os.sysconf("SC_CLK_TCK"), 1)


def rss_mb() -> dict[str, float]:
    """Resident memory of this process now: anonymous (heap) and file-backed (mmap) in MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:", "VmRSS:")):
            name, value = line.split(":")
            out[name] = round(int(value.split()[0]) / 1024, 1)
    return out


# --- Ray against one process --------------------------------------------------------------------


def news_articles(n: int, settings):
    from qa.corpus import read_corpus
    from qa.eval.datasets import spread

    return spread(list(read_corpus(EVAL_DATA / "news", settings).articles), n)


def write_corpus(folder: Path, articles) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "news.jsonl").open("w", encoding="utf-8") as out:
        for a in articles:
            out.write(json.dumps({"title": a.title, "text": a.text}, ensure_ascii=False) + "\n")


def empty_cache(root: Path, settings) -> object:
    """Settings whose embedding cache is a new empty folder; the model folder is shared."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "models").exists():
        (root / "models").symlink_to(settings.model_dir.resolve())
    return replace(settings, cache_dir=root)


def timed_index(corpus: Path, index: Path, settings, **kwargs) -> tuple[object, float]:
    from qa.cli import run_index

    started = time.perf_counter()
    report, _ = run_index(corpus, index, settings, show_progress=False, **kwargs)
    return report, time.perf_counter() - started


def answers(index: Path, settings, questions: list[str]) -> list[dict]:
    from qa.service import QAService

    return [a.to_dict() for a in QAService(index, settings).ask_batch(questions)]


def same_answer(a: dict, b: dict) -> bool:
    """Same snippets and citations; scores may differ in float rounding only."""
    if a["abstained"] != b["abstained"] or len(a["snippets"]) != len(b["snippets"]):
        return False
    return all(
        x["text"] == y["text"]
        and x["citation"] == y["citation"]
        and abs(x["score"] - y["score"]) <= 2e-3
        for x, y in zip(a["snippets"], b["snippets"])
    )


RAY_PHASES = ("single", "ray", "incremental", "compare")


def bench_ray(root: Path, phase: str, n_articles: int, n_questions: int, workers: int) -> dict:
    """One phase of the Ray comparison in `root` (kept between phases, so that each timed phase
    fits in its own quiet window): `single` and `ray` build the same corpus with an empty
    embedding cache each; `incremental` changes a third of the articles and updates both
    indexes; `compare` checks chunks, vectors and answers. Figures go to `root/<phase>.json`."""
    from qa.config import Settings
    from qa.eval.datasets import spread
    from qa.index import SearchIndex

    settings = Settings()
    corpus = root / "corpus"
    if not corpus.exists():
        write_corpus(corpus, news_articles(n_articles, settings))
    from qa.corpus import read_corpus

    articles = list(read_corpus(corpus, settings).articles)
    out: dict = {"phase": phase, "articles": len(articles), "workers": workers}
    single_dir, ray_dir = root / "index-single", root / "index-ray"
    caches = {"single": root / "cache-single", "ray": root / "cache-ray"}
    if phase in ("single", "ray"):
        shutil.rmtree(caches[phase], ignore_errors=True)
        shutil.rmtree(root / f"index-{phase}", ignore_errors=True)
    own = {name: empty_cache(path, settings) for name, path in caches.items()}
    if phase == "single":
        log(f"ray: {len(articles)} articles, single process, empty cache …")
        with TreeCPU() as cpu:
            report, seconds = timed_index(corpus, single_dir, own["single"])
        out |= {
            "seconds": round(seconds, 1),
            "cpu_seconds": cpu.seconds,
            "report": asdict(report),
        }
    elif phase == "ray":
        import ray

        from qa.cluster import connect

        log(f"ray: the same through local Ray, {workers} workers, empty cache …")
        with TreeCPU() as cpu:
            started = time.perf_counter()
            connect("local", workers)  # the local runtime's start, timed on its own
            startup = time.perf_counter() - started
            report, seconds = timed_index(corpus, ray_dir, own["ray"], ray="local", workers=workers)
        ray.shutdown()
        out |= {
            "startup_seconds": round(startup, 1),
            "seconds": round(seconds, 1),
            "cpu_seconds": cpu.seconds,
            "report": asdict(report),
        }
    elif phase == "incremental":
        import ray

        from qa.cluster import connect

        log("ray: a third of the articles get one more sentence; both indexes updated …")
        changed = [
            replace(a, text=a.text + f"\n\nAktualisiert: Die Redaktion hat Beitrag {i} ergänzt.")
            if i % 3 == 0
            else a
            for i, a in enumerate(articles)
        ]
        write_corpus(corpus, changed)
        single, single_s = timed_index(corpus, single_dir, own["single"])
        started = time.perf_counter()
        connect("local", workers)
        startup = time.perf_counter() - started
        inc, inc_s = timed_index(corpus, ray_dir, own["ray"], ray="local", workers=workers)
        ray.shutdown()
        out |= {
            "changed_articles": sum(1 for i in range(len(articles)) if i % 3 == 0),
            "single": asdict(single) | {"seconds": round(single_s, 1)},
            "ray": asdict(inc) | {"seconds": round(inc_s, 1), "startup_seconds": round(startup, 1)},
        }
    else:
        one, other = SearchIndex.load(single_dir), SearchIndex.load(ray_dir)
        same_chunks = [(c.doc_id, c.start, c.end) for c in one.chunks] == [
            (c.doc_id, c.start, c.end) for c in other.chunks
        ]
        cosine = np.sum(np.asarray(one.sentence_matrix) * np.asarray(other.sentence_matrix), axis=1)
        questions = [a.title for a in spread(articles, n_questions)]
        a1, a2 = answers(single_dir, settings, questions), answers(ray_dir, settings, questions)
        out |= {
            "sentences": len(one.sentences),
            "chunks": len(one.chunks),
            "identical_chunks": same_chunks,
            "cosine_min": round(float(cosine.min()), 6),
            "cosine_mean": round(float(cosine.mean()), 6),
            "questions": len(questions),
            "same_answers": sum(same_answer(x, y) for x, y in zip(a1, a2)),
            "answered": sum(not a["abstained"] for a in a1),
        }
        timed = {p: json.loads((root / f"{p}.json").read_text()) for p in ("single", "ray")}
        out["cpu_ratio_with_startup"] = round(
            timed["single"]["cpu_seconds"] / timed["ray"]["cpu_seconds"], 3
        )
        if all(timed.values()):
            single_s, ray_s = timed["single"]["seconds"], timed["ray"]["seconds"]
            start_s = timed["ray"]["startup_seconds"]
            out |= {
                "single_articles_per_s": round(len(articles) / single_s, 3),
                "ray_articles_per_s": round(len(articles) / (ray_s + start_s), 3),
                "throughput_ratio_with_startup": round(single_s / (ray_s + start_s), 3),
                "throughput_ratio_running_runtime": round(single_s / ray_s, 3),
            }
    (root / f"{phase}.json").write_text(json.dumps(out, ensure_ascii=False))
    return out


# --- Index types at size ------------------------------------------------------------------------

# Noise norm relative to the unit vector: cosine ~0.979 to the original, as measured for real
# small text variations of news sentences (a word or number changed, a clause added or cut:
# mean cosine 0.979 over 240 variations, int8 encoder; docs/scaling.md).
NOISE = 0.21


def noisy_blocks(base: np.ndarray, n: int, seed: int = 0, block: int = 262_144):
    """`(first row, rows)` blocks of `n` unit vectors: the base rows in turn, each copy after
    the first with Gaussian noise. One block at a time: 10M vectors never sit in memory."""
    rng = np.random.default_rng(seed)
    sigma = NOISE / np.sqrt(base.shape[1])
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        x = base[rows % len(base)].copy()
        noisy = rows >= len(base)
        x[noisy] += sigma * rng.standard_normal((int(noisy.sum()), base.shape[1]), np.float32)
        yield start, x / np.linalg.norm(x, axis=1, keepdims=True)


def noisy_copies(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`noisy_blocks` in one array."""
    out = np.empty((n, base.shape[1]), np.float32)
    for start, x in noisy_blocks(base, n, seed):
        out[start : start + len(x)] = x
    return out


def query_texts(base_index, n: int) -> list[str]:
    """Real questions: XQuAD-de questions and news titles, half each."""
    from qa.eval.datasets import load_dataset, spread

    xquad = [q.text for q in load_dataset(EVAL_DATA / "xquad.de.json").questions]
    titles = [a.title for a in base_index.articles.values()]
    return spread(xquad, n - n // 2) + spread(titles, n // 2)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return round(float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)])), 4)


CPU_TIMES: dict[str, list[float]] = {}


def per_query(fn, queries: np.ndarray, name: str = "") -> tuple[list[float], np.ndarray]:
    """Wall time per query (and CPU time, into `CPU_TIMES[name]`: on a shared machine the wall
    time includes waiting for a core, the CPU time does not)."""
    times, cpu, rows = [], [], []
    for q in queries:
        started, started_cpu = time.perf_counter(), time.process_time()
        rows.append(fn(q[None, :])[0])
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    CPU_TIMES[name] = cpu
    return times, np.stack(rows)


def bench_size(base: np.ndarray, queries: np.ndarray, n: int, folder: Path) -> dict:
    import faiss

    from qa import ann

    log(f"ann: {n:,} vectors …")
    x = noisy_copies(base, n)
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    truth = flat.search(queries, 10)[1]
    exact_times, _ = per_query(lambda q: flat.search(q, 10)[1], queries[:50], "exact")
    flat.reset()
    started = time.perf_counter()
    ann.write(folder, "v", x, "approx")
    build_s = time.perf_counter() - started
    del x
    before = rss_mb()
    index, matrix = ann.read(folder, "v", "approx")
    times, found = per_query(lambda q: ann.search(index, matrix, q, 10), queries, "approx")
    after = rss_mb()
    mask = np.zeros(n, bool)
    mask[int(n * 0.3) : int(n * 0.4)] = True  # a date range: 10% of the rows
    ftimes, ffound = per_query(
        lambda q: ann.search(index, matrix, q, 10, mask), queries, "filtered"
    )
    codes = (folder / "v.faiss").stat().st_size
    return {
        "vectors": n,
        "build_seconds": round(build_s, 1),
        "recall_at_10": recall(found, truth),
        "filtered_rows_allowed": True if ffound.size and mask[ffound[ffound >= 0]].all() else False,
        "approx_p50_ms": pct(times, 50),
        "approx_p95_ms": pct(times, 95),
        "approx_filtered_p50_ms": pct(ftimes, 50),
        "approx_filtered_p95_ms": pct(ftimes, 95),
        "exact_p50_ms": pct(exact_times, 50),
        "exact_p95_ms": pct(exact_times, 95),
        "cpu_p95_ms": {name: pct(values, 95) for name, values in CPU_TIMES.items()},
        "disk_bytes_per_vector_index": round(codes / n, 1),
        "disk_bytes_per_vector_floats": round((folder / "v.npy").stat().st_size / n, 1),
        "rss_after_search_mb": after,
        "rss_before_load_mb": before,
        "nlist": faiss.extract_index_ivf(index).nlist,
        "nprobe_share": ann.NPROBE_SHARE,
    }


def cached_vectors(path: Path) -> np.ndarray:
    """Every vector in an embedding cache (SQLite), as real sentence vectors to repeat."""
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = [np.frombuffer(blob, np.float32) for (blob,) in db.execute("SELECT vector FROM vectors")]
    db.close()
    return np.stack([r for r in rows if r.shape == rows[0].shape])


def bench_ann(
    base_dir: Path, sizes: list[int], n_queries: int, ask: int | None, extra: list[Path]
) -> dict:
    from qa.config import Settings
    from qa.embedding import Embedder
    from qa.index import SearchIndex

    settings = Settings()
    base_index = SearchIndex.load(base_dir)
    base = np.asarray(base_index.sentence_matrix, dtype=np.float32)
    if extra:
        base = np.unique(np.concatenate([base, *(cached_vectors(p) for p in extra)]), axis=0)
    embedder = Embedder(base_index.manifest.model, settings.model_dir, settings.batch_size)
    queries = embedder.encode_queries(query_texts(base_index, n_queries))
    del embedder
    out: dict = {"base_vectors": len(base), "queries": len(queries), "noise": NOISE}
    # Recall on the real vectors alone, then on noisy repetitions at each size.
    out["sizes"] = []
    for n in [len(base), *sizes]:
        with tempfile.TemporaryDirectory(prefix="scale-ann-") as folder:
            out["sizes"].append(bench_size(base, queries, n, Path(folder)))
        log(json.dumps(out["sizes"][-1]))
    if ask:
        out["ask"] = bench_ask(base_index, ask, base_dir)
    return out


def real_base(base_dir: Path, extra: list[Path]) -> tuple[object, np.ndarray]:
    """The base index and its distinct real sentence vectors (plus those of `extra` caches)."""
    from qa.index import SearchIndex

    base_index = SearchIndex.load(base_dir)
    base = np.asarray(base_index.sentence_matrix, dtype=np.float32)
    if extra:
        base = np.unique(np.concatenate([base, *(cached_vectors(p) for p in extra)]), axis=0)
    return base_index, base


def bench_big(
    folder: Path, phase: str, base_dir: Path, extra: list[Path], n: int, n_queries: int
) -> dict:
    """Search at `n` (10M) synthetic vectors, in two phases. `build` (heavy, not timed):
    noisy copies of the real vectors written block by block into `folder/v.npy` (memory-mapped,
    never all in RAM), the approximate index built over it, and the exact top 10 of the real
    queries (a blockwise scan). `search` (timed, in a quiet window): load, search, recall."""
    import faiss

    from qa import ann

    faiss.omp_set_num_threads(1)
    folder.mkdir(parents=True, exist_ok=True)
    if phase == "build" and (folder / "truth.npy").exists():
        phase = "index"  # vectors and exact top 10 written by an earlier run
    if phase == "build":
        from qa.config import Settings
        from qa.embedding import load_embedder

        base_index, base = real_base(base_dir, extra)
        settings = Settings()
        m = base_index.manifest
        embedder = load_embedder(m.model, m.encoder, settings.model_dir)
        queries = embedder.encode_queries(query_texts(base_index, n_queries))
        np.save(folder / "queries.npy", queries)
        started = time.perf_counter()
        x = np.lib.format.open_memmap(folder / "v.npy", "w+", np.float32, (n, base.shape[1]))
        best = np.full((len(queries), 0), -1, np.int64), np.zeros((len(queries), 0), np.float32)
        for start, block in noisy_blocks(base, n):
            x[start : start + len(block)] = block
            scores = queries @ block.T  # exact top 10 so far, block by block
            part = np.argpartition(-scores, 9, axis=1)[:, :10]
            ids = np.concatenate([best[0], start + part], axis=1)
            top = np.concatenate([best[1], np.take_along_axis(scores, part, 1)], axis=1)
            order = np.argsort(-top, axis=1)[:, :10]
            best = np.take_along_axis(ids, order, 1), np.take_along_axis(top, order, 1)
        x.flush()
        np.save(folder / "truth.npy", best[0])
        generated = time.perf_counter() - started
        log(f"big: {n:,} vectors and exact top 10 in {generated:.0f} s")
        phase = "index"
    if phase == "index":
        started = time.perf_counter()
        n = len(np.load(folder / "v.npy", mmap_mode="r"))
        index = ann.build(np.load(folder / "v.npy", mmap_mode="r"), "approx")
        faiss.write_index(index, str(folder / "v.faiss"))
        return {
            "vectors": n,
            "build_seconds": round(time.perf_counter() - started, 1),
            "index_bytes_per_vector": round((folder / "v.faiss").stat().st_size / n, 1),
            "floats_gb": round((folder / "v.npy").stat().st_size / 1e9, 2),
        }
    queries, truth = np.load(folder / "queries.npy"), np.load(folder / "truth.npy")
    before = rss_mb()
    started = time.perf_counter()
    index, matrix = ann.read(folder, "v", "approx")
    load_s = time.perf_counter() - started
    loaded = rss_mb()
    per_query(lambda q: ann.search(index, matrix, q, 10), queries[:20], "warm")
    times, found = per_query(lambda q: ann.search(index, matrix, q, 10), queries, "search")
    return {
        "vectors": index.ntotal,
        "queries": len(queries),
        "recall_at_10": recall(found, truth),
        "p50_ms": pct(times, 50),
        "p95_ms": pct(times, 95),
        "cpu_p95_ms": pct(CPU_TIMES["search"], 95),
        "load_seconds": round(load_s, 1),
        "rss_mb": {"before": before, "loaded": loaded, "after": rss_mb()},
        "nlist": faiss.extract_index_ivf(index).nlist,
        "nprobe_share": ann.NPROBE_SHARE,
        "index": type(index).__name__,
        "load_average": os.getloadavg()[0],
    }


def synthetic_index(base_index, n_sentences: int, folder: Path, index_type: str) -> dict:
    """Write an index of ~n_sentences: the base articles repeated (copy number in title and
    source, dates spread over 2000-2025), sentence vectors as noisy copies of the base ones."""
    import datetime as dt

    from qa import ann
    from qa.config import Settings
    from qa.index import FORMAT_VERSION, Manifest, _make_live, _write_version
    from qa.types import Chunk, Sentence

    b = base_index
    copies = -(-n_sentences // len(b.sentences))
    base = np.asarray(b.sentence_matrix, dtype=np.float32)
    arts, sents, chunks, groups = [], [], [], []
    first_day = dt.date(2000, 1, 1).toordinal()
    originals = list(b.articles.values())
    for c in range(copies):
        for j, a in enumerate(originals):
            day = first_day + (c * len(originals) + j) * 9490 // (copies * len(originals))
            arts.append(
                replace(
                    a,
                    doc_id=f"{a.doc_id}-{c}",
                    title=f"{a.title} ({c})",
                    source=f"copy{c}/{a.source}",
                    date=dt.date.fromordinal(day).isoformat(),
                )
            )
        offset_s, offset_c = c * len(b.sentences), c * len(b.chunks)
        sents += [
            Sentence(offset_s + s.sentence_id, f"{s.doc_id}-{c}", s.start, s.end)
            for s in b.sentences
        ]
        chunks += [
            Chunk(offset_c + k.chunk_id, f"{k.doc_id}-{c}", k.start, k.end, k.text)
            for k in b.chunks
        ]
        groups += [range(g.start + offset_s, g.stop + offset_s) for g in b.chunk_sentences]
    vectors = noisy_copies(base, len(sents))
    settings = Settings()
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=b.manifest.model,
        encoder=b.manifest.encoder,
        dimension=b.manifest.dimension,
        chunk_size=b.manifest.chunk_size,
        chunk_overlap=b.manifest.chunk_overlap,
        analyzer=b.manifest.analyzer,
        corpus_fingerprint="synthetic",
        articles=len(arts),
        sentences=len(sents),
        chunks=len(chunks),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        index_type=ann.resolve_type(index_type, len(sents)),
    )
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    version = _write_version(folder, manifest, arts, sents, chunks, groups, vectors, settings)
    _make_live(folder, version)
    disk = sum(p.stat().st_size for p in (folder / version).rglob("*") if p.is_file())
    return {
        "articles": len(arts),
        "sentences": len(sents),
        "chunks": len(chunks),
        "index_type": manifest.index_type,
        "write_seconds": round(time.perf_counter() - started, 1),
        "disk_mb": round(disk / 2**20, 1),
        "files_mb": {
            p.name: round(p.stat().st_size / 2**20, 1)
            for p in sorted((folder / version).iterdir())
            if p.is_file()
        },
    }


def bench_ask(base_index, n_sentences: int, base_dir: Path) -> dict:
    """Full `ask` p50/p95 with and without a date filter, each index in a fresh process."""
    import subprocess

    root = Path(tempfile.mkdtemp(prefix="scale-ask-", dir="/work/scratch/scale"))
    log(f"ask: writing an index of ~{n_sentences:,} sentences in {root} …")
    built = synthetic_index(base_index, n_sentences, root / "index", "approx")
    log(json.dumps(built))
    runs = {}
    for name, folder in (("base", base_dir), ("large", root / "index")):
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", "askrun", "--index", str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs[name] = json.loads(result.stdout.strip().splitlines()[-1])
        log(json.dumps(runs[name]))
    extra = runs["large"]["sentences"] - runs["base"]["sentences"]
    per_million = {
        key: round((runs["large"]["rss_mb"][key] - runs["base"]["rss_mb"][key]) * 1e6 / extra, 1)
        for key in runs["large"]["rss_mb"]
    }
    return {"built": built, "runs": runs, "marginal_rss_mb_per_million": per_million}


def ask_run(index_dir: Path, n_questions: int = 100) -> dict:
    """In a fresh process: load, warm up, then time `ask` per question, unfiltered and filtered."""
    from qa.config import Settings
    from qa.retrieval import Filters
    from qa.service import QAService

    settings = Settings()
    service = QAService(index_dir, settings)
    started = time.perf_counter()
    service.warm_up()
    load_s = time.perf_counter() - started
    questions = query_texts(service.index, n_questions)
    date_filter = Filters.parse("2010", "2012")
    for q in questions[:5]:
        service.ask(q)
        service.ask(q, date_filter)
    timings: dict[str, list[float]] = {"plain": [], "dated": [], "plain_cpu": [], "dated_cpu": []}
    answered = 0
    for q in questions:
        for name, filters in (("plain", None), ("dated", date_filter)):
            t, c = time.perf_counter(), time.process_time()
            answer = service.ask(q, filters)
            timings[name].append(time.perf_counter() - t)
            timings[name + "_cpu"].append(time.process_time() - c)
            answered += name == "plain" and not answer.abstained
    return {
        "sentences": len(service.index.sentences),
        "index_type": service.index.manifest.index_type,
        "load_seconds": round(load_s, 1),
        "questions": len(questions),
        "answered": answered,
        "p50_ms": pct(timings["plain"], 50),
        "p95_ms": pct(timings["plain"], 95),
        "dated_p50_ms": pct(timings["dated"], 50),
        "dated_p95_ms": pct(timings["dated"], 95),
        "cpu_p95_ms": pct(timings["plain_cpu"], 95),
        "dated_cpu_p95_ms": pct(timings["dated_cpu"], 95),
        "load_average": os.getloadavg()[0],
        "rss_mb": rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ray")
    p.add_argument("phase", choices=RAY_PHASES)
    p.add_argument("--root", type=Path, default=Path("/work/scratch/scale/ray500"))
    p.add_argument("--articles", type=int, default=500)
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("ann")
    p.add_argument("--base", type=Path, required=True, help="index whose vectors to repeat")
    p.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--ask", type=int, help="also time full `ask` on an index of this many")
    p.add_argument("--vectors", type=Path, nargs="*", default=[], help="embedding caches to add")
    p = sub.add_parser("big", help="search-only at 10M synthetic vectors")
    p.add_argument("phase", choices=("build", "search"))
    p.add_argument("--folder", type=Path, default=Path("/work/scratch/scale/big"))
    p.add_argument("--base", type=Path, required=True, help="index whose vectors to repeat")
    p.add_argument("--vectors", type=Path, nargs="*", default=[], help="embedding caches to add")
    p.add_argument("--size", type=int, default=10_000_000)
    p.add_argument("--queries", type=int, default=200)
    p = sub.add_parser("askbuild", help="write a synthetic index of --size sentences (heavy)")
    p.add_argument("--base", type=Path, required=True, help="index whose articles to repeat")
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--folder", type=Path, default=Path("/work/scratch/scale/ask1m"))
    p.add_argument("--index-type", default="approx")
    p = sub.add_parser("askrun", help="(internal) time `ask` on one index in this process")
    p.add_argument("--index", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.what == "askrun":
        print(json.dumps(ask_run(args.index)))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    if args.what == "ray":
        args.root.mkdir(parents=True, exist_ok=True)
        result = {
            "ray": bench_ray(args.root, args.phase, args.articles, args.questions, args.workers)
        }
    elif args.what == "askbuild":
        from qa.index import SearchIndex

        base = SearchIndex.load(args.base)
        result = {"askbuild": synthetic_index(base, args.size, args.folder, args.index_type)}
    elif args.what == "big":
        args = (args.folder, args.phase, args.base, args.vectors, args.size, args.queries)
        result = {"big": bench_big(*args)}
    else:
        result = {"ann": bench_ann(args.base, args.sizes, args.queries, args.ask, args.vectors)}
    result |= {"machine": describe(), "seconds": round(time.perf_counter() - started, 1)}
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
