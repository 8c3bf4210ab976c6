"""Fit the answer-phrase span head (`qa/phrase_head.npz`) on the encoder's frozen token states.

    python -m benchmarks.fit_phrase states   # once: token states of every training window
    python -m benchmarks.fit_phrase fit --write qa/phrase_head.npz   # report, then write

`states` runs the product's int8 encoder (`qa.onnx_encoder`, the same call as `qa ask`) once
per training window on "query: <question> passage: <window>", and caches the passage tokens'
last hidden states under `--work`. A window is the sentence that holds the gold answer, alone
and with the sentence before or after it (snippets are one or two sentences). `fit` trains a
small MLP (torch, here only; the product runs it in numpy) that scores each passage token as the
answer's first and last token, and reports token F1 / EM on windows it was not fitted on:

- XQuAD-de test half (fitted on everything else: XQuAD-de tune half, MLQA-de dev, GermanQuAD
  and GermanDPR train subsets);
- MLQA-de dev in 5 folds (each fold from a fit without it, and without XQuAD-de's test half).

The shipped head is fitted on everything except XQuAD-de's test half. Data (all under
../shared): GermanQuAD / GermanDPR train subsets (deepset, CC BY 4.0; Möller, Risch, Pietsch
2021, arXiv:2104.12741), XQuAD-de, MLQA-de dev.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WORK = Path("/work/scratch/phrase")
SEED = 13


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Example:
    set: str
    qid: str
    half: str  # "tune"/"test" (XQuAD), "0".."4" (MLQA fold), "train" (GermanQuAD/DPR)
    question: str
    answers: tuple[str, ...]
    window: str  # the snippet text the head reads
    answer_span: tuple[int, int]  # gold answer's offsets in `window`
    variant: str  # "one" sentence, "prev" or "next" (two sentences)


def questions(work: Path):
    """(set, qid, half, question, answers, paragraph) of every question with a findable answer."""
    from benchmarks.fit_reader import train_sets
    from qa.eval.datasets import load_dataset

    sets = {
        "xquad": SHARED / "eval" / "xquad.de.json",
        "mlqa": SHARED / "eval" / "mlqa.dev.de.json",
    }
    work.mkdir(parents=True, exist_ok=True)
    sets |= train_sets(work)
    for name, path in sets.items():
        ds = load_dataset(path)
        text_of = {a.doc_id: a.text for a in ds.articles}
        for i, q in enumerate(ds.questions):  # folds as benchmarks.fit_reader numbers them
            half = q.half if name == "xquad" else (str(i % 5) if name == "mlqa" else "train")
            yield name, q.qid, half, q.text, q.answers, text_of[q.gold]


def windows_of(question, text: str) -> list[Example]:
    """The training windows of one question: its answer's sentence, alone and with a neighbour."""
    from qa.chunking import sentence_spans

    name, qid, half, qtext, answers, _ = question
    start = -1
    for gold in answers:
        if (start := text.find(gold)) >= 0:
            break
    if start < 0:
        return []
    end = start + len(gold)
    spans = sentence_spans(text)
    first = next((k for k, (a, b) in enumerate(spans) if a <= start < b), None)
    last = next((k for k, (a, b) in enumerate(spans) if a < end <= b), None)
    if first is None or last is None:
        return []
    variants = [("one", first, last)]
    if first > 0:
        variants.append(("prev", first - 1, last))
    if last + 1 < len(spans):
        variants.append(("next", first, last + 1))
    out = []
    for variant, a, b in variants:
        w0, w1 = spans[a][0], spans[b][1]
        out.append(
            Example(name, qid, half, qtext, answers, text[w0:w1], (start - w0, end - w0), variant)
        )
    return out


