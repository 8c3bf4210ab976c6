"""Time in questions, measured: does the first snippet come from the article of the right period?

    python -m benchmarks.dated                 # German and English sets, a table
    python -m benchmarks.dated --lang de --json --details /tmp/dated.jsonl
    python -m benchmarks.dated --markdown --undated-limit 300 --output docs/results.md
                                               # the "Time" section of docs/results.md

Each set is a JSONL corpus of news items in pairs (and one triple) on one topic from different
years with different figures (`benchmarks/data/dated.<lang>.jsonl`, written for this benchmark;
the figures are close to the real ones but not a source) and a question file naming the article
that should answer (`dated.<lang>.questions.jsonl`: `question`, `kind`, `expect_url`). Kinds:
`present` (present tense, no time word: the newest item is right), `now` ("aktuell",
"derzeit" ...: the newest), `year` (a year, month or range: the item of that period),
`relative` ("vor zehn Jahren", "letzte Woche": resolved against the archive's newest date).

The corpus is read with the product's reader (`qa.corpus.read_file`, so dates and URLs come
from the JSON fields as for any user), indexed with `build_index` into a temporary folder
(vectors come from the embedding cache after the first run) and asked through
`QAService.ask_batch`, the path of `qa ask`. Reported:

- `right_period_first`: the first snippet is from the expected article (a decline is a miss),
  overall and per kind;
- `citations_with_date`, `citations_with_url`: shares of all citations given;
- `urls_carried`: of the citations whose article has a URL, the share whose citation carries it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmarks.sections import markers, write_section

DATA = Path(__file__).resolve().parent / "data"
LANGS = ("de", "en")
KINDS = ("present", "now", "year", "relative")


@dataclass(frozen=True)
class Question:
    question: str
    kind: str
    expect_url: str


def load_questions(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Question(r["question"], r["kind"], r["expect_url"]) for r in rows]


def share(hits: list[float]) -> float:
    return round(sum(hits) / len(hits), 3) if hits else 0.0


# The time preferences switched off: how the product answered these questions before issue 16.
WITHOUT_TIME = ("fusion.period=0", "reader.period=0", "reader.recency_margin=0")


def run_set(lang: str, variants: list, log) -> list[tuple[dict, list[dict]]]:
    """Index one language's corpus once, ask its questions under each `Settings` in `variants`;
    per variant (report, one detail row per question)."""
    from qa.corpus import read_file
    from qa.embedding import load_embedder
    from qa.index import build_index
    from qa.service import QAService

    corpus = DATA / f"dated.{lang}.jsonl"
    questions = load_questions(DATA / f"dated.{lang}.questions.jsonl")
    articles, skipped = read_file(corpus, DATA, variants[0])
    if skipped:
        raise SystemExit(f"error: {corpus} has unreadable records: {skipped[:3]}")
    url_of = {a.doc_id: a.url for a in articles}
    out = []
    with tempfile.TemporaryDirectory(prefix="qa-dated-") as tmp:
        started = time.perf_counter()
        first = variants[0]
        embedder = load_embedder(first.model, first.encoder, first.model_dir, first.batch_size)
        build_index(articles, Path(tmp), first, embedder)
        log(f"{lang}: indexed {len(articles)} items in {time.perf_counter() - started:.1f} s")
        for settings in variants:
            service = QAService(Path(tmp), settings, embedder)
            started = time.perf_counter()
            answers = service.ask_batch([q.question for q in questions])
            seconds = time.perf_counter() - started
            out.append(score(lang, questions, answers, url_of, len(articles), seconds))
    return out


def score(lang, questions, answers, url_of, n_articles, seconds) -> tuple[dict, list[dict]]:
    details, right, by_kind = [], [], defaultdict(list)
    dated = linked = carried = with_url = 0
    citations = 0
    for q, answer in zip(questions, answers, strict=True):
        first = answer.snippets[0].citation if answer.snippets else None
        hit = 1.0 if first is not None and url_of[first.doc_id] == q.expect_url else 0.0
        right.append(hit)
        by_kind[q.kind].append(hit)
        for snippet in answer.snippets:
            c = snippet.citation
            citations += 1
            dated += bool(c.date)
            linked += bool(c.url)
            if url_of[c.doc_id]:
                with_url += 1
                carried += c.url == url_of[c.doc_id]
        details.append(
            {
                "question": q.question,
                "kind": q.kind,
                "right": bool(hit),
                "expected": q.expect_url,
                "first": url_of[first.doc_id] if first else None,
                "first_date": first.date if first else None,
                "period": answer.period.to_dict() if answer.period is not None else None,
                "snippets": [s.text for s in answer.snippets],
            }
        )
    report = {
        "set": f"dated.{lang}",
        "questions": len(questions),
        "articles": n_articles,
        "right_period_first": share(right),
        "by_kind": {k: share(by_kind[k]) for k in KINDS if by_kind[k]},
        "by_kind_n": {k: len(by_kind[k]) for k in KINDS if by_kind[k]},
        "citations": citations,
        "citations_with_date": round(dated / citations, 3) if citations else 0.0,
        "citations_with_url": round(linked / citations, 3) if citations else 0.0,
        "urls_carried": round(carried / with_url, 3) if with_url else 0.0,
        "ask_seconds": round(seconds, 2),
    }
    return report, details


SECTION = "time"
UNDATED = (("XQuAD-de", "xquad.de.json"), ("MLQA-de", "mlqa.dev.de.json"))


def time_section(log, command: str, undated_limit: int | None = None) -> str:
    """The "Time" section of docs/results.md: both dated sets with and without the time
    preferences; with `undated_limit`, also XQuAD-de and MLQA-de (undated) both ways."""
    from qa.config import Settings, apply_overrides

    variants = [Settings(), apply_overrides(Settings(), WITHOUT_TIME)]
    reports = []
    for lang in LANGS:
        (on, _), (off, _) = run_set(lang, variants, log)
        reports += [on, off | {"set": f"{off['set']} (time off)"}]
    switch = " ".join("--set " + s for s in WITHOUT_TIME)
    lines = [
        markers(SECTION)[0],
        "## Time",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M %Z')}. Own dated sets "
        "(`benchmarks/data/dated.*`: pairs of news items on one topic from different years with "
        "different figures, written for this benchmark); **right period first**: the first "
        "snippet is from the expected article. Kinds: present tense without a time word (the "
        'newest is right), now words ("aktuell", "derzeit"), a year, month or range, relative '
        'words ("vor zehn Jahren", "letzte Woche", counted from the archive\'s newest date). '
        "*dated*, *URL*: shares of citations with a date / a URL; *URL carried*: of the "
        "citations whose article has a URL, the share that carries it. *time off*: the same "
        f"code with `{switch}`, i.e. without the period boost and the newest-first preference.",
        "",
        format_table(reports),
        "",
        "The sets and the time settings (`fusion.period`, `reader.period`, "
        "`reader.recency_margin`, `reader.recency_similarity`) were chosen together, so these "
        "figures are not held out.",
    ]
    if undated_limit:
        lines += ["", *undated_table(variants, undated_limit, log)]
    lines.append(markers(SECTION)[1])
    return "\n".join(lines)


def undated_table(variants: list, limit: int, log) -> list[str]:
    """XQuAD-de and MLQA-de (undated) with and without the time preferences: both preferences
    act only between dated articles, so the two rows of a set must agree."""
    from benchmarks.machine import EVAL_DATA
    from qa.embedding import load_embedder
    from qa.eval.run import evaluate

    if not EVAL_DATA.exists():
        return [f"(The undated check needs {EVAL_DATA}; it was not there.)"]
    first = variants[0]
    embedder = load_embedder(first.model, first.encoder, first.model_dir, first.batch_size)
    rows = [
        f"Undated sets, {limit} questions each, with and without the time preferences:",
        "",
        "| set | time | hit@1 | snippet@1 | snippet@3 | declined |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, name in UNDATED:
        for settings, mode in zip(variants, ("on", "off"), strict=True):
            report = evaluate(
                EVAL_DATA / name,
                limit=limit,
                settings=settings,
                latency_sample=0,
                embedder=embedder,
                log=log,
            ).report
            cells = [f"{report[m]:.3f}" for m in ("hit@1", "snippet@1", "snippet@3", "declined")]
            rows.append(f"| {label} | {mode} | " + " | ".join(cells) + " |")
    return rows


def format_table(reports: list[dict]) -> str:
    head = ["set", "n", "right period first"] + list(KINDS) + ["dated", "URL", "URL carried"]
    rows = [head, ["---"] * len(head)]
    for r in reports:
        kinds = [
            f"{r['by_kind'][k]:.3f} ({r['by_kind_n'][k]})" if k in r["by_kind"] else "–"
            for k in KINDS
        ]
        rows.append(
            [r["set"], str(r["questions"]), f"{r['right_period_first']:.3f}", *kinds]
            + [f"{r['citations_with_date']:.3f}", f"{r['citations_with_url']:.3f}"]
            + [f"{r['urls_carried']:.3f}"]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dated", description=__doc__)
    parser.add_argument("--lang", choices=(*LANGS, "all"), default="all")
    parser.add_argument("--json", action="store_true", help="also print the reports as JSON")
    parser.add_argument("--details", type=Path, help="write one JSON line per question here")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the Time section of docs/results.md (both sets, with and without time)",
    )
    parser.add_argument(
        "--output", type=Path, help="with --markdown: write the section into this file"
    )
    parser.add_argument(
        "--undated-limit",
        type=int,
        help="with --markdown: also run XQuAD-de and MLQA-de (N questions each) both ways",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="try a setting, e.g. --set reader.period=0 (as `qa eval --set`)",
    )
    args = parser.parse_args(argv)

    from qa.config import Settings, apply_overrides

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.markdown:
        command = "python -m benchmarks.dated " + shlex.join(argv or sys.argv[1:])
        section = time_section(log, command.strip(), args.undated_limit)
        print(section)
        if args.output:
            write_section(args.output, SECTION, section)
            log(f"wrote the Time section of {args.output}")
        return 0
    settings = apply_overrides(Settings(), args.set)
    reports, details = [], []
    for lang in LANGS if args.lang == "all" else (args.lang,):
        [(report, rows)] = run_set(lang, [settings], log)
        reports.append(report)
        details.extend({"set": report["set"], **row} for row in rows)
    print(format_table(reports))
    if args.details:
        with args.details.open("w", encoding="utf-8") as out:
            for row in details:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(reports, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
