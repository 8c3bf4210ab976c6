"""Claim checking measured: accuracy per verdict and per-claim latency.

    python -m benchmarks.claims --data ../shared/eval [--news N] [--held-out N] [--limit N]
                                [--split all|tune|test] [--json] [--details FILE] [--output FILE]

Claims are made from data nobody on the project wrote:

- XQuAD-de: for every question whose answer is a figure or a date, the sentence of the paragraph
  that holds the answer. Verbatim -> `supported`; the answer's figure altered (another number,
  year, month or day, in the same format) -> `contradicted`. Each also comes as two
  paraphrase-like variants (some words dropped; the sentence reordered at a comma), so the rule
  cannot lean on verbatim copies.
- News (../shared/eval/news): `--held-out` articles are left out of the index; sentences of
  theirs with a figure or a date become claims -> `not_found`.

The index holds every XQuAD-de paragraph plus the news (all but the held-out ones; `--news N`
keeps N of them for a quicker run). It is cached like `qa eval`'s. Every claim goes through
the same code as `qa check`, one warm call at a time, which is also what the latency measures.
`--split tune` keeps the claims of XQuAD-de articles 1-24 and the first half of the held-out
news, `--split test` the rest: tune on one half, report the other.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shlex
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.machine import EVAL_DATA, describe, load_average, machine_line
from benchmarks.sections import markers, write_section
from qa.chunking import sentence_spans
from qa.claims import VERDICTS, ClaimPart, extract

SEED = 14
SECTION = "claims"


@dataclass(frozen=True)
class Case:
    """One claim and the verdict it should get."""

    claim: str
    expected: str
    variant: str  # verbatim | dropped | reordered
    origin: str  # xquad.de/<article>/<paragraph> or news/<index>
    half: str  # tune | test


# --- Making claims ----------------------------------------------------------------------------


def _sentence_at(text: str, position: int) -> tuple[int, int] | None:
    for start, end in sentence_spans(text):
        if start <= position < end:
            return start, end
    return None


def _figure_parts(sentence: str) -> list[ClaimPart]:
    return [p for p in extract(sentence) if p.kind != "entity"]


def _format_like(original: str, value: float) -> str:
    """`value` written the way `original` writes its figure (thousands dots, decimal comma)."""
    decimals = len(original.split(",")[1]) if "," in original else 0
    if decimals:
        text = f"{value:,.{decimals}f}"
    else:
        text = f"{round(value):,}"
    text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    if "." not in original.split(",")[0]:
        text = (
            text.replace(".", "")
            if not decimals
            else text.split(",")[0].replace(".", "") + ("," + text.split(",")[1])
        )
    return text


_MONTH_NAMES = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
)


def alter(sentence: str, part: ClaimPart, rng: random.Random) -> str | None:
    """The sentence with the figure of `part` changed to another value in the same format."""
    text = part.text
    if part.kind == "date":
        year, month, day, decade = part.value
        years = list(re.finditer(r"\d{4}", text))
        if year is not None and years:
            m = years[-1]
            new = year + rng.choice([-1, 1]) * rng.randint(3, 25)
            text = text[: m.start()] + str(new) + text[m.end() :]
        elif decade is not None:
            m = re.search(r"\d+", text)
            new_decade = decade + rng.choice([-20, -10, 10, 20])
            digits = str(new_decade) if len(m.group()) == 4 else str(new_decade % 100)
            text = text[: m.start()] + digits.zfill(len(m.group())) + text[m.end() :]
        elif month is not None:
            names = [n for n in _MONTH_NAMES if n.lower() != text.lower().rstrip(".")]
            if text.lower().rstrip(".") not in [n.lower() for n in _MONTH_NAMES]:
                return None
            text = rng.choice(names)
        else:
            return None
    else:
        m = re.search(r"\d[\d.,]*\d|\d", text)
        if m is None:
            return None  # a number word: keep the set simple and skip it
        digits = m.group().rstrip(".,")
        from qa.claims import parse_number

        amount = parse_number(digits)
        if amount is None:
            return None
        factor = rng.choice([0.3, 0.5, 0.6, 1.5, 2.0, 3.0])
        new_amount = amount * factor
        if amount == int(amount) and "," not in digits:
            new_amount = max(1, round(new_amount))
            if new_amount == amount:
                new_amount = amount + rng.randint(2, 9)
        new = _format_like(digits, new_amount)
        if parse_number(new) == amount:
            return None
        text = text[: m.start()] + new + text[m.start() + len(digits) :]
    if text == part.text:
        return None
    return sentence[: part.start] + text + sentence[part.end :]


_NEGATIONS = {"nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals"}


def drop_words(sentence: str, rng: random.Random) -> str | None:
    """Some words (not figures, names or negations) left out."""
    protected = [(p.start, p.end) for p in extract(sentence)]
    words = [
        m
        for m in re.finditer(r"(?<!\S)[^\W\d_]+(?=[\s,.;:!?]|$)", sentence)
        if m.start() > 0
        and m.group().lower() not in _NEGATIONS
        and not any(s <= m.start() < e for s, e in protected)
    ]
    if len(words) < 4:
        return None
    k = max(1, round(len(words) * 0.2))
    drop = sorted(rng.sample(words, k), key=lambda m: m.start(), reverse=True)
    out = sentence
    for m in drop:
        out = out[: m.start()] + out[m.end() :]
    return re.sub(r"\s{2,}", " ", re.sub(r"\s+([,.;:])", r"\1", out)).strip()


def reorder(sentence: str) -> str | None:
    """The clauses rotated at the first comma ("A, B." -> "B, A."), or the first three words
    moved to the end."""
    body = sentence.rstrip(" .!?")
    end = sentence[len(body) :] or "."
    if ", " in body:
        first, rest = body.split(", ", 1)
        out = f"{rest}, {first}{end}"
    else:
        words = body.split()
        if len(words) < 6:
            return None
        out = " ".join(words[3:] + words[:3]) + end
    return out[0].upper() + out[1:] if out else None


def xquad_cases(dataset_path: Path, rng: random.Random) -> list[Case]:
    data = json.loads(dataset_path.read_bytes())["data"]
    n_articles = len(data)
    cases: list[Case] = []
    seen: set[str] = set()
    for ai, item in enumerate(data):
        half = "tune" if ai < (n_articles + 1) // 2 else "test"
        for pi, paragraph in enumerate(item["paragraphs"]):
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                for answer in qa["answers"][:1]:
                    start = answer["answer_start"]
                    span = _sentence_at(context, start)
                    if span is None:
                        continue
                    sentence = context[span[0] : span[1]]
                    if sentence in seen or not 30 <= len(sentence) <= 400:
                        continue
                    a_start = start - span[0]
                    a_end = a_start + len(answer["text"])
                    figures = [
                        p for p in _figure_parts(sentence) if p.start < a_end and a_start < p.end
                    ]
                    if not figures:
                        continue
                    seen.add(sentence)
                    origin = f"xquad.de/{ai}/{pi}"
                    altered = alter(sentence, figures[0], rng)
                    variants = [("verbatim", sentence)]
                    dropped = drop_words(sentence, rng)
                    if dropped:
                        variants.append(("dropped", dropped))
                    reordered = reorder(sentence)
                    if reordered:
                        variants.append(("reordered", reordered))
                    for variant, text in variants:
                        cases.append(Case(text, "supported", variant, origin, half))
                    if altered:
                        cases.append(Case(altered, "contradicted", "verbatim", origin, half))
                        dropped = drop_words(altered, rng)
                        if dropped and dropped != altered:
                            cases.append(Case(dropped, "contradicted", "dropped", origin, half))
                        reordered = reorder(altered)
                        if reordered:
                            cases.append(Case(reordered, "contradicted", "reordered", origin, half))
    return cases


def news_cases(held_out: list, per_article: int = 2) -> list[Case]:
    """Sentences with a figure or a date from articles that are not in the index."""
    cases = []
    for i, article in enumerate(held_out):
        half = "tune" if i < len(held_out) // 2 else "test"
        taken = 0
        for start, end in sentence_spans(article.text):
            sentence = article.text[start:end]
            if not 40 <= len(sentence) <= 300 or not _figure_parts(sentence):
                continue
            cases.append(Case(sentence, "not_found", "verbatim", f"news/{article.source}", half))
            taken += 1
            if taken == per_article:
                break
    return cases


# --- Running ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def check_with(service):
    """The `qa check` code path for one claim."""
    if hasattr(service, "check"):
        return service.check
    from qa.claims import Passage, check

    def fallback(claim: str):  # until QAService.check exists: the same steps
        snap = service.snapshot()
        vectors, hits = service._retrieve(snap, [claim], None)
        answer = snap.reader.answer_batch([claim], vectors, hits)[0]
        passages = [Passage(x.text, x.score, x.citation) for x in answer.snippets]
        return check(claim, passages, found=not answer.abstained)

    return fallback


def build_service(args, log):

    from qa.config import Settings
    from qa.embedding import Embedder
    from qa.eval.datasets import load_dataset, load_distractors, merge, spread
    from qa.eval.run import ensure_index
    from qa.service import QAService

    settings = Settings()
    dataset = load_dataset(args.data / "xquad.de.json")
    news = load_distractors([args.data / "news"], settings)
    held = spread(news, args.held_out)
    held_ids = {a.doc_id for a in held}
    rest = [a for a in news if a.doc_id not in held_ids]
    if args.news is not None:
        rest = spread(rest, args.news)
    articles = merge(dataset.articles, rest)
    embedder = Embedder(settings.model, settings.model_dir, settings.batch_size)
    cache_root = args.index_cache or settings.cache_dir / "eval"
    cache_root.mkdir(parents=True, exist_ok=True)
    index_dir, build, reused = ensure_index(
        "claims-xquad.de", articles, settings, embedder, cache_root, log
    )
    service = QAService(index_dir, settings, embedder)
    service.warm_up()
    return service, held, build, len(articles)


def select(cases: list[Case], split: str, limit: int | None) -> list[Case]:
    chosen = [c for c in cases if split == "all" or c.half == split]
    if limit is not None and limit < len(chosen):
        by_expected = defaultdict(list)
        for c in chosen:
            by_expected[c.expected].append(c)
        per = max(1, limit // len(by_expected))
        chosen = [
            c for group in by_expected.values() for c in group[:: max(1, len(group) // per)][:per]
        ]
    return chosen


class CoreTimer:
    """Times `qa.claims.check` (parts, alignment, verdict) inside the service's check, so the
    claim checker's own share of the latency is known apart from retrieval and reading."""

    def __init__(self) -> None:
        import qa.claims

        self.module = qa.claims
        self.original = qa.claims.check
        self.last_ms = 0.0

    def __enter__(self) -> CoreTimer:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.last_ms = (time.perf_counter() - started) * 1000

        self.module.check = timed
        return self

    def __exit__(self, *exc) -> None:
        self.module.check = self.original


