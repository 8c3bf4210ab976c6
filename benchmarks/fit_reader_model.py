"""Fine-tune multilingual-e5-small's top layers as an extractive reader (issue 13): answer span
(start/end logits over the passage pieces) and answerability (a logit on the first token).

    python -m benchmarks.fit_reader_model fit --write /work/scratch/readermodel/reader_model.npz
    python -m benchmarks.fit_reader_model check      # the same weights as int8 ONNX (no torch)
    python -m benchmarks.fit_reader_model declines   # the answerable logit as a decline signal

Outcome (2026-11-26, docs/tuning.md "Trained reader model"): as good as the shipped span head on
held-apart windows, not better, so nothing is shipped or wired into `qa/`; the weights (9.9 MB)
stay out of git.

Input is the product's pair text "query: <question> passage: <window>" (`qa.phrase.encode_pair`),
windows as in `benchmarks.fit_phrase` (the answer's sentence, alone and with a neighbour). The
embedding table and the lower layers stay frozen, so their output is computed once per window and
only the top `--layers` layers and the two heads are trained; what is written is those layers and
heads in float16 (the base model comes from the provisioned folder, `qa.provision`).

Fitted only on: XQuAD-de's tune half (`qa.eval.datasets`, the `qa eval --split` halves),
GermanQuAD and GermanDPR train subsets (../shared/train; deepset, CC BY 4.0; Möller, Risch,
Pietsch 2021, arXiv:2104.12741; DPR's hard negatives are no-answer windows), and no-answer
windows made here: training questions paired with sentences of the 10kGNAD news file. Reported
on data held fully apart: XQuAD-de's test half and all of MLQA-de dev (phrase token F1/EM on the
gold windows, next to the shipped span head on the same windows), and the AUC of the
answerability logit between those questions' gold windows and the XGLUE news sentences that
share most words with them (news the fit never saw).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import random
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WORK = Path("/work/scratch/readermodel")
SEED = 13
MAX_TOKENS = 192
# Written into the weights file: what it was fitted on, with the attribution CC BY 4.0 asks for.
DATA = (
    "XQuAD-de tune half; GermanQuAD and GermanDPR train subsets by deepset, CC BY 4.0 "
    "(Möller, Risch, Pietsch 2021, arXiv:2104.12741); no-answer windows: those questions with "
    "10kGNAD news sentences. Base model: multilingual-e5-small (MIT)."
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Data ---------------------------------------------------------------------------------------


def news_windows(path: Path, kind: str) -> list[str]:
    """One- and two-sentence windows of a news file (10kGNAD csv or XGLUE tsv)."""
    from qa.chunking import sentence_spans

    csv.field_size_limit(10**8)
    texts = []
    with path.open(encoding="utf-8", newline="") as fh:
        if kind == "gnad":
            texts = [row[1] for row in csv.reader(fh, delimiter=";", quotechar="'") if len(row) > 1]
        else:
            texts = [row[1] for row in csv.reader(fh, delimiter="\t") if len(row) > 1]
    out = []
    for text in texts:
        spans = sentence_spans(text)
        for k, (a, b) in enumerate(spans[:12]):
            out.append(text[a:b])
            if k + 1 < len(spans):
                out.append(text[a : spans[k + 1][1]])
    return out


_WORD = re.compile(r"\w{3,}", re.U)


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def closest(question: str, windows: list[str], sets: list[set[str]]) -> str:
    """The window that shares most question words (a hard, retrieval-like negative)."""
    q = words(question)
    return windows[max(range(len(windows)), key=lambda k: len(q & sets[k]) / (1 + len(sets[k])))]


def examples(work: Path) -> tuple[list[dict], list[dict]]:
    """(training examples, held-apart examples); each {question, window, span | None, set, ...}."""
    from benchmarks.fit_phrase import questions, windows_of
    from qa.chunking import sentence_spans

    rng = random.Random(SEED)
    train, held = [], []
    for q in questions(work):
        name, half = q[0], q[2]
        for ex in windows_of(q, q[5]):
            row = {
                "set": name,
                "qid": ex.qid,
                "question": ex.question,
                "answers": ex.answers,
                "window": ex.window,
                "span": ex.answer_span,
                "variant": ex.variant,
            }
            if name == "mlqa" or (name == "xquad" and half == "test"):
                held.append(row)
            else:
                train.append(row)
    # GermanDPR hard negatives: a wrong passage that looks similar -> no answer.
    rows = json.loads((SHARED / "train" / "GermanDPR_train_filtered.json").read_text("utf-8"))
    for row in rows:
        if row.get("category") == "Hard-Negative":
            spans = sentence_spans(row["context"])
            if spans:
                a, b = spans[rng.randrange(len(spans))]
                train.append(
                    {
                        "set": "gdpr-neg",
                        "question": row["question"].strip(),
                        "window": row["context"][a:b],
                        "span": None,
                    }
                )
    # News no-answer windows for training questions (10kGNAD only; XGLUE is kept for the report).
    gnad = news_windows(SHARED / "eval" / "news" / "10kgnad_test.csv", "gnad")
    gsets = [words(w) for w in gnad]
    asked = sorted({(r["question"]) for r in train if r["span"] is not None})
    for question in asked:
        train.append(
            {
                "set": "news-neg",
                "question": question,
                "window": closest(question, gnad, gsets),
                "span": None,
            }
        )
        if rng.random() < 0.5:
            train.append(
                {"set": "news-neg", "question": question, "window": rng.choice(gnad), "span": None}
            )
    return train, held


# --- Model --------------------------------------------------------------------------------------


def base_folder() -> Path:
    from qa.config import Settings
    from qa.provision import provision_e5_small

    return provision_e5_small(Settings().model_dir)


def encode(tokenizer, question: str, window: str):
    """Piece ids of the pair text and the passage pieces' (begin, end) in `window`."""
    from qa.phrase import PASSAGE_PROMPT, QUERY_PROMPT

    head = QUERY_PROMPT + question + PASSAGE_PROMPT
    enc = tokenizer(
        head + window, truncation=True, max_length=MAX_TOKENS, return_offsets_mapping=True
    )
    offsets = np.asarray(enc["offset_mapping"], np.int64)
    in_window = offsets[:, 1] > len(head)
    spans = np.clip(offsets - len(head), 0, len(window))
    return np.asarray(enc["input_ids"], np.int64), in_window, spans


