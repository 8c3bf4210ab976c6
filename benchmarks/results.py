"""The evaluation report: `qa eval` on XQuAD-de and MLQA-de, with and without news distractors.

    python -m benchmarks.results --output docs/results.md      (what `make eval` runs)

Each set is also asked the other set's questions (`--unanswerable`), which it cannot answer.
XQuAD-de is reported as a whole and by halves (tune: articles 1-24, test: 25-48), from the same
run. Indexes and vectors are cached (see `qa eval`), so a rerun after a reader or retrieval
change takes minutes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.machine import EVAL_DATA, describe, machine_line


@dataclass(frozen=True)
class Run:
    label: str
    dataset: str
    distractors: bool
    unanswerable: str


# Sections of docs/results.md that other scripts write (benchmarks.followups, fit_reader, dated,
# claims): this script rewrites the file and carries them over.
OTHER_SECTIONS = ("followups", "reader", "time", "claims")

RUNS = (
    Run("XQuAD-de", "xquad.de.json", False, "mlqa.dev.de.json"),
    Run("XQuAD-de + news", "xquad.de.json", True, "mlqa.dev.de.json"),
    Run("MLQA-de", "mlqa.dev.de.json", False, "xquad.de.json"),
    Run("MLQA-de + news", "mlqa.dev.de.json", True, "xquad.de.json"),
)

QUALITY = (
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr@10",
    "snippet@1",
    "snippet@3",
    "mean_snippet_chars",
    "declined",
)


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.0f}"
    return str(value)


def markdown(reports: list[dict], halves: list[dict], info: dict, command: str, minutes: float):
    news = reports[1]["distractors"] if len(reports) > 1 else reports[0]["distractors"]
    lines = [
        "# Results",
        "",
        f"Produced by `{command}` (`make eval`, {minutes:.0f} min) on {info['date']}, commit "
        f"{info['commit']}.",
        f"Machine: {machine_line(info)}.",
        "",
        'Every paragraph of a set is one article; "+ news" mixes '
        f"{news['articles']:,} real news articles ({', '.join(news['paths']) or 'none'}) into "
        "the same corpus. Every question goes through `QAService.ask_batch`, the code path of "
        "`qa ask`, with the default settings.",
        "",
        "## Quality",
        "",
        "| run | questions | chunks | hit@1 | hit@3 | hit@5 | mrr@10 | snippet@1 | snippet@3 | "
        "snippet chars | declined | unanswerable declined |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        cells = [_cell(r[k]) for k in QUALITY]
        other = f"{_cell(r['unanswerable_declined'])} ({r['unanswerable_questions']} q.)"
        row = [r["label"], str(r["questions"]), f"{r['chunks']:,}", *cells, other]
        lines.append("| " + " | ".join(row) + " |")
    if halves:
        lines += [
            "",
            "### XQuAD-de by halves (same runs)",
            "",
            "Tune on `tune` (articles 1–24), report `test` (articles 25–48) and MLQA-de: "
            "`qa eval … --split tune`.",
            "",
            "| run | half | questions | hit@1 | hit@3 | hit@5 | mrr@10 | snippet@1 | snippet@3 | "
            "snippet chars | declined |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for h in halves:
            cells = " | ".join(_cell(h[k]) for k in QUALITY)
            lines.append(f"| {h['label']} | {h['half']} | {h['questions']} | {cells} |")
    lines += [
        "",
        "## Speed",
        "",
        "| run | index build s | chunks/s | texts embedded in that build | answers: q/s (batches "
        "of 64) | latency p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        reused = " (cached)" if r["index_reused"] else ""
        # With nothing embedded the build only read vectors: its chunks/s says nothing.
        rate = f"{r['chunks_per_second']:.1f}" if r["index_embedded"] else "– (all cached)"
        lines.append(
            f"| {r['label']} | {r['index_seconds']:.1f}{reused} | {rate} | "
            f"{r['index_embedded']:,} | {r['questions_per_second']:.2f} | "
            f"{_cell(r['latency_p50_ms'])} | {_cell(r['latency_p95_ms'])} |"
        )
    lines += [
        "",
        "Index figures are those of the build that made the cached index. Texts (sentences) "
        "found in the embedding cache are not encoded again, so chunks/s depends on how many "
        "were embedded; the encoder's honest throughput is in docs/benchmarks.md. Latency: "
        "single warm `QAService.ask` calls on questions spread over the set "
        f"({reports[0]['latency_sample']} per run).",
        "",
        "## What the columns mean",
        "",
        "- **hit@1, hit@3**: the gold paragraph is among the first 1 / 3 distinct articles the "
        "answer *cites* (snippet order); a declined answer cites nothing and counts as a miss.",
        "- **hit@5, mrr@10**: from the retrieval ranking alone (`Retriever.search_batch` on the "
        "same query vectors; distinct articles in hit order), so they do not depend on the reader.",
        "- **snippet@1, snippet@3**: the first / one of the first three snippets contains a gold "
        "answer text (case-insensitive, white space normalised). **snippet chars**: mean length.",
        "- **declined**: share of the set's own (answerable) questions the reader declined. "
        "**unanswerable declined**: share of the *other* set's questions declined against this "
        "corpus (higher is better).",
        "",
        "Per-question records for error analysis: `qa eval DATASET --details FILE`.",
        "",
        "How the default settings were chosen (tuned on XQuAD-de articles 1-24), with one row per "
        "change kept or dropped and the figures before and after: `docs/tuning.md`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from qa.config import Settings
    from qa.embedding import Embedder
    from qa.eval.metrics import summarise
    from qa.eval.run import evaluate

    parser = argparse.ArgumentParser(prog="python -m benchmarks.results")
    parser.add_argument("--data", type=Path, default=EVAL_DATA, help="folder of the eval data")
    parser.add_argument("--output", type=Path, help="write the Markdown report here")
    parser.add_argument("--limit", type=int, help="only N questions per set (a quick look)")
    parser.add_argument("--latency-sample", type=int, default=100, help="single asks timed")
    parser.add_argument("--index-cache", type=Path, help="index cache folder (CACHE/eval)")
    parser.add_argument("--details", type=Path, help="folder for per-question JSON lines")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    info = describe()
    settings = Settings()
    embedder = Embedder(settings.model, settings.model_dir, settings.batch_size)
    reports, halves = [], []
    for run in RUNS:
        print(f"== {run.label}", file=sys.stderr, flush=True)
        result = evaluate(
            args.data / run.dataset,
            distractors=[args.data / "news"] if run.distractors else [],
            unanswerable=args.data / run.unanswerable,
            limit=args.limit,
            settings=settings,
            cache_root=args.index_cache,
            latency_sample=args.latency_sample,
            embedder=embedder,
        )
        report = {"label": run.label} | result.report
        reports.append(report)
        print(json.dumps(report, ensure_ascii=False), flush=True)
        if args.details:
            from qa.eval.run import write_details

            args.details.mkdir(parents=True, exist_ok=True)
            name = run.label.lower().replace(" + ", "-").replace(" ", "-")
            write_details(args.details / f"{name}.jsonl", result.outcomes)
        if run.dataset.startswith("xquad"):
            for half in ("tune", "test"):
                part = [o for o in result.outcomes if o.half == half]
                halves.append(
                    {"label": run.label, "half": half, "questions": len(part)} | summarise(part)
                )
    command = "python -m benchmarks.results" + (" " + shlex.join(argv or sys.argv[1:])).rstrip()
    text = markdown(reports, halves, info, command, (time.perf_counter() - started) / 60)
    print(text)
    if args.output:
        from benchmarks.sections import carry_sections

        args.output.parent.mkdir(parents=True, exist_ok=True)
        text = carry_sections(args.output, text, OTHER_SECTIONS)
        args.output.write_text(text, "utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