def run(cases: list[Case], check, log) -> tuple[dict, list[dict]]:
    check(cases[0].claim)  # warm: first-call caches (lexicon, allocator)
    latencies, core, cpu, rows = [], [], [], []
    load_before = load_average()
    with CoreTimer() as timer:
        for i, case in enumerate(cases):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = check(case.claim)
            latencies.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            core.append(timer.last_ms)
            rows.append(asdict(case) | {"verdict": result.verdict, "result": result.to_dict()})
            if (i + 1) % 200 == 0:
                log(f"  {i + 1}/{len(cases)} claims")
    report = summarise(rows, latencies)
    report["core_p50_ms"] = round(percentile(core, 50), 1)
    report["core_p95_ms"] = round(percentile(core, 95), 1)
    report["cpu_p50_ms"] = round(percentile(cpu, 50), 1)
    report["cpu_p95_ms"] = round(percentile(cpu, 95), 1)
    report["load_average"] = [load_before, load_average()]
    return report, rows


def summarise(rows: list[dict], latencies: list[float]) -> dict:
    by_expected: dict[str, list[bool]] = defaultdict(list)
    by_variant: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        ok = row["verdict"] == row["expected"]
        by_expected[row["expected"]].append(ok)
        by_variant[f"{row['expected']}/{row['variant']}"].append(ok)
        confusion[row["expected"]][row["verdict"]] += 1
    return {
        "claims": len(rows),
        "accuracy": {k: round(sum(v) / len(v), 3) for k, v in sorted(by_expected.items())},
        "counts": {k: len(v) for k, v in sorted(by_expected.items())},
        "by_variant": {k: round(sum(v) / len(v), 3) for k, v in sorted(by_variant.items())},
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p95_ms": round(percentile(latencies, 95), 1),
    }