def build(layers: int):
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = base_folder()
    bert = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    top = torch.nn.ModuleList(bert.encoder.layer[-layers:])
    heads = torch.nn.Linear(bert.config.hidden_size, 3)  # start, end, answerable (first token)
    return bert, tokenizer, top, heads


def additive_mask(mask):
    import torch

    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def lower_states(bert, layers: int, ids: list[np.ndarray], batch: int = 32) -> list[np.ndarray]:
    """Hidden states entering the top `layers` layers (frozen part), float16, one per window."""
    import torch

    out: list[np.ndarray] = [None] * len(ids)  # type: ignore[list-item]
    order = sorted(range(len(ids)), key=lambda k: len(ids[k]))
    started = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(order), batch):
            part = order[i : i + batch]
            x, m = pad([ids[k] for k in part])
            h = bert(input_ids=x, attention_mask=m, output_hidden_states=True).hidden_states
            h = h[len(h) - 1 - layers]
            for r, k in enumerate(part):
                out[k] = h[r, : len(ids[k])].numpy().astype(np.float16)
            if i // batch % 20 == 0:
                log(f"  lower states {i}/{len(ids)} {time.perf_counter() - started:.0f} s")
    return out


def pad(seqs):
    import torch

    length = max(len(s) for s in seqs)
    x = torch.zeros((len(seqs), length), dtype=torch.long)
    m = torch.zeros((len(seqs), length), dtype=torch.long)
    for r, s in enumerate(seqs):
        x[r, : len(s)] = torch.as_tensor(s)
        m[r, : len(s)] = 1
    return x, m


def run_top(top, heads, states, mask):
    h = states
    ext = additive_mask(mask)
    for layer in top:
        out = layer(h, attention_mask=ext)
        h = out[0] if isinstance(out, tuple) else out
    return heads(h)


