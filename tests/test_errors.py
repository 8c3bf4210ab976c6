"""Every kind of bad command-line input ends in one line on stderr, exit status 1, no traceback.

Each case runs `qa` in a subprocess, as a user would; the cases run a few at a time against one
shared index of the seed articles. Each names the problem in its message (the `expect` words).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

WHATSAPP = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[dict[str, Path]], list[str]]
    expect: tuple[str, ...]  # words the message must contain (case-insensitive)


CASES = (
    # qa ask: the questions
    Case("ask-no-question", lambda p: ["ask", "--index", p["index"]], ("question", "--batch")),
    Case("ask-empty-question", lambda p: ["ask", "--index", p["index"], "   "], ("empty",)),
    Case(
        "ask-question-too-long",
        lambda p: ["ask", "--index", p["index"], "Warum " * 500],
        ("too long", "2000"),
    ),
    Case(
        "ask-batch-not-utf8",
        lambda p: ["ask", "--index", p["index"], "--batch", p["latin"]],
        ("not utf-8",),
    ),
    Case(
        "ask-batch-missing",
        lambda p: ["ask", "--index", p["index"], "--batch", p["dir"] / "nosuch.txt"],
        ("cannot read", "no such file"),
    ),
    Case(
        "ask-batch-is-folder",
        lambda p: ["ask", "--index", p["index"], "--batch", p["dir"]],
        ("cannot read", "directory"),
    ),
    Case(
        "ask-batch-empty",
        lambda p: ["ask", "--index", p["index"], "--batch", p["empty"]],
        ("no lines",),
    ),
    # qa ask: filters
    Case(
        "ask-impossible-date",
        lambda p: ["ask", "--index", p["index"], "--date-from", "2020-13-45", WHATSAPP],
        ("2020-13-45", "yyyy-mm-dd"),
    ),
    Case(
        "ask-date-word",
        lambda p: ["ask", "--index", p["index"], "--date-to", "gestern", WHATSAPP],
        ("gestern", "yyyy-mm-dd"),
    ),
    Case(
        "ask-reversed-range",
        lambda p: ["ask", "--index", p["index"], "--date-from", "2021", "--date-to", "2020", "x"],
        ("reversed", "earlier date"),
    ),
    Case(
        "ask-impossible-day",
        lambda p: ["ask", "--index", p["index"], "--date-to", "2020-02-30", WHATSAPP],
        ("2020-02-30", "yyyy-mm-dd"),
    ),
    Case(
        "ask-unknown-source",
        lambda p: ["ask", "--index", p["index"], "--source", "sport/", WHATSAPP],
        ("sport/", "matches no article"),
    ),
    # qa ask: the index and the model
    Case(
        "ask-no-index",
        lambda p: ["ask", "--index", p["dir"] / "nothing-here", WHATSAPP],
        ("no index", "qa index"),
    ),
    Case(
        "ask-broken-index",
        lambda p: ["ask", "--index", p["broken"], WHATSAPP],
        ("manifest", "qa index"),
    ),
    Case(
        "ask-other-model",
        lambda p: ["--model", "/no/such/folder", "ask", "--index", p["index"], WHATSAPP],
        ("built with the model", "/no/such/folder"),
    ),
    # qa show
    Case("show-unknown-id", lambda p: ["show", "nosuchid", "--index", p["index"]], ("nosuchid",)),
    # qa index
    Case(
        "index-corpus-missing",
        lambda p: ["index", "--corpus", p["dir"] / "nosuch", "--index", p["dir"] / "i1"],
        ("does not exist",),
    ),
    Case(
        "index-corpus-is-file",
        lambda p: ["index", "--corpus", p["latin"], "--index", p["dir"] / "i2"],
        ("not a folder",),
    ),
    Case(
        "index-corpus-empty",
        lambda p: ["index", "--corpus", p["emptydir"], "--index", p["dir"] / "i3"],
        ("no usable articles",),
    ),
    Case(
        "index-target-is-file",
        lambda p: ["index", "--corpus", p["seeds"], "--index", p["latin"]],
        ("is a file",),
    ),
    Case(
        "index-target-unwritable",
        lambda p: ["index", "--corpus", p["seeds"], "--index", "/proc/qa-index"],
        ("cannot write", "/proc/qa-index"),
    ),
    Case(
        "index-max-chars-zero",
        lambda p: ["index", "--max-article-chars", "0", "--index", p["dir"] / "i4"],
        ("--max-article-chars", "at least 1"),
    ),
    Case(
        "index-max-chars-word",
        lambda p: ["index", "--max-article-chars", "viele", "--index", p["dir"] / "i5"],
        ("--max-article-chars", "whole number"),
    ),
    Case(
        "index-max-chars-negative",
        lambda p: ["index", "--max-article-chars", "-5", "--index", p["dir"] / "i7"],
        ("--max-article-chars", "at least 1"),
    ),
    Case(
        "index-model-missing",
        lambda p: [
            "--model",
            "/no/such/folder",
            "index",
            "--corpus",
            p["seeds"],
            "--index",
            p["dir"] / "i6",
        ],
        ("cannot load embedding model", "/no/such/folder"),
    ),
    # qa eval
    Case("eval-missing", lambda p: ["eval", p["dir"] / "nosuch.json"], ("cannot read",)),
    Case("eval-not-json", lambda p: ["eval", p["latin"]], ("not",)),
    Case("eval-wrong-shape", lambda p: ["eval", p["wrong_shape"]], ("squad",)),
    Case("eval-wrong-shape-list", lambda p: ["eval", p["wrong_list"]], ("squad",)),
    # qa serve: checked before anything is loaded or bound
    Case("serve-port-zero", lambda p: ["serve", "--port", "0"], ("--port", "at least 1")),
    Case("serve-port-too-big", lambda p: ["serve", "--port", "70000"], ("--port", "65535")),
    Case(
        "serve-public-without-login",
        lambda p: ["serve", "--index", p["index"], "--host", "0.0.0.0"],
        ("--auth-file", "--no-auth"),
    ),
    Case(
        "serve-auth-file-missing",
        lambda p: ["serve", "--index", p["index"], "--auth-file", p["dir"] / "nosuch"],
        ("--auth-file", "user:password"),
    ),
    Case(
        "serve-auth-file-open",
        lambda p: ["serve", "--index", p["index"], "--auth-file", p["auth_open"]],
        ("chmod 600",),
    ),
    Case(
        "serve-auth-file-malformed",
        lambda p: ["serve", "--index", p["index"], "--auth-file", p["auth_bad"]],
        ("line 2", "user:password"),
    ),
    # qa forget, and the parser itself
    Case(
        "forget-unknown-source",
        lambda p: ["forget", "nosuch.txt", "--index", p["index"]],
        ("nosuch.txt", "matches"),
    ),
    Case("unknown-command", lambda p: ["frobnicate"], ("frobnicate",)),
    Case("unknown-option", lambda p: ["ask", "--frobnicate", "x"], ("--frobnicate",)),
)


@pytest.fixture(scope="module")
def paths(tmp_path_factory, seed_index, seed_corpus) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad-input")
    (d / "latin.txt").write_bytes("Wer gründete WhatsApp?\n".encode("latin-1"))
    (d / "empty.txt").write_text("\n  \n", "utf-8")
    (d / "emptydir").mkdir()
    (d / "wrong.json").write_text(json.dumps({"data": 5}), "utf-8")
    (d / "wrong-list.json").write_text(json.dumps({"data": [[1, 2]]}), "utf-8")
    broken = d / "broken"
    shutil.copytree(seed_index, broken)
    version = (broken / "CURRENT").read_text("utf-8").strip()
    (broken / version / "manifest.json").write_text("{ not json", "utf-8")
    (d / "auth-open").write_text("anna:geheim\n", "utf-8")
    (d / "auth-open").chmod(0o644)
    (d / "auth-bad").write_text("anna:geheim\nbernd\n", "utf-8")
    (d / "auth-bad").chmod(0o600)
    return {
        "dir": d,
        "index": seed_index,
        "seeds": seed_corpus,
        "broken": broken,
        "latin": d / "latin.txt",
        "empty": d / "empty.txt",
        "emptydir": d / "emptydir",
        "wrong_shape": d / "wrong.json",
        "wrong_list": d / "wrong-list.json",
        "auth_open": d / "auth-open",
        "auth_bad": d / "auth-bad",
    }


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *map(str, argv)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
        timeout=300,
    )


@pytest.fixture(scope="module")
def outcomes(paths) -> dict[str, subprocess.CompletedProcess]:
    """All cases, three processes at a time (the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {c.name: pool.submit(run, c.argv(paths)) for c in CASES}
        return {name: f.result() for name, f in futures.items()}


def test_there_are_at_least_22_kinds():
    assert len({c.name for c in CASES}) == len(CASES) >= 22


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_exit_1(case, outcomes):
    result = outcomes[case.name]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in case.expect:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    assert result.stdout == ""


def test_debug_shows_the_traceback(paths):
    result = run(["--debug", "ask", "--index", paths["dir"] / "nothing-here", WHATSAPP])
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "IndexUnavailable" in result.stderr


def test_a_bad_question_inside_a_batch_gets_its_own_line(paths):
    batch = paths["dir"] / "batch.txt"
    lines = [WHATSAPP, "Warum " * 500, "?!? 🙂", "x" * 1_000_000, "\x00\x00\x00", WHATSAPP]
    batch.write_text("\n".join(lines) + "\n", "utf-8")
    result = run(["ask", "--index", paths["index"], "--json", "--batch", batch])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    answered, too_long, garbage, megabyte, nul, again = map(json.loads, result.stdout.splitlines())
    for ok in (answered, again):
        assert not ok["abstained"] and "18 Milliarden" in ok["snippets"][0]["text"]
    for bad in (too_long, megabyte):
        assert bad["abstained"] and bad["snippets"] == [] and "too long" in bad["error"]
    assert garbage["abstained"] and garbage["snippets"] == [] and "error" not in garbage
    assert nul["abstained"] and nul["snippets"] == [] and "empty" in nul["error"]


@pytest.mark.parametrize("question", ["?!?", "🙂🙂🙂", "— – ¿ ¡ «» ..."])
def test_a_question_without_letters_or_digits_is_declined_not_refused(paths, question):
    result = run(["ask", "--index", paths["index"], "--json", question])
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    answer = json.loads(result.stdout)
    assert answer["abstained"] and answer["snippets"] == [] and "error" not in answer


EXIT_DURING_PRELOAD = """
import sys, time
from qa.config import Settings
from qa.onnx_encoder import OnnxEmbedder
OnnxEmbedder(models_dir=Settings().model_dir).preload()
time.sleep(float(sys.argv[1]))
"""


def test_exiting_while_the_encoder_loads_does_not_abort(settings):
    """A declined question or a refused filter ends the process while the int8 encoder may
    still be loading in the background; that used to abort in ONNX Runtime's teardown
    ("terminate called without an active exception", exit status 134) instead of exiting."""
    from qa.onnx_export import DATA_FILE, int8_folder

    if not (int8_folder(settings.model_dir) / DATA_FILE).exists():
        pytest.skip("the int8 encoder is not provisioned in this cache")
    for delay in ("0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.7"):
        result = subprocess.run(
            [sys.executable, "-c", EXIT_DURING_PRELOAD, delay],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0 and "terminate" not in result.stderr, (delay, result.stderr)
