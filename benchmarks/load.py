"""Serving under load: chat users asking through the `/ask` API of a server started here.

    python -m benchmarks.load                                  # the two target scenarios, 3 min
    python -m benchmarks.load --users 50 --think 0 --duration 60
    python -m benchmarks.load --output docs/benchmarks.md      # also write the figures there

The script starts `qa serve` itself on 127.0.0.1 (a free port; nothing else is ever contacted),
then runs N users in threads, each a `gradio_client.Client` (the client the README documents)
asking questions in a loop with a think time between them. It prints answers/s, latency
p50/p95/max, errors (failed requests and tracebacks in the server's log) and the server's RSS
before and after the load.

Where the time goes: the server runs with a thin wrapper around the `/ask` handler (otherwise
it is exactly `qa serve`) that logs when each request's answer started and ended and how long
its JSON encoding takes. Each user sends its id in a header and asks one question at a time, so
every server record falls inside exactly one client request; the request then splits into
*before* (client send, HTTP, Gradio's queue and preprocessing), *answer* (`QAService.ask` and
rendering), *json* (encoding the result) and *after* (Gradio's postprocessing, the SSE message,
the client's parsing).

The load generator runs on the same machine as the server and competes with it for the CPU.
Bounded by construction: at most 200 users, 15 minutes, one server, loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.sections import markers, write_section

REPO = Path(__file__).resolve().parents[1]
MAX_USERS = 200
MAX_SECONDS = 900
STARTUP_TIMEOUT = 600
WARMUP_SECONDS = 10
USER_HEADER = "x-load-user"
# The sections this script writes into docs/benchmarks.md, one per `--server` mode.
SECTIONS = ("load", "load-baseline", "load-no-answer")


# Questions about the seed corpus, some answerable, some not (those decline): every user walks
# through them from its own starting point, so the server sees a mix at any moment.
QUESTIONS = (
    "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?",
    "Wie finanziert sich WhatsApp?",
    "Was hat Koum zur Sprachtelefonie angekündigt?",
    "Wie viele aktive Nutzer hat WhatsApp?",
    "Wie viele WhatsApp-Nutzer gibt es in Deutschland?",
    "Wo wuchs Jan Koum auf?",
    "Will WhatsApp Werbung zeigen?",
    "Wer ist Mitgründer von WhatsApp?",
    "Wo fand die Innovationskonferenz DLD statt?",
    "Sammelt WhatsApp Informationen über seine Nutzer?",
    "Ist die Kommunikation bei WhatsApp verschlüsselt?",
    "Was kostet das WhatsApp-Abo pro Jahr?",
    "Wie heißt der SMS-Nachfolger der Netzbetreiber?",
    "Worüber beschweren sich die Mobilfunk-Konzerne?",
    "Was will der Facebook Messenger stärker anbieten?",
    "Tauschen WhatsApp und Facebook Nutzerdaten aus?",
    "Wie hoch ist die Inflation in Japan?",
    "Wer gewann die Fußball-Weltmeisterschaft 2014?",
    "Wie wird das Wetter am Wochenende in Hamburg?",
    "Welche Partei gewann die Bundestagswahl?",
)


# --- The server --------------------------------------------------------------------------------


def install_timing(path: Path) -> None:
    """Wrap the `/ask` handler so that each answered request leaves one line in `path`:
    `[user, answer_started, answer_ended, json_seconds, batcher_calls, batcher_questions]`
    (wall clock, shared with the client; the answer workers' counters, see `qa.serving`).

    The wrapper has the handler's own parameters (Gradio builds the API from them) plus the
    request, for the user's header.
    """
    import inspect
    import typing

    import gradio as gr

    from qa.ui import app as ui_app

    original = ui_app.ChatHandlers.api_ask
    lock = threading.Lock()
    out = path.open("a", encoding="utf-8")

    def api_ask(self, *args, **kwargs):
        # Gradio passes the request in its place among the inputs (the last one).
        request = kwargs.pop("request", None)
        if args and isinstance(args[-1], gr.Request):
            *args, request = args
        started = time.time()
        result = original(self, *args, **kwargs)
        answered = time.time()
        json.dumps(result, ensure_ascii=False)
        encoded = time.time() - answered
        user = request.headers.get(USER_HEADER) if request is not None else None
        batcher = self.service.batcher
        batched = [batcher.calls, batcher.questions] if batcher is not None else [0, 0]
        with lock:
            out.write(json.dumps([user, started, answered, encoded, *batched]) + "\n")
            out.flush()
        return result

    signature = inspect.signature(original)
    extra = inspect.Parameter(
        "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request
    )
    api_ask.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])
    # Real objects, not the strings `from __future__ import annotations` leaves: Gradio reads them.
    api_ask.__annotations__ = typing.get_type_hints(original) | {"request": gr.Request}
    api_ask.__doc__ = original.__doc__
    ui_app.ChatHandlers.api_ask = api_ask


def baseline_serving() -> None:
    """The serving path as it was before issue 18, for before/after figures: Gradio's default
    of one answer at a time, the encoder's own thread pool, no batching of concurrent
    questions, and Gradio's per-event analytics summary."""
    os.environ["GRADIO_ANALYTICS_MAX_EVENTS"] = "10000"  # Gradio's defaults
    os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] = "1"
    import gradio as gr

    from qa.ui import app as ui_app

    ui_app.ANSWERING = {}
    ui_app.limit_threads = lambda threads=1: None
    ui_app.Batcher = lambda *args, **kwargs: None
    queue_defaults = gr.Blocks.queue
    gr.Blocks.queue = lambda self, **kwargs: queue_defaults(self)