def stack(rows):
    import torch

    length = max(len(r) for r in rows)
    x = torch.zeros((len(rows), length, rows[0].shape[1]))
    m = torch.zeros((len(rows), length), dtype=torch.long)
    for r, s in enumerate(rows):
        x[r, : len(s)] = torch.from_numpy(s.astype(np.float32))
        m[r, : len(s)] = 1
    return x, m


def train(top, heads, data, epochs: int, lr: float, batch: int) -> None:
    import torch

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    params = [p for p in top.parameters()] + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = epochs * ((len(data) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )
    step, started = 0, time.perf_counter()
    for epoch in range(epochs):
        top.train()
        # Batches of similar length (less padding), in random order.
        order = sorted(rng.permutation(len(data)), key=lambda k: len(data[k]["states"]) // 16)
        chunks = [order[i : i + batch] for i in range(0, len(order), batch)]
        rng.shuffle(chunks)
        total = 0.0
        for part in chunks:
            rows = [data[k] for k in part]
            x, m = stack([r["states"] for r in rows])
            logits = run_top(top, heads, x, m)
            valid = torch.zeros(m.shape, dtype=torch.bool)
            for r, row in enumerate(rows):
                valid[r, : len(row["in_window"])] = torch.from_numpy(row["in_window"])
            answerable = torch.tensor([float(r["target"] is not None) for r in rows])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0, 2], answerable)
            pos = [r for r, row in enumerate(rows) if row["target"] is not None]
            if pos:
                span = logits[pos][..., :2].masked_fill(~valid[pos][..., None], -1e4)
                s = torch.tensor([rows[r]["target"][0] for r in pos])
                e = torch.tensor([rows[r]["target"][1] for r in pos])
                ce = torch.nn.functional.cross_entropy
                loss = loss + (ce(span[..., 0], s) + ce(span[..., 1], e)) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            total += loss.item()
            if step % 25 == 0:
                log(
                    f"  epoch {epoch} step {step}/{steps} loss {total / 25:.3f} "
                    f"{time.perf_counter() - started:.0f} s"
                )
                total = 0.0
    top.eval()


def predict(top, heads, data, batch: int = 32) -> list[tuple[np.ndarray, float]]:
    """Per window: (start/end logits of its pieces, answerable logit)."""
    import torch

    out = [None] * len(data)
    order = sorted(range(len(data)), key=lambda k: len(data[k]["states"]))
    with torch.no_grad():
        for i in range(0, len(order), batch):
            part = order[i : i + batch]
            x, m = stack([data[k]["states"] for k in part])
            logits = run_top(top, heads, x, m).numpy()
            for r, k in enumerate(part):
                out[k] = (logits[r, : len(data[k]["states"]), :2], float(logits[r, 0, 2]))
    return out


