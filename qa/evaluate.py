"""`qa eval`: measured quality and speed on SQuAD-format QA sets.

Every paragraph of the dataset becomes one `Article`; optional distractor articles (real news) are
mixed into the same corpus. The index is built with the product's own `build_index` into a cache
folder keyed by the corpus and the settings, and every question goes through `QAService.ask_batch`,
the code path of `qa ask`. Metrics, each traceable to one step:

- retrieval: `hit@1`, `hit@3` on the articles the answer *cites* (an abstention cites nothing, so
  it is a miss); `hit@5`, `mrr@10` (and `ranking_hit@1/3`) on the retrieval ranking alone, i.e.
  the distinct articles of `Retriever.search_batch` in hit order for the same query vectors;
- answers: `snippet@1` / `snippet@3` (the first / any of the first three snippets holds a gold
  answer, case and white space ignored), `mean_snippet_chars`;
- abstention: `declined` (false refusals on the set's own questions) and, with `--unanswerable`,
  `unanswerable_declined` (another set's questions asked against this corpus);
- speed: build figures of the index, and p50/p95 latency of single warm `QAService.ask` calls.

Reruns are cheap: the index is reused while the articles, the settings the indexing code reads
and that code are unchanged, and a rebuild takes its vectors from the embedding cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path

from qa.config import Settings
from qa.corpus import CorpusError, article_id, read_corpus, read_file
from qa.embedding import Embedder
from qa.types import Answer, Article, Hit

# Bump when the way a dataset becomes articles changes: cached indexes are then rebuilt.
EVAL_FORMAT = 1
# The modules that decide what an index holds; a change to them invalidates cached indexes.
INDEX_MODULES = ("chunking.py", "index.py", "lexical.py")
BUILD_FILE = "eval-build.json"
BATCH = 64
LATENCY_SAMPLE = 100
RANK_DEPTH = 10
SPLITS = ("all", "tune", "test")

# Which step each metric measures: printed in the table and part of the JSON line.
METRIC_SOURCES = {
    "hit@1": "cited articles of the answer (abstained = miss)",
    "hit@3": "cited articles of the answer (abstained = miss)",
    "hit@5": "retrieval ranking (distinct articles in hit order)",
    "mrr@10": "retrieval ranking (distinct articles in hit order)",
    "ranking_hit@1": "retrieval ranking (distinct articles in hit order)",
    "ranking_hit@3": "retrieval ranking (distinct articles in hit order)",
    "snippet@1": "first snippet holds a gold answer (case, spacing ignored)",
    "snippet@3": "one of the first three snippets holds a gold answer",
    "mean_snippet_chars": "mean length of the snippets given",
    "declined": "share of the set's own questions declined (false refusals)",
    "unanswerable_declined": "share of the other set's questions declined (higher is better)",
}


class EvalError(RuntimeError):
    """The dataset or a distractor path is unusable; the message says what to do."""


# --- Metrics: small pure functions --------------------------------------------------------------


def normalise(text: str) -> str:
    """Case-folded, NFC, white space collapsed: how answers and snippets are compared."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def contains_answer(snippet: str, answers: Iterable[str]) -> bool:
    """Whether the snippet holds one of the gold answer texts (case and spacing ignored)."""
    text = normalise(snippet)
    return any(gold and gold in text for gold in map(normalise, answers))


def snippet_hit(snippets: Sequence[str], answers: Iterable[str], k: int) -> float:
    """1.0 when one of the first `k` snippets holds a gold answer, else 0.0."""
    answers = list(answers)
    return 1.0 if any(contains_answer(s, answers) for s in snippets[:k]) else 0.0


def distinct(ids: Iterable[str]) -> list[str]:
    """The ids in first-seen order without repeats (chunks of one article -> one entry)."""
    return list(dict.fromkeys(ids))


def hit_at(ranked_ids: Sequence[str], gold: str, k: int) -> float:
    """1.0 when `gold` is among the first `k` ids, else 0.0."""
    return 1.0 if gold in ranked_ids[:k] else 0.0


def mrr_at(ranked_ids: Sequence[str], gold: str, k: int) -> float:
    """Reciprocal rank of `gold` within the first `k` ids (0.0 when it is not there)."""
    for rank, doc_id in enumerate(ranked_ids[:k], start=1):
        if doc_id == gold:
            return 1.0 / rank
    return 0.0


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def cited_articles(answer: Answer) -> list[str]:
    """The distinct articles an answer cites, in snippet order (empty when it abstained)."""
    return distinct(s.citation.doc_id for s in answer.snippets)