def states(work: Path) -> None:
    from qa import phrase
    from qa.config import Settings
    from qa.onnx_encoder import OnnxEmbedder

    encoder = OnnxEmbedder(models_dir=Settings().model_dir)
    path = work / "states.pkl"
    cache = pickle.loads(path.read_bytes()) if path.exists() else {}
    examples = [ex for q in questions(work) for ex in windows_of(q, q[5])]
    log(f"{len(examples)} windows, {len(cache)} cached")
    started = time.perf_counter()
    for n, ex in enumerate(examples):
        key = (ex.question, ex.window)
        if key not in cache:
            tok = phrase.encode_pair(encoder, ex.question, ex.window)
            cache[key] = (tok.states.astype(np.float16), tok.spans, tok.query.astype(np.float16))
        if n % 500 == 0:
            log(f"  {n}/{len(examples)} {time.perf_counter() - started:.0f} s")
            path.write_bytes(pickle.dumps(cache))
    path.write_bytes(pickle.dumps(cache))
    (work / "examples.pkl").write_bytes(pickle.dumps(examples))
    log(f"done: {len(cache)} windows in {time.perf_counter() - started:.0f} s")


# --- Fitting ------------------------------------------------------------------------------------


def targets(
    spans: np.ndarray, answer: tuple[int, int], among: np.ndarray | None = None
) -> tuple[int, int] | None:
    """The tokens that hold the answer's first and last character (of those `among` marks)."""
    a, b = answer
    touches = (spans[:, 1] > a) & (spans[:, 0] < b)
    inside = np.flatnonzero(touches if among is None else among & touches)
    if not len(inside):
        return None
    return int(inside[0]), int(inside[-1])


def tensors(examples: list[Example], cache: dict, hand: bool):
    from qa import phrase

    rows = []
    for ex in examples:
        st, spans, query = cache[(ex.question, ex.window)]
        spans = np.asarray(spans)
        t = targets(spans, ex.answer_span)
        if t is None:
            continue
        extra = phrase.piece_features(ex.question, ex.window, spans) if hand else None
        x = phrase.head_inputs(st.astype(np.float32), query.astype(np.float32), extra)
        rows.append((x, t))
    return rows


