"""Follow-up questions in the chat (issue 15), measured with and without the conversation.

    python -m benchmarks.followups [--news N] [--unrelated N] [--json] [--details FILE]
                                   [--output docs/results.md]

Corpus: the 240 XQuAD-de paragraphs (one article each), the seed articles and, with `--news N`,
N real news articles spread over `../shared/eval/news` as distractors, indexed once into
`$QA_CACHE_DIR/eval/followups-<key>` (reused while articles, settings and indexing code stay).

1. Follow-ups (`benchmarks/data/followups.jsonl`, hand-made: a first question, a follow-up typed
   the way chat users type without naming its subject, the expected answer texts). The first
   question is asked; then the follow-up twice: alone, as a stateless chat would, and with the
   first turn as history, as `qa chat` and the page do (`qa.followup.resolve` +
   `QAService.ask_batch(..., contexts)`, the code of `QAService.ask_in_context`). `snippet@1`:
   the first snippet holds one of the expected texts (case and spacing ignored).
2. Unrelated pairs: consecutive XQuAD-de questions from different articles (article a, then
   article a+1). The second is asked alone and after the first; `changed` is the share whose
   first snippet (text and place) differs. Target: <= 2 %.

The pairs were written before anything was measured; after the first run three follow-ups that
named their own subject or answer ("... im 800-Meter-Lauf?", "... Auftritt 2001-02 ...",
"Und in Venedig 1576-77?") were reworded so that they do not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.machine import EVAL_DATA, REPO, describe, load_average, machine_line
from benchmarks.sections import markers, write_section
from qa.config import Settings
from qa.embedding import Embedder
from qa.eval.datasets import Dataset, load_dataset, load_distractors, merge, spread
from qa.eval.metrics import contains_answer
from qa.eval.run import ensure_index
from qa.followup import Turn, resolve
from qa.service import QAService
from qa.types import Answer

PAIRS = REPO / "benchmarks" / "data" / "followups.jsonl"
XQUAD = EVAL_DATA / "xquad.de.json"
NEWS = EVAL_DATA / "news"
BATCH = 32
SECTION = "followups"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Pair:
    id: int
    source: str
    first: str
    followup: str
    answers: tuple[str, ...]


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [
        Pair(r["id"], r["source"], r["first"], r["followup"], tuple(r["answers"])) for r in rows
    ]


def first_snippet_hit(answer: Answer, answers: Sequence[str]) -> bool:
    return bool(answer.snippets) and contains_answer(answer.snippets[0].text, answers)


def first_snippet(answer: Answer) -> tuple | None:
    """What the user sees first: the snippet's text and where it stands (None: declined)."""
    if not answer.snippets:
        return None
    s = answer.snippets[0]
    return (s.text, s.citation.doc_id, s.citation.start)


def ask(service: QAService, questions: Sequence[str], histories=None) -> tuple[list, list]:
    """Answers in batches; with `histories[i]`, question i is resolved against it first."""
    queries = [resolve(q, histories[i] if histories else []) for i, q in enumerate(questions)]
    answers: list[Answer] = []
    for i in range(0, len(queries), BATCH):
        part = queries[i : i + BATCH]
        answers += service.ask_batch([q.question for q in part], None, [q.context for q in part])
    return answers, [q.context for q in queries]


def measure_followups(service: QAService, pairs: Sequence[Pair]) -> dict:
    firsts, _ = ask(service, [p.first for p in pairs])
    alone, _ = ask(service, [p.followup for p in pairs])
    histories = [[Turn.of(a)] for a in firsts]
    with_history, contexts = ask(service, [p.followup for p in pairs], histories)
    rows = [
        {
            "id": p.id,
            "source": p.source,
            "first": p.first,
            "followup": p.followup,
            "first_declined": f.abstained,
            "context": c.question if c else None,
            "alone_hit": first_snippet_hit(a, p.answers),
            "with_history_hit": first_snippet_hit(h, p.answers),
            "with_history_snippet": h.snippets[0].text if h.snippets else None,
        }
        for p, f, a, h, c in zip(pairs, firsts, alone, with_history, contexts, strict=True)
    ]
    n = len(rows)
    with_rate = sum(r["with_history_hit"] for r in rows) / n
    alone_rate = sum(r["alone_hit"] for r in rows) / n
    return {
        "pairs": n,
        "snippet@1_with_history": round(with_rate, 3),
        "snippet@1_without_history": round(alone_rate, 3),
        "gain": round(with_rate - alone_rate, 3),
        "recognised_as_followup": round(sum(r["context"] is not None for r in rows) / n, 3),
        "first_declined": sum(r["first_declined"] for r in rows),
        "rows": rows,
    }


def unrelated_pairs(dataset: Dataset, n: int) -> list[tuple[str, str]]:
    """`n` pairs (question of article a, question of article a+1), varied over the articles."""
    by_article: dict[str, list[str]] = {}
    source_of = {a.doc_id: a.source for a in dataset.articles}
    for q in dataset.questions:
        article = source_of[q.gold].rsplit("/", 1)[0]
        by_article.setdefault(article, []).append(q.text)
    groups = list(by_article.values())
    pairs = []
    for i in range(n):
        a, round_ = i % len(groups), i // len(groups)
        first, second = groups[a], groups[(a + 1) % len(groups)]
        pairs.append((first[(5 * round_) % len(first)], second[(5 * round_ + 2) % len(second)]))
    return pairs