def ranked_articles(hits: Sequence[Hit], depth: int = RANK_DEPTH) -> list[str]:
    """The distinct articles of a retrieval ranking in hit order, at most `depth`."""
    return distinct(h.chunk.doc_id for h in hits)[:depth]


# --- Datasets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[str, ...]
    gold: str  # doc_id of the paragraph the question was written on
    half: str  # "tune" (first half of the articles) or "test"


@dataclass(frozen=True)
class Dataset:
    name: str  # file stem, e.g. "xquad.de"
    articles: tuple[Article, ...]
    questions: tuple[Question, ...]


def load_dataset(path: Path) -> Dataset:
    """A SQuAD-format file -> one `Article` per paragraph and its questions.

    Title: the article title (underscores as spaces) plus " (paragraph number)"; an empty title
    (MLQA) becomes the set's name plus the running paragraph number ("MLQA 17"). Source:
    "<file stem>/<article index>/<paragraph index>" (0-based). The `tune` half holds the questions
    of the first half of the articles (of the paragraphs, when the set has only one article).
    """
    try:
        data = json.loads(path.read_bytes())["data"]
    except OSError as err:
        raise EvalError(f"cannot read dataset {path}: {err.strerror or err}") from err
    except (ValueError, KeyError, TypeError) as err:
        raise EvalError(
            f"{path} is not a SQuAD-format file (expected {{'data': [{{'title', 'paragraphs'}}]}})"
        ) from err
    name = path.stem
    prefix = name.split(".")[0].upper()
    articles: dict[str, Article] = {}
    questions: list[Question] = []
    n_paragraphs = sum(len(item["paragraphs"]) for item in data)
    by_article = len(data) > 1
    n_units = len(data) if by_article else n_paragraphs
    number = 0
    try:
        for ai, item in enumerate(data):
            title = " ".join(str(item.get("title") or "").replace("_", " ").split())
            for pi, paragraph in enumerate(item["paragraphs"]):
                number += 1
                text = paragraph["context"]
                doc_id = article_id(text)
                if doc_id not in articles:
                    articles[doc_id] = Article(
                        doc_id=doc_id,
                        title=f"{title} ({pi + 1})" if title else f"{prefix} {number}",
                        date=None,
                        source=f"{name}/{ai}/{pi}",
                        text=text,
                    )
                unit = ai if by_article else number - 1
                half = "tune" if unit < math.ceil(n_units / 2) else "test"
                for qa in paragraph["qas"]:
                    answers = tuple(a["text"] for a in qa.get("answers", ()) if a["text"].strip())
                    if answers and qa["question"].strip():
                        questions.append(
                            Question(str(qa["id"]), qa["question"].strip(), answers, doc_id, half)
                        )
    except (KeyError, TypeError, AttributeError) as err:
        problem = f"{type(err).__name__}: {err}"
        raise EvalError(f"{path}: unexpected SQuAD structure ({problem})") from err
    return Dataset(name, tuple(articles.values()), tuple(questions))


def select(questions: Sequence[Question], split: str, limit: int | None) -> list[Question]:
    """The questions of one split; with `limit`, that many spread evenly over it."""
    if split not in SPLITS:
        raise EvalError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    chosen = [q for q in questions if split == "all" or q.half == split]
    return spread(chosen, limit) if limit is not None else chosen