def train(rows, hidden: int, epochs: int, lr: float, decay: float, dropout: float) -> dict:
    """An MLP token -> (start, end) logits, softmax over each window's tokens (torch)."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    dim = rows[0][0].shape[1]
    # Standardised inputs (a few dimensions of the states are far larger than the rest); the
    # scaling is folded into the first layer below, so the product reads raw inputs.
    stacked = np.concatenate([x for x, _ in rows])
    mu, sd = stacked.mean(axis=0), stacked.std(axis=0) + 1e-3
    del stacked
    rows = [((x - mu) / sd, t) for x, t in rows]
    net = torch.nn.Sequential(
        torch.nn.Dropout(dropout),
        torch.nn.Linear(dim, hidden),
        torch.nn.GELU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, 2),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=decay)
    batch = 32
    for _epoch in range(epochs):
        net.train()
        order = rng.permutation(len(rows))
        for i in range(0, len(order), batch):
            part = [rows[k] for k in order[i : i + batch]]
            length = max(len(x) for x, _ in part)
            x = np.zeros((len(part), length, dim), np.float32)
            mask = np.zeros((len(part), length), bool)
            for r, (xi, _) in enumerate(part):
                x[r, : len(xi)] = xi
                mask[r, : len(xi)] = True
            logits = net(torch.from_numpy(x))  # (batch, length, 2)
            logits = logits.masked_fill(~torch.from_numpy(mask)[..., None], -1e4)
            starts = torch.tensor([t[0] for _, t in part])
            ends = torch.tensor([t[1] for _, t in part])
            loss = torch.nn.functional.cross_entropy(logits[..., 0], starts)
            loss = loss + torch.nn.functional.cross_entropy(logits[..., 1], ends)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    w1, w2 = net[1], net[4]
    weight = w1.weight.detach().numpy().T / sd[:, None]
    return {
        "w1": weight,
        "b1": w1.bias.detach().numpy() - mu @ weight,
        "w2": w2.weight.detach().numpy().T.copy(),
        "b2": w2.bias.detach().numpy().copy(),
    }


def evaluate(examples: list[Example], cache: dict, head) -> dict:
    from qa import phrase

    f1s, ems, chars, hand_f1 = [], [], [], []
    weights = json.loads((REPO / "qa" / "reader_weights.json").read_text("utf-8"))
    coef = np.asarray(weights["phrase"]["coef"], np.float32)
    for ex in examples:
        st, spans, query = cache[(ex.question, ex.window)]
        tok = phrase.TokenStates(st.astype(np.float32), np.asarray(spans), query.astype(np.float32))
        span = phrase.head_span(head, tok, ex.question, ex.window)
        guess = ex.window[span[0] : span[1]] if span else ""
        f1s.append(max(phrase.token_f1(guess, g) for g in ex.answers) if guess else 0.0)
        ems.append(max(phrase.exact_match(guess, g) for g in ex.answers) if guess else 0.0)
        chars.append(len(guess))
        hs = phrase.best_phrase(ex.question, ex.window, coef)
        hg = ex.window[hs[0] : hs[1]] if hs else ""
        hand_f1.append(max(phrase.token_f1(hg, g) for g in ex.answers) if hg else 0.0)
    return {
        "windows": len(examples),
        "f1": round(float(np.mean(f1s)), 4),
        "em": round(float(np.mean(ems)), 4),
        "chars": round(float(np.mean(chars)), 1),
        "hand_f1": round(float(np.mean(hand_f1)), 4),
    }


def fit(work: Path, write: Path | None, hand: bool, folds_to_run: int, **params) -> None:
    from qa import phrase

    cache = pickle.loads((work / "states.pkl").read_bytes())
    examples = pickle.loads((work / "examples.pkl").read_bytes())
    report = {"params": params | {"hand": hand}}

    def run(train_ex, test_ex):
        head = phrase.SpanHead(**train(tensors(train_ex, cache, hand), **params), hand=hand)
        # Reported on the one-sentence and the two-sentence windows alike.
        return evaluate(test_ex, cache, head)

    def is_xtest(ex):
        return ex.set == "xquad" and ex.half == "test"

    started = time.perf_counter()
    # The shipped head is this one: fitted on everything but XQuAD-de's test half.
    weights = train(tensors([ex for ex in examples if not is_xtest(ex)], cache, hand), **params)
    head = phrase.SpanHead(**weights, hand=hand)
    report["xquad test"] = evaluate([ex for ex in examples if is_xtest(ex)], cache, head)
    log(f"xquad test: {report['xquad test']} ({time.perf_counter() - started:.0f} s)")
    if write:
        np.savez_compressed(
            write,
            **{k: v.astype(np.float16) for k, v in weights.items()},
            hand=np.array(hand),
            report=np.array(json.dumps(report)),
        )
        log(f"wrote {write}")
    folds = []
    for k in map(str, range(folds_to_run)):
        held = [ex for ex in examples if ex.set == "mlqa" and ex.half == k]
        rest = [
            ex for ex in examples if not is_xtest(ex) and not (ex.set == "mlqa" and ex.half == k)
        ]
        folds.append(run(rest, held))
        log(f"mlqa fold {k}: {folds[-1]}")
    if folds:
        n = sum(f["windows"] for f in folds)
        report[f"mlqa folds ({len(folds)} of 5)"] = {
            key: round(sum(f[key] * f["windows"] for f in folds) / n, 4)
            for key in ("f1", "em", "chars", "hand_f1")
        }
    log(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("states")
    s.add_argument("--work", type=Path, default=WORK)
    f = sub.add_parser("fit")
    f.add_argument("--work", type=Path, default=WORK)
    f.add_argument("--write", type=Path)
    f.add_argument("--hidden", type=int, default=128)
    f.add_argument("--epochs", type=int, default=6)
    f.add_argument("--lr", type=float, default=2e-3)
    f.add_argument("--decay", type=float, default=0.01)
    f.add_argument("--dropout", type=float, default=0.3)
    f.add_argument("--hand", action="store_true", help="read the hand facts of each piece too")
    f.add_argument("--folds", type=int, default=5, help="MLQA-de folds to report (0-5)")
    args = parser.parse_args()
    if args.command == "states":
        states(args.work)
    else:
        fit(
            args.work,
            args.write,
            args.hand,
            args.folds,
            hidden=args.hidden,
            epochs=args.epochs,
            lr=args.lr,
            decay=args.decay,
            dropout=args.dropout,
        )


if __name__ == "__main__":
    main()