def latency_line(report: dict) -> str:
    load = report.get("load_average") or [None, None]
    return (
        f"latency per claim (the whole `QAService.check`) p50 {report['latency_p50_ms']:.0f} ms, "
        f"p95 {report['latency_p95_ms']:.0f} ms; of which the claim checker (`qa.claims.check`) "
        f"p50 {report['core_p50_ms']:.1f} ms, p95 {report['core_p95_ms']:.1f} ms; CPU time per "
        f"claim (all threads; waiting threads inflate it on a busy machine) p50 "
        f"{report.get('cpu_p50_ms', 0):.0f} ms, p95 {report.get('cpu_p95_ms', 0):.0f} ms; "
        f"1-minute load average {load[0]} before, "
        f"{load[1]} after (2 cores)"
    )


def table(report: dict) -> str:
    lines = [
        "| expected | claims | accuracy | " + " | ".join(VERDICTS) + " |",
        "|---|---:|---:|" + "---:|" * len(VERDICTS),
    ]
    for expected, accuracy in report["accuracy"].items():
        got = report["confusion"][expected]
        cells = " | ".join(str(got.get(v, 0)) for v in VERDICTS)
        lines.append(f"| {expected} | {report['counts'][expected]} | {accuracy:.3f} | {cells} |")
    lines.append("")
    lines.append("| variant | accuracy |")
    lines.append("|---|---:|")
    for variant, accuracy in report["by_variant"].items():
        lines.append(f"| {variant} | {accuracy:.3f} |")
    return "\n".join(lines)