def no_answer_serving() -> None:
    """Every question gets the first answer again, uncomputed: what serving costs by itself
    (HTTP, Gradio's queue, JSON, SSE), for the breakdown only."""
    from qa.ui import app as ui_app

    real, first = ui_app.ask, []

    def ask(*args, **kwargs):
        if not first:
            first.append(real(*args, **kwargs))
        return first[0]

    ui_app.ask = ask


MODES = {"qa": lambda: None, "baseline": baseline_serving, "no-answer": no_answer_serving}


def serve_child(argv: Sequence[str]) -> int:
    """`qa serve` with the timing wrapper: what `--server-child` runs in the subprocess."""
    timings, mode, *serve_args = argv
    MODES[mode]()
    install_timing(Path(timings))
    from qa.cli import main

    return main(["serve", *serve_args])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    timings: Path
    log: list[str] = field(default_factory=list)

    def rss_mib(self) -> tuple[float, float]:
        """Current and peak resident memory of the server process, in MiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.+)$", status, re.M)}
        return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tracebacks(self) -> int:
        return sum("Traceback (most recent call last)" in line for line in self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    corpus: Path, index: Path, workdir: Path, serve_args: Sequence[str], mode: str = "qa"
) -> Server:
    """Start `qa serve` (with the timing wrapper) on 127.0.0.1 and wait for its URL."""
    timings = workdir / "timings.jsonl"
    command = [
        sys.executable,
        "-m",
        "benchmarks.load",
        "--server-child",
        str(timings),
        mode,
        "--corpus",
        str(corpus),
        "--index",
        str(index),
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        *serve_args,
    ]
    env = os.environ | {"PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    server = Server(process, "", timings)

    def pump() -> None:
        for line in process.stdout:
            server.log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        if match := re.search(r"(http://127\.0\.0\.1:\d+)/?\s", line):
            server.url = match.group(1) + "/"
            return server
    server.stop()
    raise SystemExit("qa serve printed no URL:\n" + "".join(server.log[-30:]))


# --- The users ---------------------------------------------------------------------------------


@dataclass
class Request:
    user: int
    sent: float
    received: float
    error: str | None = None


def connect(url: str, user: int):
    from gradio_client import Client

    # Plain HTTP on loopback: no TLS, so nothing to verify. With verification on, the client
    # builds a new SSL context (loading the CA bundle) for every request: ~50 ms of CPU each,
    # more than the answer itself, taken from the same two cores as the server.
    return Client(
        url,
        verbose=False,
        headers={USER_HEADER: str(user)},
        download_files=False,
        analytics_enabled=False,
        ssl_verify=False,
    )


def run_users(
    url: str, users: int, think: float, seconds: float, clients: list | None = None
) -> tuple[list[Request], float]:
    """Every user asks, waits for the answer, thinks (0.5-1.5 x `think`), asks again, until the
    time is up. Returns the requests and the seconds from the start to the last answer."""
    clients = clients or [connect(url, u) for u in range(users)]
    records: list[list[Request]] = [[] for _ in range(users)]
    start = threading.Barrier(users + 1)
    began = [0.0]

    def user_loop(u: int) -> None:
        rng = random.Random(u)
        n = u * 7
        start.wait()
        deadline = began[0] + seconds
        while time.time() < deadline:
            question = QUESTIONS[n % len(QUESTIONS)]
            n += 1
            sent = time.time()
            try:
                result = clients[u].predict(question, api_name="/ask")
                error = None if isinstance(result, dict) and "snippets" in result else "bad reply"
            except Exception as err:  # every failure counts, whatever its kind
                error = f"{type(err).__name__}: {err}"[:200]
            records[u].append(Request(u, sent, time.time(), error))
            if think > 0:
                time.sleep(min(think * rng.uniform(0.5, 1.5), max(0.0, deadline - time.time())))

    threads = [threading.Thread(target=user_loop, args=(u,), daemon=True) for u in range(users)]
    for t in threads:
        t.start()
    began[0] = time.time()
    start.wait()
    for t in threads:
        t.join(seconds + 120)
    done = [r for rs in records for r in rs]
    last = max((r.received for r in done), default=began[0])
    return done, max(last - began[0], 1e-9)


# --- Figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def breakdown(requests: Sequence[Request], timings: Sequence[list]) -> dict[str, float]:
    """p50 milliseconds of before / answer / json / after, over the requests a server record
    falls into (same user, answer inside the request's interval)."""
    by_user: dict[int, list[Request]] = {}
    for r in requests:
        by_user.setdefault(r.user, []).append(r)
    parts: dict[str, list[float]] = {"before": [], "answer": [], "json": [], "after": []}
    for user, started, answered, encoded, *_ in timings:
        if user is None:
            continue
        for r in by_user.get(int(user), ()):
            if r.error is None and r.sent <= started and answered <= r.received:
                parts["before"].append(started - r.sent)
                parts["answer"].append(answered - started)
                parts["json"].append(encoded)
                parts["after"].append(r.received - answered)
                break
    out = {f"{k}_p50_ms": round(percentile(v, 50) * 1000, 1) for k, v in parts.items()}
    out |= {f"{k}_p95_ms": round(percentile(v, 95) * 1000, 1) for k, v in parts.items()}
    return out | {"matched": len(parts["answer"])}


def read_timings(path: Path, since: float, until: float) -> list[list]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return [row for row in rows if since <= row[1] <= until]


def summarize(
    name: str, users: int, think: float, seconds: float, requests, elapsed, timings
) -> dict:
    ok = [r.received - r.sent for r in requests if r.error is None]
    errors = [r.error for r in requests if r.error]
    return {
        "scenario": name,
        "users": users,
        "think_s": think,
        "duration_s": seconds,
        "requests": len(requests),
        "answers": len(ok),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "answers_per_s": round(len(ok) / elapsed, 1),
        "p50_s": round(percentile(ok, 50), 3),
        "p95_s": round(percentile(ok, 95), 3),
        "max_s": round(max(ok, default=0.0), 3),
        "mean_batch": mean_batch(timings),
    } | breakdown(requests, timings)


def mean_batch(timings: Sequence[list]) -> float | None:
    """Questions per `ask_batch` call of the answer workers during the scenario."""
    counters = [row[4:6] for row in timings if len(row) >= 6 and row[4]]
    if len(counters) < 2:
        return None
    calls = counters[-1][0] - counters[0][0]
    return round((counters[-1][1] - counters[0][1]) / calls, 1) if calls else None


def scenario(
    server: Server, clients: list, name: str, users: int, think: float, seconds: float
) -> dict:
    """Run one scenario with the first `users` clients (connected and warmed up)."""
    clients = clients[:users]
    since = time.time()
    server_cpu, own_cpu = server.cpu_seconds(), time.process_time()
    requests, elapsed = run_users(server.url, users, think, seconds, clients)
    server_cpu, own_cpu = server.cpu_seconds() - server_cpu, time.process_time() - own_cpu
    timings = read_timings(server.timings, since, time.time())
    result = summarize(name, users, think, seconds, requests, elapsed, timings)
    # CPU per answer holds even when other work on the machine slows everything down.
    answers = max(result["answers"], 1)
    return result | {
        "server_cpu_ms_per_answer": round(1000 * server_cpu / answers, 1),
        "client_cpu_ms_per_answer": round(1000 * own_cpu / answers, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def print_result(result: dict) -> None:
    print(
        f"{result['scenario']}: {result['users']} users, think {result['think_s']} s, "
        f"{result['duration_s']:.0f} s: {result['answers']} answers, {result['errors']} errors, "
        f"{result['answers_per_s']} answers/s, p50 {result['p50_s']} s, p95 {result['p95_s']} s, "
        f"max {result['max_s']} s",
        flush=True,
    )
    print(
        "  per request, p50 ms: before (send, queue) {before_p50_ms}, answer {answer_p50_ms}, "
        "json {json_p50_ms}, after (SSE, client) {after_p50_ms}  [{matched} matched]; "
        "questions per encoder batch: {mean_batch}".format(**result),
        flush=True,
    )
    print(
        f"  CPU per answer: server {result['server_cpu_ms_per_answer']} ms, load generator "
        f"{result['client_cpu_ms_per_answer']} ms; load average after: {result['load_average']}",
        flush=True,
    )
    for example in result["error_examples"]:
        print(f"  error: {example}", flush=True)


# --- The report --------------------------------------------------------------------------------


def markdown(report: dict, name: str) -> str:
    rows = [
        "| scenario | users | think | seconds | answers/s | p50 s | p95 s | max s | errors "
        "| before ms | answer ms | json ms | after ms | server CPU ms/answer "
        "| generator CPU ms/answer | questions per batch | load avg after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["scenarios"]:
        rows.append(
            f"| {r['scenario']} | {r['users']} | {r['think_s']} s | {r['duration_s']:.0f} "
            f"| {r['answers_per_s']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['errors']} "
            f"| {r['before_p50_ms']} | {r['answer_p50_ms']} | {r['json_p50_ms']} "
            f"| {r['after_p50_ms']} | {r['server_cpu_ms_per_answer']} "
            f"| {r['client_cpu_ms_per_answer']} | {r['mean_batch'] or '–'} | {r['load_average']} |"
        )
    m = report["memory"]
    heading = {
        "load": "## Serving under load (`/ask` API)",
        "load-baseline": "### For comparison: the serving path before issue 18",
        "load-no-answer": "### Serving alone: every question gets a stored answer",
    }[name]
    return "\n".join(
        [
            markers(name)[0],
            heading,
            "",
            f"Produced by `{report['command']}` on {report['date']}. {report['machine']}",
            "",
            "The load generator runs **on the same machine** as the server (loopback, "
            "127.0.0.1) and competes with it for the CPU; every user is a "
            "`gradio_client.Client` asking one question at a time, with the given think time "
            f"(0.5-1.5 x) between answers. Encoder: {report['encoder']}. Corpus: "
            f"{report['corpus']}. Load average at the start: {report['load_average']}.",
            "",
            *rows,
            "",
            "Per request (p50): *before* is the client's send, HTTP and Gradio's queue; "
            "*answer* is `QAService.ask` with rendering; *json* the encoding of the result; "
            "*after* Gradio's postprocessing, the SSE message and the client's parsing.",
            "",
            f"Server memory (RSS): {m['started_mib']:.0f} MiB when started, "
            f"{m['before_mib']:.0f} MiB after a {m['warmup_s']} s warm-up with all users, "
            f"{m['after_mib']:.0f} MiB after {m['minutes']:.1f} min of load "
            f"({m['change_percent']:+.1f}%), peak {m['peak_mib']:.0f} MiB; every 10 s "
            "(seconds: MiB): " + ", ".join(f"{t}: {r}" for t, r in m["samples"]) + ". "
            f"Tracebacks in the server log: {report['server_tracebacks']}.",
            markers(name)[1],
        ]
    )


def machine_line() -> str:
    import platform

    cpus = os.cpu_count()
    return f"Machine: {cpus} CPUs, Python {platform.python_version()}."


def encoder_name(index: Path) -> str:
    """What encodes the questions, from the index manifest (model, and `encoder` if recorded)."""
    try:
        from qa.index import live_version

        manifest = json.loads((live_version(index) / "manifest.json").read_text("utf-8"))
    except Exception:  # the report should not fail over a description
        return "unknown"
    encoder = manifest.get("encoder")
    return f"{manifest.get('model')}" + (f" ({encoder})" if encoder else " (torch, fp32)")


# --- Command line ------------------------------------------------------------------------------


def bounded(low: float, high: float, kind=float):
    def parse(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--server-child"]:
        return serve_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=bounded(1, MAX_USERS, int), help="one scenario: N users")
    parser.add_argument("--think", type=bounded(0, 60), default=1.0, help="seconds (1)")
    parser.add_argument("--duration", type=bounded(1, MAX_SECONDS), default=60.0, help="seconds")
    parser.add_argument("--corpus", type=Path, default=REPO / "seeds", help="corpus (seeds/)")
    parser.add_argument("--index", type=Path, help="index folder (default: a fresh temp folder)")
    parser.add_argument("--output", type=Path, help="write the figures into this Markdown file")
    parser.add_argument("--json", action="store_true", help="end with the report as JSON")
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="extra `qa serve` argument (repeatable)"
    )
    parser.add_argument(
        "--server",
        choices=tuple(MODES),
        default="qa",
        help="qa: `qa serve` as it is; baseline: as before issue 18 (one answer at a time, no "
        "batching); no-answer: serving alone, every question gets a stored answer",
    )
    args = parser.parse_args(argv)
    if args.users:
        plan = [(f"{args.users} users", args.users, args.think, args.duration)]
    else:  # the targets of issue 18: 3 minutes of load on one server
        plan = [("20 users, 1 s think", 20, 1.0, 120.0), ("50 users, no think", 50, 0.0, 60.0)]

    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
        index = args.index or Path(tmp) / "index"
        load_average = os.getloadavg()[0]
        server = start_server(
            args.corpus.resolve(), index.resolve(), Path(tmp), args.serve_arg, args.server
        )
        try:
            started_mib, _ = server.rss_mib()
            # Connect every user, then warm up with all of them at once for a few seconds: the
            # first requests import modules lazily and size buffers for the concurrency; what
            # grows after that is what the load itself costs.
            clients = [connect(server.url, u) for u in range(max(p[1] for p in plan))]
            run_users(server.url, len(clients), 0, WARMUP_SECONDS, clients)
            before, _ = server.rss_mib()
            began = time.monotonic()
            samples, sampling = [], threading.Event()

            def sample() -> None:  # the server's RSS every 10 s: does it level off?
                while not sampling.wait(10):
                    samples.append((round(time.monotonic() - began), round(server.rss_mib()[0])))

            threading.Thread(target=sample, daemon=True).start()
            results = []
            for name, users, think, seconds in plan:
                results.append(scenario(server, clients, name, users, think, seconds))
                print_result(results[-1])
            sampling.set()
            after, peak = server.rss_mib()
            minutes = (time.monotonic() - began) / 60
            for c in clients:
                c.close()
        finally:
            server.stop()
        report = {
            "command": "python -m benchmarks.load " + shlex.join(argv),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine_line(),
            "encoder": encoder_name(index),
            "corpus": str(args.corpus),
            "server": args.server,
            "load_average": round(load_average, 2),
            "scenarios": results,
            "memory": {
                "started_mib": round(started_mib, 1),
                "warmup_s": WARMUP_SECONDS,
                "before_mib": round(before, 1),
                "after_mib": round(after, 1),
                "peak_mib": round(peak, 1),
                "minutes": round(minutes, 2),
                "change_percent": round(100 * (after - before) / before, 1),
                "samples": samples,
            },
            "server_tracebacks": server.tracebacks(),
        }
    m = report["memory"]
    print(
        f"server RSS: {m['started_mib']:.0f} MiB started, {m['before_mib']:.0f} MiB after the "
        f"{m['warmup_s']} s warm-up, {m['after_mib']:.0f} MiB after "
        f"{m['minutes']:.1f} min ({m['change_percent']:+.1f}%), peak {m['peak_mib']:.0f} MiB; "
        f"tracebacks in the server log: {report['server_tracebacks']}",
        flush=True,
    )
    print("  RSS every 10 s (s, MiB): " + " ".join(f"{t}:{r}" for t, r in m["samples"]))
    if args.output:
        name = "load" if args.server == "qa" else f"load-{args.server}"
        write_section(args.output, name, markdown(report, name))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    errors = sum(r["errors"] for r in results) + report["server_tracebacks"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
