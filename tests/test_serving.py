"""The served chat: its login, and what the `/ask` API does with bad input.

One `qa serve --auth-file` runs in a subprocess for the module; the API is used through
`gradio_client`, as the README documents, and through plain HTTP for what the client hides.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from qa.auth import Login, check_exposure, is_loopback, read_auth_file
from qa.errors import InvalidFilter, InvalidInput
from tests.conftest import REPO

gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")

WHATSAPP = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
USERS = "# who may use the chat\nanna:richtig-geheim\nbernd:auch geheim: mit Doppelpunkt\n"
STARTUP_TIMEOUT = 300


# --- The login file and the address check (no server) -------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses_need_no_login(host):
    assert is_loopback(host)
    check_exposure(host, None, no_auth=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "chat.example.org"])
def test_a_public_address_needs_a_login_or_no_auth(host, tmp_path):
    assert not is_loopback(host)
    with pytest.raises(InvalidInput, match="--auth-file FILE.*--no-auth"):
        check_exposure(host, None, no_auth=False)
    check_exposure(host, tmp_path / "users", no_auth=False)
    check_exposure(host, None, no_auth=True)


def test_the_auth_file_is_read_and_must_be_private(tmp_path):
    path = tmp_path / "users"
    path.write_text(USERS, "utf-8")
    path.chmod(0o600)
    assert read_auth_file(path) == {
        "anna": "richtig-geheim",
        "bernd": "auch geheim: mit Doppelpunkt",
    }
    for mode in (0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(InvalidInput, match=f"chmod 600 {re.escape(str(path))}"):
            read_auth_file(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no `user:password` line"),
        ("anna\n", "line 1"),
        ("anna:\n", "line 1"),
        (":geheim\n", "line 1"),
        ("anna:a\nanna:b\n", "appears twice"),
    ],
)
def test_a_malformed_auth_file_is_refused_without_echoing_passwords(tmp_path, text, message):
    path = tmp_path / "users"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    with pytest.raises(InvalidInput, match=re.escape(message)) as err:
        read_auth_file(path)
    assert "geheim" not in str(err.value) and ":a" not in str(err.value)


def test_login_checks_user_and_password():
    login = Login({"anna": "richtig-geheim"})
    assert login("anna", "richtig-geheim")
    assert not login("anna", "falsch")
    assert not login("bernd", "richtig-geheim")
    assert not login("", "")


def test_feedback_records_the_logged_in_user(tmp_path):
    import gradio as gr

    from qa.types import Answer
    from qa.ui.app import ChatHandlers, FeedbackLog

    handlers = ChatHandlers(None, FeedbackLog(tmp_path / "feedback.jsonl"))
    turns = {1: ("Frage?", Answer("Frage?", abstained=True))}
    liked = gr.LikeData(None, {"index": 1, "value": "", "liked": True})
    handlers.rate(turns, "de", liked, SimpleNamespace(username="anna"))
    handlers.rate(turns, "de", liked, SimpleNamespace(username=None))
    first, second = map(json.loads, (tmp_path / "feedback.jsonl").read_text("utf-8").splitlines())
    assert first["user"] == "anna" and first["rating"] == "up"
    assert "user" not in second


def test_a_refused_question_costs_milliseconds(tmp_path):
    """Refused before the index or the model is touched: no index exists here at all."""
    from qa.service import QAService

    service = QAService(tmp_path / "no-index")
    for question in ("x" * 1_000_000, "Warum " * 400, " \x00 \n "):
        started = time.perf_counter()
        with pytest.raises(InvalidInput):
            service.ask(question)
        assert time.perf_counter() - started < 0.05


def test_the_batcher_answers_waiting_questions_together_and_keeps_failures_apart():
    from concurrent.futures import ThreadPoolExecutor

    from qa.retrieval import Filters
    from qa.serving import Batcher
    from qa.types import Answer

    calls: list[tuple[list[str], Filters | None]] = []
    gate = threading.Event()

    def ask_batch(questions, filters, contexts):
        gate.wait(5)  # the first call blocks, so the others queue up behind it
        calls.append((list(questions), filters))
        if "kaputt" in questions and len(questions) > 1:
            raise RuntimeError("one bad question")
        if questions == ["kaputt"]:
            raise RuntimeError("kaputt")
        return [Answer(q, abstained=True) for q in questions]

    batcher = Batcher(ask_batch, workers=1, max_batch=16)
    dated = Filters.parse("2020", None, None)
    asks = [("erste", None)] + [(f"frage {i}", None) for i in range(6)]
    asks += [("kaputt", None), ("mit datum", dated)]
    with ThreadPoolExecutor(len(asks)) as pool:
        first = pool.submit(batcher.ask, *asks[0])
        time.sleep(0.3)
        rest = [pool.submit(batcher.ask, q, f) for q, f in asks[1:]]
        time.sleep(1)
        gate.set()
        assert first.result().question == "erste"
        for (question, _), future in zip(asks[1:], rest):
            if question == "kaputt":
                with pytest.raises(RuntimeError, match="kaputt"):
                    future.result()
            else:
                assert future.result().question == question
    assert len(calls[1][0]) == 7  # the questions that waited went together (then one by one)
    assert all(f is None or f == dated for _, f in calls)
    assert any(qs == ["mit datum"] for qs, f in calls if f == dated)  # grouped by filters
    with pytest.raises(InvalidInput):  # refused in the caller's thread, never queued
        batcher.ask("   ")


# --- A served chat behind a login --------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory, cache_dir) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("served")
    index = root / "index"
    shutil.copytree(seed_index, index)
    users = root / "users"
    users.write_text(USERS, "utf-8")
    users.chmod(0o600)
    command = [sys.executable, "-m", "qa.cli", "serve", "--index", str(index)]
    command += ["--port", str(free_port()), "--auth-file", str(users)]
    env = os.environ | {"PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    url = None
    while url is None and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        if match := re.search(r"(http://\S+?)/?\s", line):
            url = match.group(1).replace("localhost", "127.0.0.1") + "/"
    if url is None:
        process.kill()
        pytest.fail("qa serve printed no URL:\n" + "".join(log[-30:]))
    yield Server(url, process, log)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server.url, auth=("anna", "richtig-geheim"), verbose=False)


def test_anonymous_requests_are_rejected(server):
    with pytest.raises(Exception):  # noqa: B017 - gradio_client's kind differs by version
        gradio_client.Client(server.url, verbose=False).predict(WHATSAPP, api_name="/ask")
    # Below the client: the API itself refuses, not only its configuration page.
    join = httpx.post(
        server.url + "gradio_api/queue/join",
        json={"data": [WHATSAPP, "", "", []], "fn_index": 0, "session_hash": "anonymous"},
    )
    assert join.status_code == 401
    assert httpx.get(server.url + "gradio_api/info").status_code == 401


def test_a_wrong_password_is_rejected(server):
    with pytest.raises(Exception, match="(?i)login|credential"):
        gradio_client.Client(server.url, auth=("anna", "falsch"), verbose=False)
    with pytest.raises(Exception, match="(?i)login|credential"):
        gradio_client.Client(server.url, auth=("mallory", "richtig-geheim"), verbose=False)


def test_the_right_password_gets_answers(client):
    result = client.predict(WHATSAPP, api_name="/ask")
    assert not result["abstained"]
    assert "18 Milliarden" in result["snippets"][0]["text"]


@pytest.mark.parametrize(
    "question, message",
    [
        ("Warum " * 400, "too long"),
        ("x" * 1_000_000, "too long"),
        ("", "Frage ein"),  # the API speaks German, the page's default language
        ("   \n\t ", "Frage ein"),
    ],
    ids=["2400-chars", "1-MB", "empty", "blank"],
)
def test_api_refuses_empty_and_over_long_questions_with_a_message(client, question, message):
    started = time.monotonic()
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        client.predict(question, api_name="/ask")
    assert time.monotonic() - started < 10  # the 1 MB upload included; no search behind it


@pytest.mark.parametrize("question", ["?!?", "🙂🙂🙂", "\x00\x00\x00 ...", "— – ¿ ¡ «»"])
def test_api_declines_questions_without_letters_or_digits(client, question):
    result = client.predict(question, api_name="/ask")
    assert result["abstained"] and result["snippets"] == []


@pytest.mark.parametrize(
    "date_from, date_to, sources, message",
    [
        ("2020-13-45", "", [], "YYYY-MM-DD"),
        ("gestern", "", [], "gestern"),
        ("2021", "2020", [], "reversed"),
        ("", "", ["sport/"], "matches no article"),
    ],
)
def test_api_refuses_bad_filters(client, date_from, date_to, sources, message):
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        client.predict(WHATSAPP, date_from, date_to, sources, api_name="/ask")


@pytest.mark.parametrize(
    "args, message",
    [
        ((12345,), "question must be a string, not int"),
        ((WHATSAPP, ["2020"]), "date_from must be a string, not list"),
        ((WHATSAPP, "", {"bis": 2020}), "date_to must be a string, not dict"),
        ((WHATSAPP, "", "", "sport/"), "sources must be a list of strings"),
        ((WHATSAPP, "", "", [1, 2]), "sources must be a list of strings"),
    ],
    ids=["number", "list-date", "dict-date", "string-sources", "number-sources"],
)
def test_api_refuses_inputs_of_the_wrong_type(client, args, message):
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        client.predict(*args, api_name="/ask")


def test_check_api_refuses_a_claim_of_the_wrong_type(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="claim must be a string"):
        client.predict(5, api_name="/check")


def test_a_hand_made_call_with_the_wrong_number_of_inputs_is_refused(server):
    """Below `gradio_client`: a raw queue request to `/ask` with too few inputs (Gradio drops
    extra ones)."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        login = http.post("login", data={"username": "anna", "password": "richtig-geheim"})
        assert login.status_code == 200
        config = http.get("config").json()
        (fn_index,) = [
            i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "ask"
        ]
        for n, data in enumerate(([], [WHATSAPP, ""])):
            session = f"malformed-{n}"
            join = http.post(
                "gradio_api/queue/join",
                json={"data": data, "fn_index": fn_index, "session_hash": session},
            )
            assert join.status_code == 200
            params = {"session_hash": session}
            with http.stream("GET", "gradio_api/queue/data", params=params) as events:
                done = next(line for line in events.iter_lines() if "process_completed" in line)
            message = json.loads(done.removeprefix("data: "))
            assert message["success"] is False
            assert "input values" in message["output"]["error"]


def test_no_traceback_in_the_server_log(server, client):
    for question in ("", "   ", "x" * 5000, "?!?"):
        try:
            client.predict(question, api_name="/ask")
        except gradio_client.exceptions.AppError:
            pass
    time.sleep(0.5)
    assert not any("Traceback" in line for line in server.log), "".join(server.log[-40:])


def test_filters_refuse_what_the_page_would_get_wrong():
    from qa.retrieval import Filters

    for bad in (("2020-02-30", None), (None, "20-01"), ("2020", "2019-12-31")):
        with pytest.raises(InvalidFilter):
            Filters.parse(*bad)