def spread(items: Sequence, n: int) -> list:
    """`n` items taken at even steps over the sequence (all of them when it is shorter)."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    return [items[i * len(items) // n] for i in range(n)]


def load_distractors(paths: Sequence[Path], settings: Settings) -> list[Article]:
    """Articles from corpus folders (read like `qa index`) and single corpus files."""
    articles: list[Article] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            try:
                articles.extend(read_corpus(path, settings).articles)
            except CorpusError as err:
                raise EvalError(str(err)) from err
        elif path.is_file():
            found, _ = read_file(path, path.parent, settings)
            articles.extend(found)
        else:
            raise EvalError(f"distractor path {path} does not exist: give a corpus folder or file")
    return articles


def merge(dataset: Sequence[Article], distractors: Sequence[Article]) -> list[Article]:
    """Dataset paragraphs first, then distractors; a repeated body (same doc_id) is kept once."""
    seen: set[str] = set()
    merged = []
    for article in (*dataset, *distractors):
        if article.doc_id not in seen:
            seen.add(article.doc_id)
            merged.append(article)
    return merged


# --- The index cache ----------------------------------------------------------------------------


def index_settings(settings: Settings) -> dict:
    """The settings that decide what the index holds: the model, and every setting the indexing
    modules read (`settings.<name>` in their source), so a new one is never missed."""
    qa_dir = Path(__file__).resolve().parent
    read = set()
    for module in INDEX_MODULES:
        read |= set(re.findall(r"\bsettings\.(\w+)", (qa_dir / module).read_text("utf-8")))
    names = sorted((read & {f.name for f in fields(settings)}) - {"cache_dir"})
    return {"model": settings.model} | {name: _plain(getattr(settings, name)) for name in names}


def _plain(value):
    return asdict(value) if is_dataclass(value) else value


def index_key(articles: Sequence[Article], settings: Settings) -> str:
    """A hash of everything an index is built from: the articles, the settings, the code."""
    digest = hashlib.sha256(f"eval-format {EVAL_FORMAT}\x00".encode())
    digest.update(json.dumps(index_settings(settings), sort_keys=True, default=str).encode())
    qa_dir = Path(__file__).resolve().parent
    for module in INDEX_MODULES:
        digest.update((qa_dir / module).read_bytes())
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
    from qa.index import IndexError, SearchIndex, build_index

    key = index_key(articles, settings)
    index_dir = cache_root / f"{name}-{key}"
    build_file = index_dir / BUILD_FILE
    if build_file.exists():
        try:
            build = json.loads(build_file.read_text("utf-8"))
            SearchIndex.load(index_dir)
            if build.get("key") == key:
                return index_dir, build, True
        except (ValueError, IndexError):
            pass
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
    os.replace(tmp, build_file)
    return index_dir, build, False


# --- Running the questions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What happened to one question: the record behind every metric (`--details`)."""

    qid: str
    question: str
    half: str
    gold: str
    answers: tuple[str, ...]
    abstained: bool
    cited: tuple[str, ...]
    ranked: tuple[str, ...]
    snippets: tuple[str, ...]


