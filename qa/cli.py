"""The `qa` command line: index a corpus, ask questions, show articles, serve the chat."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# numpy's BLAS only scores a question against the index (small products): one thread, so it
# never spins on a core the encoder (ONNX Runtime, its own pool) is using.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qa.config import ANSWER_PHRASES, Settings  # noqa: E402
from qa.errors import InvalidInput, QAError  # noqa: E402

DEFAULT_CORPUS = Path("seeds")
DEFAULT_INDEX = Path("index")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 1, like every other error."""

    def error(self, message: str):
        self.exit(1, f"error: {message} (see `{self.prog} --help`)\n")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse prints the message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "model", None):
        settings = replace(settings, model=args.model)
    if getattr(args, "max_article_chars", None) is not None:
        settings = replace(settings, max_article_chars=args.max_article_chars)
    if getattr(args, "follow_symlinks", False):
        settings = replace(settings, follow_symlinks=True)
    if getattr(args, "encoder", None):
        settings = replace(settings, encoder=args.encoder)
    if getattr(args, "answer_phrase", None):
        settings = replace(settings, answer_phrase=args.answer_phrase)
    return settings


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def run_index(
    corpus: Path,
    index: Path,
    settings: Settings,
    show_progress: bool = True,
    index_type: str = "auto",
    ray: str | None = None,
    workers: int | None = None,
):
    """Read the corpus and (re)build the index; returns (BuildReport, skipped).

    `ray`: embed on Ray (`local`, `auto` or `ray://host:port`, see `qa.cluster`), else here.
    """
    from tqdm import tqdm

    from qa.corpus import read_corpus
    from qa.embedding import load_embedder
    from qa.index import build_index

    if index.exists() and not index.is_dir():
        raise InvalidInput(f"--index {index} is a file, not a folder: name a folder for the index")
    read = read_corpus(corpus, settings)
    if not read.articles:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in read.skipped[:5])
        raise InvalidInput(f"no usable articles in {corpus}" + (f" ({reasons})" if reasons else ""))
    embedder = load_embedder(
        settings.model, settings.encoder, settings.model_dir, settings.batch_size
    )
    if ray is not None:
        from qa.cluster import RayEmbedder, connect

        connect(ray, workers)
        embedder = RayEmbedder(
            settings.model,
            settings.model_dir,
            settings.batch_size,
            workers,
            encoder=settings.encoder,
        )
    bar = tqdm(
        total=0, unit="chunk", desc="Embedding", disable=not show_progress or None, file=sys.stderr
    )

    def on_progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        report = build_index(read.articles, index, settings, embedder, on_progress, index_type)
    except OSError as err:  # the index folder cannot be created or written
        raise InvalidInput(
            f"cannot write {err.filename or index} ({err.strerror or err}): "
            "give an --index folder you can write to"
        ) from err
    finally:
        bar.close()
    return report, read.skipped


def cmd_index(args: argparse.Namespace) -> int:
    from qa import takedown

    before = takedown.live_articles(args.index)
    report, skipped = run_index(
        args.corpus,
        args.index,
        _settings(args),
        not args.json,
        index_type=args.index_type,
        ray=args.ray,
        workers=args.workers,
    )
    # Articles that left the corpus leave no text behind (old versions, cache, feedback).
    removed = takedown.after_rebuild(args.index, before, _settings(args))
    summary = asdict(report) | {
        "skipped": [{"source": s.source, "reason": s.reason} for s in skipped],
        "takedown": asdict(removed),
    }
    if args.json:
        _print_json(summary)
    else:
        print(
            f"Indexed {args.corpus} into {args.index}: {report.added} added, {report.updated} "
            f"updated, {report.removed} removed, {report.unchanged} unchanged; {report.chunks} "
            f"chunks ({report.embedded} newly embedded) in {report.seconds:.1f} s."
        )
        for s in skipped:
            print(f"  skipped {s.source}: {s.reason}")
    if args.strict and skipped:
        print(f"error: {len(skipped)} file(s) skipped and --strict is set", file=sys.stderr)
        return 1
    return 0


def _filters(args: argparse.Namespace):
    from qa.retrieval import Filters

    return Filters.parse(args.date_from, args.date_to, args.source)