def measure_unrelated(service: QAService, pairs: Sequence[tuple[str, str]]) -> dict:
    firsts, _ = ask(service, [a for a, _ in pairs])
    alone, _ = ask(service, [b for _, b in pairs])
    histories = [[Turn.of(f)] for f in firsts]
    after, contexts = ask(service, [b for _, b in pairs], histories)
    changed = [
        {"first": a, "second": b, "context": c.question if c else None}
        for (a, b), x, y, c in zip(pairs, alone, after, contexts, strict=True)
        if first_snippet(x) != first_snippet(y)
    ]
    return {
        "pairs": len(pairs),
        "changed": round(len(changed) / len(pairs), 4),
        "treated_as_followup": round(sum(c is not None for c in contexts) / len(pairs), 4),
        "changed_pairs": changed,
    }


def corpus_index(settings: Settings, news: int) -> tuple[Path, Dataset, int]:
    dataset = load_dataset(XQUAD)
    extra = load_distractors([REPO / "seeds"], settings)
    if news:
        extra += spread(load_distractors([NEWS], settings), news)
    articles = merge(dataset.articles, extra)
    embedder = Embedder(settings.model, settings.model_dir, settings.batch_size)
    index_dir, _, _ = ensure_index(
        "followups", articles, settings, embedder, settings.cache_dir / "eval", log
    )
    return index_dir, dataset, len(articles)


def report_lines(report: dict) -> list[str]:
    f, u = report["followups"], report["unrelated"]
    return [
        f"corpus: {report['articles']} articles (XQuAD-de paragraphs, seeds, "
        f"{report['news']} news articles)",
        f"follow-ups ({f['pairs']} pairs, {f['recognised_as_followup']:.0%} recognised):",
        f"  snippet@1 with history     {f['snippet@1_with_history']:.3f}",
        f"  snippet@1 without history  {f['snippet@1_without_history']:.3f}",
        f"  gain                       {f['gain']:+.3f}",
        f"unrelated pairs ({u['pairs']}): first snippet changed by history {u['changed']:.1%} "
        f"({u['treated_as_followup']:.1%} treated as follow-ups)",
        f"{report['seconds']:.0f} s (load average {report['load_average']}); {report['machine']}",
    ]


def markdown(report: dict, command: str) -> str:
    """The "Follow-up questions" section of docs/results.md, between its markers."""
    f, u = report["followups"], report["unrelated"]
    misses = [r for r in f["rows"] if not r["with_history_hit"]]
    changed = u["changed_pairs"]
    return "\n".join(
        [
            markers(SECTION)[0],
            "## Follow-up questions",
            "",
            f"Produced by `{command}` ({report['seconds'] / 60:.0f} min, load average "
            f"{report['load_average']}) on {report['machine']}.",
            "",
            f"Corpus: {report['articles']:,} articles (the XQuAD-de paragraphs, the seed "
            f"articles and {report['news']} news articles). {f['pairs']} hand-made pairs "
            "(`benchmarks/data/followups.jsonl`: a first question, a follow-up typed without "
            "its subject, the expected answer); the follow-up is asked alone and after the "
            "first turn (`QAService.ask_in_context`, as `qa chat` and the page do). Unrelated "
            "pairs: a question of XQuAD-de article a, then one of article a+1.",
            "",
            "| measure | value | target |",
            "|---|---:|---:|",
            f"| follow-up snippet@1 with history | {f['snippet@1_with_history']:.3f} | >= 0.80 |",
            f"| follow-up snippet@1 without history | {f['snippet@1_without_history']:.3f} | |",
            f"| gain from the history | {f['gain']:+.3f} | >= +0.30 |",
            f"| follow-ups recognised as such | {f['recognised_as_followup']:.3f} | |",
            f"| unrelated pairs whose first snippet changed | {u['changed']:.3f} "
            f"({u['pairs']} pairs) | <= 0.02 |",
            f"| unrelated second questions taken as follow-ups | {u['treated_as_followup']:.3f}"
            " | |",
            "",
            "Follow-ups still missed with history: "
            + ("; ".join(f"„{r['followup']}“ (after „{r['first']}“)" for r in misses) or "none")
            + ". Unrelated pairs that changed: "
            + ("; ".join(f"„{c['second']}“ after „{c['first']}“" for c in changed) or "none")
            + ". The figure without history depends on the corpus: the fewer other articles, the"
            " more often a vague follow-up finds its paragraph by its remaining words alone.",
            markers(SECTION)[1],
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.followups", description=__doc__)
    parser.add_argument("--news", type=int, default=100, help="news distractors (100; 0: none)")
    parser.add_argument("--unrelated", type=int, default=144, help="unrelated pairs (144)")
    parser.add_argument("--json", action="store_true", help="end with the report as JSON")
    parser.add_argument("--details", type=Path, help="write per-pair results as JSON")
    parser.add_argument("--output", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = Settings()
    index_dir, dataset, n_articles = corpus_index(settings, args.news if NEWS.exists() else 0)
    service = QAService(index_dir, settings)
    service.warm_up()
    report = {
        "articles": n_articles,
        "news": args.news if NEWS.exists() else 0,
        "followups": measure_followups(service, load_pairs()),
        "unrelated": measure_unrelated(service, unrelated_pairs(dataset, args.unrelated)),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    info = describe()
    report["machine"] = f"{info['date']}, commit {info['commit']}, {machine_line(info)}"
    report["load_average"] = load_average()
    if args.details:
        args.details.write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    print("\n".join(report_lines(report)))
    if args.output:
        command = "python -m benchmarks.followups " + " ".join(argv or sys.argv[1:])
        write_section(args.output, SECTION, markdown(report, command.strip()))
        log(f"wrote the follow-up section of {args.output}")
    if args.json:
        summary = {k: v for k, v in report.items() if k not in ("followups", "unrelated")}
        summary["followups"] = {k: v for k, v in report["followups"].items() if k != "rows"}
        summary["unrelated"] = {
            k: v for k, v in report["unrelated"].items() if k != "changed_pairs"
        }
        print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