def summarise(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Retrieval and answer metrics of a list of outcomes (see `METRIC_SOURCES`)."""

    def avg(values: Iterable[float]) -> float:
        return round(mean(values), 4)

    lengths = [len(s) for o in outcomes for s in o.snippets]
    return {
        "hit@1": avg(hit_at(o.cited, o.gold, 1) for o in outcomes),
        "hit@3": avg(hit_at(o.cited, o.gold, 3) for o in outcomes),
        "hit@5": avg(hit_at(o.ranked, o.gold, 5) for o in outcomes),
        "mrr@10": avg(mrr_at(o.ranked, o.gold, 10) for o in outcomes),
        "ranking_hit@1": avg(hit_at(o.ranked, o.gold, 1) for o in outcomes),
        "ranking_hit@3": avg(hit_at(o.ranked, o.gold, 3) for o in outcomes),
        "snippet@1": avg(snippet_hit(o.snippets, o.answers, 1) for o in outcomes),
        "snippet@3": avg(snippet_hit(o.snippets, o.answers, 3) for o in outcomes),
        "mean_snippet_chars": round(mean(lengths), 1),
        "declined": avg(o.abstained for o in outcomes),
    }


def ask_all(service, questions: Sequence[str], log: Callable[[str], None], what: str) -> list:
    """`service.ask_batch` in groups of `BATCH`, reporting progress."""
    answers: list[Answer] = []
    for i in range(0, len(questions), BATCH):
        answers.extend(service.ask_batch(questions[i : i + BATCH]))
        log(f"  {what} {len(answers)}/{len(questions)}")
    return answers


def rank_all(service, questions: Sequence[str]) -> list[list[str]]:
    """The retrieval ranking alone: distinct articles of every fused hit.

    Same retrieval as `QAService.ask_batch`, but asked for every chunk rather than the top 10,
    so that 10 distinct articles can be ranked.
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
    cache_root = Path(cache_root) if cache_root else settings.cache_dir / "eval"
    dataset = load_dataset(Path(dataset_path))
    questions = select(dataset.questions, split, limit)
    if not questions:
        raise EvalError(f"no questions selected from {dataset_path} (split {split}, limit {limit})")
    extra = load_distractors(distractors, settings)
    articles = merge(dataset.articles, extra)
    other = None
    if unanswerable is not None:
        other = load_dataset(Path(unanswerable))
        other_questions = [q.text for q in select(other.questions, "all", limit)]

    embedder = embedder or Embedder(settings.model, settings.model_dir, settings.batch_size)
    index_dir, build, reused = ensure_index(
        dataset.name, articles, settings, embedder, cache_root, log
    )
    service = QAService(index_dir, settings, embedder)
    service.warm_up()  # loading the index and the model is not answering
    started = time.perf_counter()
    texts = [q.text for q in questions]
    answers = ask_all(service, texts, log, "answered")
    answer_seconds = time.perf_counter() - started
    ranked = rank_all(service, texts)
    outcomes = tuple(
        Outcome(
            qid=q.qid,
            question=q.text,
            half=q.half,
            gold=q.gold,
            answers=q.answers,
            abstained=a.abstained,
            cited=tuple(cited_articles(a)),
            ranked=tuple(r),
            snippets=tuple(s.text for s in a.snippets),
        )
        for q, a, r in zip(questions, answers, ranked, strict=True)
    )
    unanswerable_declined = None
    if other is not None:
        other_answers = ask_all(service, other_questions, log, f"asked {other.name}")
        unanswerable_declined = round(mean(a.abstained for a in other_answers), 4)
    sample = spread(texts, min(latency_sample, len(texts)))
    if sample:
        log(f"  timing {len(sample)} single questions …")
    latencies = measure_latency(service, sample)

    n_chunks = len(service.index.chunks)
    report = {
        "dataset": dataset.name,
        "split": split,
        "questions": len(questions),
        "articles": len(dataset.articles),
        "distractors": {
            "paths": [str(p) for p in distractors],
            "articles": len(articles) - len(dataset.articles),
        },
        "chunks": n_chunks,
        "sentences": build.get("sentences"),
        **summarise(outcomes),
        "unanswerable": other.name if other else None,
        "unanswerable_questions": len(other_questions) if other else 0,
        "unanswerable_declined": unanswerable_declined,
        "index_seconds": build["index_seconds"],
        "chunks_per_second": build["chunks_per_second"],
        "index_embedded": build["embedded"],
        "index_reused": reused,
        "index_built": build["built"],
        "answer_seconds": round(answer_seconds, 2),
        "questions_per_second": round(len(questions) / answer_seconds, 2),
        "latency_sample": len(latencies),
        "latency_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "latency_p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("cache_dir", "fields")},
        "index": str(index_dir),
        "metric_sources": METRIC_SOURCES,
    }
    return EvalRun(report, outcomes)


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
    how = (
        f"reused, built {r['index_built']}" if r["index_reused"] else "built now"
    ) + f"; {r['index_embedded']} texts embedded in that build"
    lines += [
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
    return "\n".join(lines)


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


_SCALARS = (bool, int, float, str)


def settable(obj, prefix: str = "") -> dict[str, object]:
    """Dotted names of the plain (number, boolean, string) fields, nested dataclasses included."""
    out: dict[str, object] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            out |= settable(value, f"{prefix}{f.name}.")
        elif isinstance(value, _SCALARS):
            out[prefix + f.name] = value
    return out


def _parse(pair: str, current) -> object:
    value = pair.partition("=")[2].strip()
    try:
        if isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return type(current)(value)
    except ValueError as err:
        kind = type(current).__name__
        raise EvalError(f"--set {pair!r}: {value!r} is not of type {kind}") from err


def _replace_path(obj, path: list[str], value):
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    inner = getattr(obj, path[0])
    return replace(obj, **{path[0]: _replace_path(inner, path[1:], value)})


def apply_overrides(settings: Settings, pairs: Sequence[str]) -> Settings:
    """`NAME=VALUE` pairs onto the settings; NAME may be dotted (`fusion.keyword=0.2`)."""
    known = settable(settings)
    for pair in pairs:
        name, sep, _ = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise EvalError(f"--set {pair!r}: use NAME=VALUE with NAME one of {', '.join(known)}")
        settings = _replace_path(settings, name.split("."), _parse(pair, known[name]))
    return settings


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
    from qa.cli import CliError
    from qa.embedding import EmbeddingError
    from qa.index import IndexError

    try:
        settings = Settings()
        if getattr(args, "model", None):
            settings = replace(settings, model=args.model)
        settings = apply_overrides(settings, args.overrides)
        if args.limit is not None and args.limit < 1:
            raise EvalError("--limit must be at least 1")
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
    except (EvalError, IndexError, EmbeddingError, ValueError) as err:
        raise CliError(str(err)) from err
    if args.details:
        write_details(args.details, run.outcomes)
    print(format_table(run.report), flush=True)
    if args.json:
        print(json.dumps(run.report, ensure_ascii=False), flush=True)
    return 0