def format_answer(answer) -> str:
    from qa.answer import DECLINE_DE

    lines = []
    if answer.period is not None:
        lines.append(f"Zeitraum: {period_label(answer.period)}")
    if answer.abstained:
        return "\n".join([*lines, DECLINE_DE])
    first = answer.snippets[0] if answer.snippets else None
    if first is not None and first.answer is not None:
        lines.append(f"Antwort: {first.answer.text} [{first.citation.n}]")
    for s in answer.snippets:
        lines.append(f"„{s.text}“ [{s.citation.n}]")
    lines.append("")
    for s in answer.snippets:
        for c in (s.citation, *s.also):
            n = f"[{c.n}]" if c is s.citation else f"    (auch [{s.citation.n}])"
            link = f", {c.url}" if c.url else ""
            lines.append(
                f"{n} {c.title} ({c.date or 'ohne Datum'}), {c.source}, Zeichen {c.start}–{c.end}"
                + link
            )
    return "\n".join(lines)


def period_label(period) -> str:
    """ "2019", or the span and the words that named it: "2024 („vor einem Jahr“)"."""
    label = period.label()
    return label if period.text == label else f"{label} („{period.text}“)"


def read_lines(path: str, what: str = "--batch file") -> list[str]:
    """The non-blank lines of a UTF-8 text file; `InvalidInput` when it cannot be read."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        raise InvalidInput(f"cannot read {what} {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise InvalidInput(
            f"{what} {path} is not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from err
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput(f"{what} {path} holds no lines to use")
    return lines


def questions_from(args: argparse.Namespace) -> list[str]:
    if args.batch:
        return read_lines(args.batch)
    if args.question:
        return [" ".join(args.question)]
    raise InvalidInput("give a QUESTION or --batch FILE (see `qa ask --help`)")


def answer_each(service, questions: list[str], filters) -> list:
    """`Answer`s in the order asked; a question that cannot be asked gets an error object."""
    from qa.service import answer_valid

    return answer_valid(
        questions,
        lambda good: service.ask_batch(good, filters),
        lambda question, error: {
            "question": question,
            "abstained": True,
            "snippets": [],
            "error": error,
        },
    )


def _print_results(results: list, as_json: bool, refused, answered) -> None:
    """One result per line in JSON, or as text; a refused line (a dict) shows its error."""
    for result in results:
        if as_json:
            _print_json(result if isinstance(result, dict) else result.to_dict())
        else:
            print(refused(result) if isinstance(result, dict) else answered(result))


def cmd_ask(args: argparse.Namespace) -> int:
    preloaded = _preload(args)  # first: it loads while the rest of the query path is imported
    from qa.service import QAService

    questions = questions_from(args)
    filters = _filters(args)
    service = QAService(
        args.index, _settings(args), embedder=_chosen_embedder(args), preloaded=preloaded
    )
    if args.batch:
        results = answer_each(service, questions, filters)
    else:
        results = [service.ask(questions[0], filters)]
    _print_results(
        results,
        args.json,
        refused=lambda r: f"F: {r['question'][:80]}\nerror: {r['error']}\n",
        answered=lambda r: f"F: {r.question}\n{format_answer(r)}\n",
    )
    return 0


def _preload(args: argparse.Namespace):
    """The index's own encoder, loading in the background (`qa.embedding.preload_embedder`);
    None with `--model` (that model is then loaded and checked as before)."""
    early = _EARLY.pop(args.index, None)  # see `_start_preload`
    if args.model:
        return None
    if early is not None:
        return early
    from qa.embedding import preload_embedder

    settings = _settings(args)
    return preload_embedder(args.index, settings.model_dir, settings.batch_size)


def _chosen_embedder(args: argparse.Namespace):
    """The model named by `--model`, or None to use the one the index was built with.

    The service refuses an index built with another model (its vectors would not compare).
    """
    if not args.model:
        return None
    from qa.embedding import Embedder

    settings = _settings(args)
    return Embedder(settings.model, settings.model_dir, settings.batch_size)


def cmd_chat(args: argparse.Namespace) -> int:
    """`qa chat`: questions from standard input, follow-ups resolved (see `qa.chat`)."""
    preloaded = _preload(args)
    from qa.chat import run_chat
    from qa.service import QAService

    filters = _filters(args)
    service = QAService(
        args.index, _settings(args), embedder=_chosen_embedder(args), preloaded=preloaded
    )
    return run_chat(service, filters, sys.stdin, sys.stdout, sys.stderr, args.json, format_answer)


def cmd_show(args: argparse.Namespace) -> int:
    from qa.service import QAService

    article = QAService(args.index, _settings(args)).article(args.doc_id)
    if args.json:
        _print_json(
            {k: article.to_dict()[k] for k in ("doc_id", "title", "date", "source", "text")}
            | {"url": article.url, "publisher": article.publisher}
        )
    else:
        print(f"{article.title}\n{article.date or ''} {article.source}\n\n{article.text}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from qa.auth import check_exposure, read_auth_file
    from qa.errors import IndexUnavailable
    from qa.service import QAService
    from qa.serving import limit_threads

    # Checked before anything is loaded or bound: a public server needs a login.
    check_exposure(args.host, args.auth_file, args.no_auth)
    users = read_auth_file(args.auth_file) if args.auth_file else None
    settings = _settings(args)
    limit_threads(1)  # before the encoder loads: the answer workers are the parallelism
    service = QAService(args.index, settings)
    # The index and the encoder load on a second thread while this one imports Gradio (~4 s
    # of CPU): the encoder's loading releases the GIL, so the page is up sooner. Loaded once:
    # the server answers from this very service.
    with ThreadPoolExecutor(1, thread_name_prefix="qa-load") as pool:
        loading = pool.submit(service.snapshot)
        from qa.ui.app import serve
    try:
        index = loading.result().index
        if args.model and index.manifest.model != args.model:
            raise InvalidInput(
                f"the index in {args.index} was built with the model {index.manifest.model!r}, "
                f"not {args.model!r}: rebuild it with `qa --model {args.model} index --index "
                f"{args.index}` or leave out --model"
            )
    except IndexUnavailable:
        if args.read_only:  # a replica never indexes: it serves what the indexer wrote
            raise
        print(f"No usable index in {args.index}; indexing {args.corpus} first …", file=sys.stderr)
        run_index(args.corpus, args.index, settings)
    feedback = args.feedback or (None if args.read_only else args.index / "feedback.jsonl")
    serve(
        args.index,
        settings,
        host=args.host,
        port=args.port,
        feedback_path=feedback,
        auth=users,
        service=service,
    )
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from qa import takedown

    removed = takedown.forget(args.index, args.source, _settings(args), args.feedback)
    if args.json:
        _print_json(asdict(removed))
    else:
        print(
            f"Forgot {removed.articles} article(s) in {args.index}: {removed.feedback_lines} "
            f"feedback line(s) and {removed.cached_vectors} cached vector(s) deleted. Remove "
            "the file(s) from the corpus folder too, or the next `qa index` brings them back."
        )
    return 0


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, not {value}")
    return value


def add_scale_options(p: argparse.ArgumentParser) -> None:
    """`qa index` options for large archives: index type and Ray (docs/scaling.md)."""
    p.add_argument(
        "--index-type",
        choices=("exact", "approx", "auto"),
        default="auto",
        help="exact FAISS search, approximate (IVF-PQ) or by size (auto, the default)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="embed on Ray: a local runtime, or `auto` / ray://host:port for a cluster",
    )
    p.add_argument("--workers", type=positive_int, help="Ray encoder workers (all CPUs)")


def cmd_check(args: argparse.Namespace) -> int:
    """`qa check`: claims checked figure by figure (see `qa.claims`, `qa.check_cli`)."""
    from qa.check_cli import check_each, format_check
    from qa.service import QAService

    if args.batch:
        claims = read_lines(args.batch)
    elif args.claim:
        claims = [" ".join(args.claim)]
    else:
        raise InvalidInput("give a CLAIM or --batch FILE (see `qa check --help`)")
    filters = _filters(args)
    service = QAService(args.index, _settings(args), preloaded=_preload(args))
    if args.batch:
        results = check_each(service, claims, filters)
    else:
        results = [service.check(claims[0], filters)]
    _print_results(
        results,
        args.json,
        refused=lambda r: f"Behauptung: {r['claim'][:80]}\nerror: {r['error']}\n",
        answered=lambda r: format_check(r) + "\n",
    )
    return 0


def _add_index_parser(sub) -> None:
    p = sub.add_parser("index", help="build or update the index from a corpus folder")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder (seeds/)")
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (index/)")
    p.add_argument("--json", action="store_true", help="end with a JSON summary line")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file was skipped")
    p.add_argument("--max-article-chars", type=positive_int, help="skip longer articles (1000000)")
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="also read links that point outside the corpus folder (skipped by default)",
    )
    p.add_argument(
        "--encoder",
        choices=("fp32", "int8"),
        help="int8 (ONNX Runtime; the default for the default model) or fp32 (torch)",
    )
    add_scale_options(p)
    p.set_defaults(func=cmd_index)


def _add_ask_parser(sub) -> None:
    p = sub.add_parser("ask", help="answer a question with cited snippets")
    p.add_argument("question", nargs="*", help="the question")
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (index/)")
    p.add_argument("--json", action="store_true", help="one JSON object per question and line")
    p.add_argument("--batch", help="file with one question per line")
    p.add_argument("--date-from", help="only articles from this date on (YYYY[-MM[-DD]])")
    p.add_argument("--date-to", help="only articles up to this date (YYYY[-MM[-DD]])")
    p.add_argument("--source", action="append", help="only this source file/folder or publisher")
    p.set_defaults(func=cmd_ask)


def _add_show_parser(sub) -> None:
    p = sub.add_parser("show", help="print an article by its id (as cited)")
    p.add_argument("doc_id")
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (index/)")
    p.add_argument("--json", action="store_true", help="as JSON: doc_id, title, date, source, text")
    p.set_defaults(func=cmd_show)


def _add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the browser chat (indexes first if needed)")
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus folder (seeds/)")
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (index/)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    p.add_argument("--port", type=port_number, default=7860, help="port (7860)")
    p.add_argument(
        "--read-only", action="store_true", help="a replica: never index, write nothing there"
    )
    p.add_argument("--feedback", type=Path, help="append 👍/👎 ratings to this file")
    p.add_argument(
        "--auth-file",
        type=Path,
        metavar="FILE",
        help="require a login: one `user:password` per line, file mode 600",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve a non-loopback --host without a login anyway",
    )
    p.set_defaults(func=cmd_serve)


def _add_forget_parser(sub) -> None:
    p = sub.add_parser(
        "forget",
        help="take articles out of the index now: no text left in index, cache or feedback",
    )
    p.add_argument("source", nargs="+", help="source as cited (file, file#n, folder/) or doc_id")
    p.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index folder (index/)")
    p.add_argument("--feedback", type=Path, help="also scrub this feedback file")
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")
    p.set_defaults(func=cmd_forget)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="qa",
        description="Nachrichten-QA: answers questions about a news archive with quoted, cited "
        "sentences from the articles. Nothing is generated.",
    )
    parser.add_argument("--model", help="sentence-transformers model name or folder (on disk)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument(
        "--answer-phrase",
        choices=ANSWER_PHRASES,
        help="how the answer phrase is marked: rules (default, fast) or head (a span head on "
        "the encoder's token states: better phrases, one more encoder run per answer)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from qa import chat

    _add_index_parser(sub)
    _add_ask_parser(sub)
    chat.add_parser(sub, DEFAULT_INDEX, cmd_chat)
    _add_show_parser(sub)
    _add_serve_parser(sub)
    _add_forget_parser(sub)

    from qa import check_cli
    from qa.eval import run as eval_run

    check_cli.add_parser(sub, DEFAULT_INDEX, cmd_check)
    from qa import cache

    cache.add_parser(sub)
    eval_run.add_parser(sub)
    return parser


# The encoder `_start_preload` began loading, by the index folder it guessed.
_EARLY: dict[Path, object] = {}
QUERY_COMMANDS = ("ask", "chat", "check")


class _Guess(argparse.ArgumentParser):
    def error(self, message: str):
        raise ValueError(message)


def _start_preload(argv: list[str]) -> None:
    """Start loading the encoder of a `qa ask|chat|check` before the parser is built.

    Building the parser imports every command's module (~0.2 s), while the encoder (~0.3 s:
    ONNX Runtime's import and session) could already load on the other core; so it starts
    first, from a guess at the command and `--index`. The real parse decides: `_preload`
    takes this encoder only for the same index and without `--model`."""
    if "-h" in argv or "--help" in argv:
        return
    guess = _Guess(add_help=False)
    guess.add_argument("--model")
    guess.add_argument("--answer-phrase")
    guess.add_argument("--debug", action="store_true")
    guess.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    try:
        known, rest = guess.parse_known_args(argv)
    except ValueError:
        return
    if known.model or not rest or rest[0] not in QUERY_COMMANDS:
        return
    from qa.embedding import preload_embedder
    from qa.onnx_export import int8_folder

    settings = Settings()
    if not (int8_folder(settings.model_dir) / "encoder.json").exists():
        return  # building it takes minutes: only for a command line that parses
    embedder = preload_embedder(known.index, settings.model_dir, settings.batch_size)
    if embedder is not None:
        _EARLY[known.index] = embedder


def main(argv: list[str] | None = None) -> int:
    _start_preload(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except QAError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output left (`qa ask ... | head`): nothing more to say. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
