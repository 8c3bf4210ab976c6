"""Sentence splitters compared: the hand-written `qa.chunking.sentence_spans` vs SoMaJo.

    python -m benchmarks.splitters

Sentences decide what a snippet can be, so the measure is about answers: the share of gold
answer spans (XQuAD-de, MLQA-de, GermanQuAD train) that lie inside one sentence, and inside a
window of at most two sentences (the reader's largest snippet); plus sentences per paragraph,
mean sentence length and speed. Both splitters see the same text; SoMaJo's tokens are mapped
back to character offsets.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from qa.chunking import sentence_spans

SHARED = Path(__file__).resolve().parents[2] / "shared"


def somajo_spans(splitter, text: str) -> list[tuple[int, int]]:
    """SoMaJo's sentences as `(start, end)` offsets into `text` (paragraphs split on lines)."""
    spans, offset = [], 0
    for line in text.split("\n"):
        cursor = 0
        if line.strip():
            for sentence in splitter.tokenize_text([line]):
                words = [t.text for t in sentence]
                start = end = None
                for word in words:
                    found = line.find(word, cursor)
                    if found < 0:
                        continue
                    start = found if start is None else start
                    cursor = end = found + len(word)
                if start is not None:
                    spans.append((offset + start, offset + end))
        offset += len(line) + 1
    return spans


def answers(name: str):
    if name == "gquad":
        rows = json.loads((SHARED / "train" / "GermanQuAD_train_filtered.json").read_text("utf-8"))
        for row in rows:
            start = row["context"].find(row["answer"])
            if start >= 0:
                yield row["context"], start, start + len(row["answer"])
        return
    data = json.loads((SHARED / "eval" / f"{name}.json").read_text("utf-8"))["data"]
    for item in data:
        for p in item["paragraphs"]:
            for qa in p["qas"]:
                for a in qa["answers"][:1]:
                    yield p["context"], a["answer_start"], a["answer_start"] + len(a["text"])


def inside(spans, start: int, end: int, size: int) -> bool:
    return any(
        spans[i][0] <= start and end <= spans[min(i + size - 1, len(spans) - 1)][1]
        for i in range(len(spans))
    )


def main() -> None:
    from somajo import SoMaJo

    splitter = SoMaJo("de_CMC", split_sentences=True)
    print(
        "| set | splitter | answers in 1 sentence | in ≤ 2 sentences | sentences/paragraph "
        "| mean chars | ms/paragraph |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in ("xquad.de", "mlqa.dev.de"):
        items = list(answers(name))
        contexts = list(dict.fromkeys(c for c, _, _ in items))
        for label, split in (
            ("hand-written", sentence_spans),
            ("SoMaJo de_CMC", lambda t: somajo_spans(splitter, t)),
        ):
            started = time.perf_counter()
            spans = {c: split(c) for c in contexts}
            ms = (time.perf_counter() - started) * 1000 / len(contexts)
            one = sum(inside(spans[c], s, e, 1) for c, s, e in items) / len(items)
            two = sum(inside(spans[c], s, e, 2) for c, s, e in items) / len(items)
            n = sum(len(v) for v in spans.values())
            chars = sum(e - s for v in spans.values() for s, e in v) / max(n, 1)
            print(
                f"| {name} | {label} | {one:.3f} | {two:.3f} | {n / len(contexts):.1f} "
                f"| {chars:.0f} | {ms:.1f} |"
            )


if __name__ == "__main__":
    main()