def auc(pos: list[float], neg: list[float]) -> float:
    p, n = np.asarray(pos), np.asarray(neg)
    return float((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean())


def head_scores(held: list[dict]) -> dict:
    """The shipped span head on the same windows (token states cached by fit_phrase)."""
    from benchmarks import fit_phrase
    from qa import phrase

    cache_path = Path("/work/scratch/phrase/states.pkl")
    if not cache_path.exists():
        return {}
    cache = pickle.loads(cache_path.read_bytes())
    head = phrase.load_head()
    out = {}
    for name in ("xquad", "mlqa"):
        exs = [
            fit_phrase.Example(
                r["set"],
                r["qid"],
                "",
                r["question"],
                r["answers"],
                r["window"],
                r["span"],
                r["variant"],
            )
            for r in held
            if r["set"] == name and (r["question"], r["window"]) in cache
        ]
        out[name] = fit_phrase.evaluate(exs, cache, head)
    return out


def load_weights(path: Path, top, heads) -> None:
    """The trained layers and heads of a written weights file into `build`'s modules."""
    import torch

    data = np.load(path)
    for prefix, module in (("top.", top), ("heads.", heads)):
        module.load_state_dict(
            {
                k[len(prefix) :]: torch.from_numpy(data[k].astype(np.float32))
                for k in data.files
                if k.startswith(prefix)
            }
        )


def save(path: Path, top, heads, layers: int, report: dict) -> None:
    arrays = {
        f"top.{k}": v.detach().numpy().astype(np.float16) for k, v in top.state_dict().items()
    }
    arrays |= {
        f"heads.{k}": v.detach().numpy().astype(np.float32) for k, v in heads.state_dict().items()
    }
    np.savez_compressed(
        path, **arrays, layers=np.array(layers), report=np.array(json.dumps(report))
    )


def fit(args) -> None:
    import torch

    from benchmarks.fit_phrase import targets
    from benchmarks.reader_model_onnx import best_span
    from qa import phrase

    torch.set_num_threads(args.threads)
    random.seed(SEED)
    started = time.perf_counter()
    train_rows, held_rows = examples(args.work)
    if args.limit:
        random.Random(SEED).shuffle(train_rows)
        train_rows = train_rows[: args.limit]
    log(f"{len(train_rows)} training windows, {len(held_rows)} held apart")
    bert, tokenizer, top, heads = build(args.layers)
    for p in bert.parameters():
        p.requires_grad = False
    for p in top.parameters():
        p.requires_grad = True
    # Held-apart negatives: XGLUE news windows sharing most words with each held question.
    xglue = news_windows(SHARED / "eval" / "news" / "xglue_nc_dev_de.tsv", "xglue")
    xsets = [words(w) for w in xglue]
    one = [r for r in held_rows if r["variant"] == "one"]
    negs = [
        {
            "set": r["set"] + "-news",
            "question": r["question"],
            "window": closest(r["question"], xglue, xsets),
            "span": None,
        }
        for r in one
    ]
    every = train_rows + held_rows + negs
    for r in every:
        r["ids"], r["in_window"], r["spans"] = encode(tokenizer, r["question"], r["window"])
        r["target"] = targets(r["spans"], r["span"], r["in_window"]) if r["span"] else None
    states_path = args.work / f"lower{args.layers}.pkl"
    keyed = {}
    if states_path.exists():
        keyed = pickle.loads(states_path.read_bytes())
    todo = [r for r in every if (r["question"], r["window"]) not in keyed]
    if todo:
        for r, s in zip(todo, lower_states(bert, args.layers, [r["ids"] for r in todo])):
            keyed[(r["question"], r["window"])] = s
        states_path.write_bytes(pickle.dumps(keyed))
    for r in every:
        r["states"] = keyed[(r["question"], r["window"])]
    log(f"data ready {time.perf_counter() - started:.0f} s")
    fitted = [r for r in train_rows if r["span"] is None or r["target"] is not None]
    t0 = time.perf_counter()
    train(top, heads, fitted, args.epochs, args.lr, args.batch)
    train_seconds = time.perf_counter() - t0
    report: dict = {
        "params": {k: v for k, v in vars(args).items() if k in ("layers", "epochs", "lr", "batch")},
        "train_windows": len(fitted),
        "train_seconds": round(train_seconds),
        "data": DATA,
    }
    preds = predict(top, heads, held_rows + negs)
    by = dict(zip([id(r) for r in held_rows + negs], preds))
    for name in ("xquad", "mlqa"):
        rows = [r for r in held_rows if r["set"] == name]
        f1s, ems, chars = [], [], []
        for r in rows:
            logits, _ = by[id(r)]
            w = r["in_window"]
            span = best_span(r["window"], r["spans"][w], logits[w])
            guess = r["window"][span[0] : span[1]] if span else ""
            f1s.append(max(phrase.token_f1(guess, g) for g in r["answers"]) if guess else 0.0)
            ems.append(max(phrase.exact_match(guess, g) for g in r["answers"]) if guess else 0.0)
            chars.append(len(guess))
        pos = [by[id(r)][1] for r in rows if r["variant"] == "one"]
        neg = [by[id(r)][1] for r in negs if r["set"] == name + "-news"]
        report[name] = {
            "windows": len(rows),
            "f1": round(float(np.mean(f1s)), 4),
            "em": round(float(np.mean(ems)), 4),
            "chars": round(float(np.mean(chars)), 1),
            "answerable_auc_vs_news": round(auc(pos, neg), 4),
        }
        log(f"{name}: {report[name]}")
    report["head (shipped, same windows)"] = head_scores(held_rows)
    log(json.dumps(report))
    if args.write:
        save(args.write, top, heads, args.layers, report)
        log(f"wrote {args.write} ({args.write.stat().st_size / 1e6:.1f} MB)")


def check(args) -> None:
    """The weights as the product would run them (int8 ONNX, `benchmarks.reader_model_onnx`)
    on the held-apart gold windows: phrase F1/EM, and milliseconds per answer."""
    from benchmarks.reader_model_onnx import ReaderOnnx
    from qa import phrase
    from qa.config import Settings

    _, held = examples(args.work)
    reader = ReaderOnnx(Settings().model_dir, args.weights, threads=1)
    reader.answer_span("Wer?", "Niemand.")  # build / load outside the timing
    report = {}
    for name in ("xquad", "mlqa"):
        rows = [r for r in held if r["set"] == name][: args.limit or None]
        f1s, ems, ms = [], [], []
        for r in rows:
            t0 = time.perf_counter()
            span = reader.answer_span(r["question"], r["window"])
            ms.append((time.perf_counter() - t0) * 1000)
            guess = r["window"][span[0] : span[1]] if span else ""
            f1s.append(max(phrase.token_f1(guess, g) for g in r["answers"]) if guess else 0.0)
            ems.append(max(phrase.exact_match(guess, g) for g in r["answers"]) if guess else 0.0)
        report[name] = {
            "windows": len(rows),
            "f1": round(float(np.mean(f1s)), 4),
            "em": round(float(np.mean(ems)), 4),
            "ms_p50": round(float(np.percentile(ms, 50)), 1),
            "ms_p95": round(float(np.percentile(ms, 95)), 1),
        }
        log(f"{name}: {report[name]}")
    log(json.dumps(report))


def declines(args) -> None:
    """Would the answerable logit help declining? Through the product (`QAService`, the `qa
    eval` index with the news mixed in): the set's own questions and the other set's, each
    answer's snippets read by the model (torch here); declined shares if an answer were also
    declined when its first (or best) snippet scores below a threshold."""
    import torch

    from qa.config import Settings
    from qa.embedding import load_embedder, resolve_encoder
    from qa.eval.run import ensure_index, load_inputs
    from qa.service import QAService

    torch.set_num_threads(args.threads)
    evals = SHARED / "eval"
    s = Settings()
    s = replace(s, encoder=resolve_encoder(s.model, s.encoder))
    inputs = load_inputs(
        evals / args.dataset, [evals / "news"], evals / args.other, None, args.split, s
    )
    embedder = load_embedder(s.model, s.encoder, s.model_dir, s.batch_size)
    index_dir, _, _ = ensure_index(
        inputs.dataset.name, inputs.articles, s, embedder, s.cache_dir / "eval", log
    )
    service = QAService(index_dir, s, embedder)
    bert, tokenizer, top, heads = build(int(np.load(args.weights)["layers"]))
    load_weights(args.weights, top, heads)

    def answerable(question: str, text: str) -> float:
        ids, _, _ = encode(tokenizer, question, text)
        with torch.no_grad():
            return float(heads(bert(input_ids=torch.as_tensor(ids)[None])[0])[0, 0, 2])

    def read(questions: list[str]) -> list[list[float] | None]:
        out = []
        for q, a in zip(questions, service.ask_batch(questions), strict=True):
            skip = a.abstained or not a.snippets
            out.append(None if skip else [answerable(q, sn.text) for sn in a.snippets])
        return out

    own = read([q.text for q in inputs.questions])
    other = read(inputs.other_questions[: args.other_limit])
    report = {}
    for agg, f in (("first", lambda x: x[0]), ("best", max)):
        for t in (None, -4.0, -3.0, -2.5, -2.0, -1.5, -1.0, 0.0):

            def share(rows, t=t, f=f) -> float:
                declined = [x is None or (t is not None and f(x) < t) for x in rows]
                return round(float(np.mean(declined)), 4)

            key = f"{agg} < {t}" if t is not None else "as shipped"
            report[key] = {"own declined": share(own), "other declined": share(other)}
    log(json.dumps({"dataset": args.dataset, "own": len(own), "other": len(other)} | report))


def snippets(args) -> None:
    """Phrase F1/EM through the product: `QAService` on the `qa eval` index (no news), snippet
    1 of every answer, declines = 0 (as `qa eval` counts `phrase_f1`); the model (fp32, torch
    here) next to the shipped linear scorer and span head on the same answers."""
    import torch

    from benchmarks.reader_model_onnx import best_span
    from qa.config import Settings
    from qa.embedding import load_embedder, resolve_encoder
    from qa.eval.datasets import load_dataset, select
    from qa.eval.run import ensure_index
    from qa.service import QAService

    torch.set_num_threads(args.threads)
    s = Settings()
    s = replace(s, encoder=resolve_encoder(s.model, s.encoder))
    ds = load_dataset(SHARED / "eval" / args.dataset)
    questions = select(ds.questions, args.split, args.limit or None)
    embedder = load_embedder(s.model, s.encoder, s.model_dir, s.batch_size)
    index_dir, _, _ = ensure_index(ds.name, ds.articles, s, embedder, s.cache_dir / "eval", log)
    bert, tokenizer, top, heads = build(int(np.load(args.weights)["layers"]))
    load_weights(args.weights, top, heads)
    texts = [q.text for q in questions]
    scores: dict[str, list[tuple[float, float]]] = {"rules": [], "head": [], "model": []}
    for choice in ("rules", "head"):
        service = QAService(index_dir, replace(s, answer_phrase=choice), embedder)
        for q, a in zip(questions, service.ask_batch(texts), strict=True):
            guess = a.snippets[0].answer.text if a.snippets and a.snippets[0].answer else ""
            scores[choice].append(score(guess, q.answers))
            if choice == "rules":  # the model reads the same snippet 1
                guess = ""
                if a.snippets:
                    text = a.snippets[0].text
                    ids, in_window, spans = encode(tokenizer, q.text, text)
                    with torch.no_grad():
                        logits = heads(bert(input_ids=torch.as_tensor(ids)[None])[0])[0].numpy()
                    span = best_span(text, spans[in_window], logits[in_window])
                    guess = text[span[0] : span[1]] if span else ""
                scores["model"].append(score(guess, q.answers))
    report = {
        k: {
            "f1": round(float(np.mean([f for f, _ in v])), 4),
            "em": round(float(np.mean([e for _, e in v])), 4),
        }
        for k, v in scores.items()
    }
    log(
        json.dumps({"dataset": args.dataset, "split": args.split, "questions": len(texts)} | report)
    )


def score(guess: str, answers) -> tuple[float, float]:
    from qa.phrase import exact_match, token_f1

    if not guess:
        return 0.0, 0.0
    return max(token_f1(guess, g) for g in answers), max(exact_match(guess, g) for g in answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--work", type=Path, default=WORK)
    f.add_argument("--write", type=Path)
    f.add_argument("--layers", type=int, default=3, help="top layers to train")
    f.add_argument("--epochs", type=int, default=2)
    f.add_argument("--lr", type=float, default=1e-4)
    f.add_argument("--batch", type=int, default=16)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--limit", type=int, default=0, help="training windows (0: all)")
    c = sub.add_parser("check", help="the built int8 ONNX reader on the held-apart windows")
    c.add_argument("--work", type=Path, default=WORK)
    c.add_argument("--weights", type=Path, default=WORK / "reader_model.npz")
    c.add_argument("--limit", type=int, default=0, help="windows per set (0: all)")
    d = sub.add_parser("declines", help="the answerable logit as a decline signal, via QAService")
    d.add_argument("--work", type=Path, default=WORK)
    d.add_argument("--weights", type=Path, default=WORK / "reader_model.npz")
    d.add_argument("--dataset", default="xquad.de.json")
    d.add_argument("--other", default="mlqa.dev.de.json")
    d.add_argument("--split", default="test")
    d.add_argument("--other-limit", type=int, default=512)
    d.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("snippets", help="phrase F1 on the product's snippet 1, vs rules and head")
    p.add_argument("--work", type=Path, default=WORK)
    p.add_argument("--weights", type=Path, default=WORK / "reader_model.npz")
    p.add_argument("--dataset", default="xquad.de.json")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    commands = {"fit": fit, "check": check, "declines": declines, "snippets": snippets}
    commands[args.command](args)


if __name__ == "__main__":
    main()