def markdown(reports: dict[str, dict], command: str, corpus: str, machine: str) -> str:
    lines = [
        markers(SECTION)[0],
        "## Claim checking",
        "",
        f"Produced by `{command}` on {machine}.",
        "",
        corpus,
        "",
        "Latency depends on how busy the machine is (the load average is given): the whole "
        "`QAService.check` is the question path plus the claim checker, whose own share is "
        "given apart; `ask` latency on an idle machine is in docs/benchmarks.md.",
        "",
    ]
    for split, report in reports.items():
        lines += [
            f"### {split} half ({report['claims']} claims)",
            "",
            latency_line(report) + ".",
            "",
            "Rows: the verdict each claim should get; columns: the verdicts it got.",
            "",
            table(report),
            "",
        ]
    lines.append(markers(SECTION)[1])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims", description=__doc__)
    parser.add_argument("--data", type=Path, default=EVAL_DATA, help="the shared eval folder")
    parser.add_argument("--news", type=int, help="index only this many news articles (all)")
    parser.add_argument("--held-out", type=int, default=200, help="news articles left out (200)")
    parser.add_argument("--limit", type=int, help="at most about this many claims")
    parser.add_argument("--split", choices=("all", "tune", "test"), default="all")
    parser.add_argument("--index-cache", type=Path, help="where eval indexes are cached")
    parser.add_argument("--details", type=Path, help="one JSON line per claim")
    parser.add_argument("--output", type=Path, help="write the Markdown section into this file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON last")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if not (args.data / "xquad.de.json").exists():
        parser.error(f"{args.data} has no xquad.de.json: pass --data ../shared/eval")
    started = time.time()
    service, held, build, n_articles = build_service(args, log)
    rng = random.Random(SEED)
    cases = xquad_cases(args.data / "xquad.de.json", rng) + news_cases(held)
    splits = ["tune", "test"] if args.split == "all" else [args.split]
    reports = {}
    all_rows = []
    for split in splits:
        chosen = select(cases, split, args.limit)
        log(f"{split}: {len(chosen)} claims …")
        report, rows = run(chosen, check_with(service), log)
        reports[split] = report
        all_rows += rows
        print(f"\n{split}\n{table(report)}\n{latency_line(report)}")
    if args.details:
        with args.details.open("w", encoding="utf-8") as out:
            for row in all_rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.output:
        shown = [a for a in (argv or sys.argv[1:]) if a != "--json"]
        if "--details" in shown:  # a local file: not part of the reproducible command
            at = shown.index("--details")
            del shown[at : at + 2]
        command = "python -m benchmarks.claims " + shlex.join(shown)
        news_text = f"{args.news} spread news articles" if args.news else "the news articles"
        corpus = (
            f"Index: {n_articles} articles ({build['chunks']:,} chunks): every XQuAD-de "
            f"paragraph and {news_text} of ../shared/eval/news, never the {len(held)} held-out "
            "articles, whose sentences are the `not_found` claims. `supported`: the XQuAD-de "
            "sentence holding a figure or date answer; `contradicted`: the same with that "
            "figure altered; each also with ~20 % of its words dropped and reordered at a "
            "comma (variants). Tune half: XQuAD-de articles 1-24 and the first half of the "
            f"held-out news; test half: the rest. Whole run {time.time() - started:.0f} s."
        )
        write_section(
            args.output, SECTION, markdown(reports, command, corpus, machine_line(describe()))
        )
        log(f"wrote the claims section of {args.output}")
    if args.json:
        print(json.dumps({"reports": reports, "index_chunks": build["chunks"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
