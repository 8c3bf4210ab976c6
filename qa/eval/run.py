"""`qa eval`: index a QA set once (cached), ask every question as `qa ask` does, measure.

The index is built with the product's own `build_index` into a cache folder keyed by the
articles, the settings that decide what an index holds (`INDEX_FIELDS`) and the source of the
modules that build it (`INDEX_MODULES`). Every question goes through `QAService.ask_batch`, the
code path of `qa ask`. Speed: build figures of the index, and p50/p95 latency of single warm
`QAService.ask` calls.

Reruns are cheap: the index is reused while the articles, those settings and that code are
unchanged, and a rebuild takes its vectors from the embedding cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, is_dataclass, replace
from pathlib import Path

from qa.config import Settings, apply_overrides
from qa.embedding import Embedder, load_embedder, resolve_encoder
from qa.errors import EvalError, IndexUnavailable
from qa.eval.datasets import (
    SPLITS,
    Dataset,
    Question,
    load_dataset,
    load_distractors,
    merge,
    select,
    spread,
)
from qa.eval.metrics import (
    METRIC_SOURCES,
    Outcome,
    cited_articles,
    mean,
    percentile,
    ranked_articles,
    snippet_hit,
    summarise,
)
from qa.types import Answer, Article

# Bump when the way a dataset becomes articles changes: cached indexes are then rebuilt.
EVAL_FORMAT = 1
# The settings that decide what an index holds. `qa.index` reads these (and `cache_dir`, which
# only says where the embedding cache lives); a new one must be added here.
INDEX_FIELDS = ("model", "encoder", "chunk_size", "chunk_overlap", "analyzer_language")
# The modules that build an index; a change to their source invalidates cached indexes.
INDEX_MODULES = ("chunking.py", "index.py", "lexical.py")
BUILD_FILE = "eval-build.json"
BATCH = 64
LATENCY_SAMPLE = 100

_QA_DIR = Path(__file__).resolve().parents[1]


# --- The index cache ----------------------------------------------------------------------------


def index_settings(settings: Settings) -> dict:
    """The settings that decide what the index holds (`INDEX_FIELDS`), as plain values."""
    return {name: _plain(getattr(settings, name)) for name in INDEX_FIELDS}


def _plain(value):
    return asdict(value) if is_dataclass(value) else value


def index_key(articles: Sequence[Article], settings: Settings) -> str:
    """A hash of everything an index is built from: the articles, the settings, the code."""
    digest = hashlib.sha256(f"eval-format {EVAL_FORMAT}\x00".encode())
    digest.update(json.dumps(index_settings(settings), sort_keys=True, default=str).encode())
    for module in INDEX_MODULES:
        digest.update((_QA_DIR / module).read_bytes())
    for a in articles:
        digest.update(f"\x00{a.source}\x00{a.doc_id}\x00{a.title}".encode())
    return digest.hexdigest()[:16]


def ensure_index(
    name: str,
    articles: Sequence[Article],
    settings: Settings,
    embedder: Embedder,
    cache_root: Path,
    log: Callable[[str], None],
) -> tuple[Path, dict, bool]:
    """The index folder for these articles, built now or reused; its build figures; reused?"""
    key = index_key(articles, settings)
    index_dir = cache_root / f"{name}-{key}"
    build = _cached_build(index_dir, key)
    if build is not None:
        return index_dir, build, True
    return index_dir, _build(index_dir, key, articles, settings, embedder, log), False


def _cached_build(index_dir: Path, key: str) -> dict | None:
    """The build figures of a usable cached index with this key, else None."""
    from qa.index import SearchIndex

    build_file = index_dir / BUILD_FILE
    if not build_file.exists():
        return None
    try:
        build = json.loads(build_file.read_text("utf-8"))
        SearchIndex.load(index_dir)
    except (ValueError, IndexUnavailable):
        return None
    return build if build.get("key") == key else None


def _build(
    index_dir: Path,
    key: str,
    articles: Sequence[Article],
    settings: Settings,
    embedder: Embedder,
    log: Callable[[str], None],
) -> dict:
    """Build the index into `index_dir` and record its build figures next to it."""
    from qa.index import build_index

    log(f"building the index in {index_dir} ({len(articles)} articles) …")
    last = [0.0]

    def on_progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 10 or done == total:
            last[0] = time.monotonic()
            log(f"  embedding {done}/{total} texts")

    report = build_index(articles, index_dir, settings, embedder, on_progress)
    build = {
        "key": key,
        "articles": len(articles),
        "chunks": report.chunks,
        "sentences": getattr(report, "sentences", None),
        "embedded": report.embedded,
        "index_seconds": report.seconds,
        "chunks_per_second": round(report.chunks / report.seconds, 2) if report.seconds else 0.0,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = index_dir / f".{BUILD_FILE}.tmp"
    tmp.write_text(json.dumps(build, indent=2), "utf-8")
    os.replace(tmp, index_dir / BUILD_FILE)
    return build


# --- Running the questions ----------------------------------------------------------------------


def ask_all(service, questions: Sequence[str], log: Callable[[str], None], what: str) -> list:
    """`service.ask_batch` in groups of `BATCH`, reporting progress."""
    answers: list[Answer] = []
    for i in range(0, len(questions), BATCH):
        answers.extend(service.ask_batch(questions[i : i + BATCH]))
        log(f"  {what} {len(answers)}/{len(questions)}")
    return answers


def rank_all(service, questions: Sequence[str]) -> list[list[str]]:
    """The retrieval ranking alone: distinct articles of every fused hit.

    Same retrieval as `QAService.ask_batch`, but asked for every chunk rather than
    `Settings.top_k`, so that `RANK_DEPTH` distinct articles can be ranked.
    """
    ranked = []
    for i in range(0, len(questions), BATCH):
        _, hits = service.retrieve_batch(questions[i : i + BATCH], top_k=len(service.index.chunks))
        ranked.extend(ranked_articles(h) for h in hits)
    return ranked


def measure_latency(service, questions: Sequence[str]) -> list[float]:
    """Milliseconds of single warm `ask` calls, one per question."""
    times = []
    for question in questions:
        started = time.perf_counter()
        service.ask(question)
        times.append((time.perf_counter() - started) * 1000)
    return times


@dataclass(frozen=True)
class EvalRun:
    report: dict
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True)
class EvalInputs:
    """What one run asks about: the set, its chosen questions, the corpus, the other set."""

    dataset: Dataset
    split: str
    questions: list[Question]
    distractors: tuple[Path, ...]  # the paths as given
    articles: list[Article]  # the set's paragraphs plus the distractors
    other: Dataset | None  # the set whose questions should be declined (`--unanswerable`)
    other_questions: list[str]


@dataclass(frozen=True)
class Measured:
    """What asking produced: one outcome per question, and the timings."""

    outcomes: tuple[Outcome, ...]
    answer_seconds: float
    unanswerable_declined: float | None
    latencies: list[float]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def evaluate(
    dataset_path: Path,
    *,
    distractors: Sequence[Path] = (),
    unanswerable: Path | None = None,
    limit: int | None = None,
    split: str = "all",
    settings: Settings | None = None,
    cache_root: Path | None = None,
    latency_sample: int = LATENCY_SAMPLE,
    embedder: Embedder | None = None,
    log: Callable[[str], None] = _stderr,
) -> EvalRun:
    """Build (or reuse) the index for a dataset plus distractors, ask every question, measure."""
    from qa.service import QAService

    settings = settings or Settings()
    # The encoder as resolved (`auto` -> int8 or fp32) is part of the cached index's key.
    settings = replace(settings, encoder=resolve_encoder(settings.model, settings.encoder))
    cache_root = Path(cache_root) if cache_root else settings.cache_dir / "eval"
    inputs = load_inputs(dataset_path, distractors, unanswerable, limit, split, settings)
    embedder = embedder or load_embedder(
        settings.model, settings.encoder, settings.model_dir, settings.batch_size
    )
    index_dir, build, reused = ensure_index(
        inputs.dataset.name, inputs.articles, settings, embedder, cache_root, log
    )
    service = QAService(index_dir, settings, embedder)
    service.warm_up()  # loading the index and the model is not answering
    measured = ask_questions(service, inputs, latency_sample, log)
    n_chunks = len(service.index.chunks)
    report = build_report(inputs, measured, index_dir, build, reused, n_chunks, settings)
    return EvalRun(report, measured.outcomes)


def load_inputs(
    dataset_path: Path,
    distractors: Sequence[Path],
    unanswerable: Path | None,
    limit: int | None,
    split: str,
    settings: Settings,
) -> EvalInputs:
    """Read the set, choose its questions, add the distractors, read the other set."""
    dataset = load_dataset(Path(dataset_path))
    questions = select(dataset.questions, split, limit)
    if not questions:
        raise EvalError(f"no questions selected from {dataset_path} (split {split}, limit {limit})")
    articles = merge(dataset.articles, load_distractors(distractors, settings))
    other, other_questions = None, []
    if unanswerable is not None:
        other = load_dataset(Path(unanswerable))
        other_questions = [q.text for q in select(other.questions, "all", limit)]
    return EvalInputs(
        dataset, split, questions, tuple(distractors), articles, other, other_questions
    )


def ask_questions(
    service, inputs: EvalInputs, latency_sample: int, log: Callable[[str], None]
) -> Measured:
    """Answer every question in batches, rank it, ask the other set, time single asks."""
    questions = inputs.questions
    started = time.perf_counter()
    texts = [q.text for q in questions]
    answers = ask_all(service, texts, log, "answered")
    answer_seconds = time.perf_counter() - started
    ranked = rank_all(service, texts)
    outcomes = tuple(_outcome(q, a, r) for q, a, r in zip(questions, answers, ranked, strict=True))
    unanswerable_declined = None
    if inputs.other is not None:
        what = f"asked {inputs.other.name}"
        other_answers = ask_all(service, inputs.other_questions, log, what)
        unanswerable_declined = round(mean(a.abstained for a in other_answers), 4)
    sample = spread(texts, min(latency_sample, len(texts)))
    if sample:
        log(f"  timing {len(sample)} single questions …")
    latencies = measure_latency(service, sample)
    return Measured(outcomes, answer_seconds, unanswerable_declined, latencies)


def _outcome(question: Question, answer: Answer, ranked: Sequence[str]) -> Outcome:
    return Outcome(
        qid=question.qid,
        question=question.text,
        half=question.half,
        gold=question.gold,
        answers=question.answers,
        abstained=answer.abstained,
        cited=tuple(cited_articles(answer)),
        ranked=tuple(ranked),
        snippets=tuple(s.text for s in answer.snippets),
        phrase=answer.snippets[0].answer.text
        if answer.snippets and answer.snippets[0].answer
        else None,
    )


def build_report(
    inputs: EvalInputs,
    measured: Measured,
    index_dir: Path,
    build: dict,
    reused: bool,
    n_chunks: int,
    settings: Settings,
) -> dict:
    """The report of one run: `qa eval --json` prints it, so fields are only ever added."""
    dataset, other, latencies = inputs.dataset, inputs.other, measured.latencies
    n_questions = len(inputs.questions)
    return {
        "dataset": dataset.name,
        "split": inputs.split,
        "questions": n_questions,
        "articles": len(dataset.articles),
        "distractors": {
            "paths": [str(p) for p in inputs.distractors],
            "articles": len(inputs.articles) - len(dataset.articles),
        },
        "chunks": n_chunks,
        "sentences": build.get("sentences"),
        **summarise(measured.outcomes),
        "unanswerable": other.name if other else None,
        "unanswerable_questions": len(inputs.other_questions) if other else 0,
        "unanswerable_declined": measured.unanswerable_declined,
        "index_seconds": build["index_seconds"],
        "chunks_per_second": build["chunks_per_second"],
        "index_embedded": build["embedded"],
        "index_reused": reused,
        "index_built": build["built"],
        "answer_seconds": round(measured.answer_seconds, 2),
        "questions_per_second": round(n_questions / measured.answer_seconds, 2),
        "latency_sample": len(latencies),
        "latency_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "latency_p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("cache_dir", "fields")},
        "index": str(index_dir),
        "metric_sources": METRIC_SOURCES,
    }


# --- Output -------------------------------------------------------------------------------------


def format_table(report: dict) -> str:
    """The report as a readable terminal table."""
    r = report
    lines = [
        f"{r['dataset']} (split {r['split']}): {r['questions']} questions, {r['articles']} "
        f"paragraphs + {r['distractors']['articles']} distractor articles = {r['chunks']} chunks",
        "",
        f"{'metric':<24}{'value':>10}  from",
    ]
    for key in METRIC_SOURCES:
        value = r.get(key)
        if value is None:
            continue
        source = METRIC_SOURCES[key]
        if key == "unanswerable_declined":
            source += f": {r['unanswerable_questions']} questions of {r['unanswerable']}"
        shown = f"{value:.1f}" if key == "mean_snippet_chars" else f"{value:.3f}"
        lines.append(f"{key:<24}{shown:>10}  {source}")
    return "\n".join(lines + _speed_lines(r))


def _speed_lines(r: dict) -> list[str]:
    how = (
        f"reused, built {r['index_built']}" if r["index_reused"] else "built now"
    ) + f"; {r['index_embedded']} texts embedded in that build"
    lines = [
        f"{'index_seconds':<24}{r['index_seconds']:>10.1f}  {how}",
        f"{'chunks_per_second':<24}{r['chunks_per_second']:>10.1f}  of that build"
        + ("" if r["index_embedded"] else " (all vectors cached: not an encoder rate)"),
        f"{'questions_per_second':<24}{r['questions_per_second']:>10.2f}  ask_batch, groups of "
        f"{BATCH}",
    ]
    if r["latency_sample"]:
        for key in ("latency_p50_ms", "latency_p95_ms"):
            lines.append(
                f"{key:<24}{r[key]:>10.1f}  single warm ask, {r['latency_sample']} questions"
            )
    return lines


def write_details(path: Path, outcomes: Iterable[Outcome]) -> None:
    """One JSON object per question, with the per-question hits (for error analysis)."""
    with Path(path).open("w", encoding="utf-8") as out:
        for o in outcomes:
            row = asdict(o) | {
                "cited_hit": o.gold in o.cited[:1],
                "ranked_rank": o.ranked.index(o.gold) + 1 if o.gold in o.ranked else None,
                "snippet_hit": bool(snippet_hit(o.snippets, o.answers, 3)),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


# --- CLI ----------------------------------------------------------------------------------------


def add_parser(sub) -> None:
    """Register `qa eval` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "eval",
        help="measure retrieval, answers, abstention and speed on a SQuAD-format set",
        description="Index the set's paragraphs (plus distractors) in a cache folder, answer "
        "every question as `qa ask` does, and print the metrics.",
    )
    p.add_argument("dataset", type=Path, help="SQuAD-format JSON (e.g. xquad.de.json)")
    p.add_argument(
        "--distractors",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="corpus folders or files mixed into the corpus (e.g. /work/shared/eval/news)",
    )
    p.add_argument(
        "--unanswerable", type=Path, metavar="OTHER", help="also ask OTHER's questions here"
    )
    p.add_argument("--limit", type=int, help="only N questions, spread evenly over the split")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="questions of the first (tune) or second (test) half of the articles",
    )
    p.add_argument("--json", action="store_true", help="end with the report as one JSON line")
    p.add_argument(
        "--index-cache", type=Path, metavar="DIR", help="index cache folder (CACHE/eval)"
    )
    p.add_argument(
        "--latency-sample",
        type=int,
        default=LATENCY_SAMPLE,
        metavar="N",
        help=f"time single asks on N questions ({LATENCY_SAMPLE}; 0 skips)",
    )
    p.add_argument("--details", type=Path, metavar="FILE", help="write per-question JSON lines")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a setting for this run, e.g. --set fusion.keyword=0.2",
    )
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    """Run `qa eval`; failures are `QAError`s, which the CLI prints as one line."""
    settings = Settings()
    if getattr(args, "model", None):
        settings = replace(settings, model=args.model)
    settings = apply_overrides(settings, args.overrides)
    if args.limit is not None and args.limit < 1:
        raise EvalError("--limit must be at least 1")
    try:
        run = evaluate(
            args.dataset,
            distractors=args.distractors,
            unanswerable=args.unanswerable,
            limit=args.limit,
            split=args.split,
            settings=settings,
            cache_root=args.index_cache,
            latency_sample=max(args.latency_sample, 0),
        )
    except ValueError as err:  # settings the steps reject, e.g. chunk_overlap >= chunk_size
        raise EvalError(str(err)) from err
    if args.details:
        write_details(args.details, run.outcomes)
    print(format_table(run.report), flush=True)
    if args.json:
        print(json.dumps(run.report, ensure_ascii=False), flush=True)
    return 0
