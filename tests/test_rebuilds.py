"""Rebuilds never fail a reader.

`qa index` (run in this process, to rebuild every second or two even on a busy machine) replaces
the index back and forth between two corpora, again and again, while three long-lived services
answer (as the chat does), fresh services load the index for every question (as each new
`qa ask` process does) and real `qa ask` processes run. Every version folder is
deleted right after the switch, so a reader regularly opens a version that is being removed; it
must retry on the new one. Not one question may fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

from qa.cli import main as qa_main
from qa.embedding import Embedder
from qa.index import live_version_name
from qa.service import QAService
from tests.conftest import REPO, run_qa

# 25 s in the suite; `QA_REBUILD_SECONDS=90` reproduces the 90 s figure of issue 18.
SECONDS = float(os.environ.get("QA_REBUILD_SECONDS", "25"))
MIN_REBUILDS, MAX_SECONDS = 6, 120
PAUSE = 0.05  # between a reader's questions: busy, but leaving the rebuilds some of the GIL
WHATSAPP = "Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?"
EXTRA = (
    "Neue Fähre für Lindenwerder\n"
    "Die Gemeinde Lindenwerder hat eine neue Elektrofähre in Betrieb genommen. Sie bringt bis "
    "zu vierzig Autos in zwölf Minuten über den See."
)


def test_readers_never_fail_while_the_index_is_rebuilt(tmp_path, seed_corpus, settings):
    small, large = tmp_path / "small", tmp_path / "large"
    shutil.copytree(seed_corpus, small)
    shutil.copytree(seed_corpus, large)
    (large / "faehre.txt").write_text(EXTRA, "utf-8")
    index = tmp_path / "index"
    run_qa("index", "--corpus", str(large), "--index", str(index))  # embeds the extra article
    embedder = Embedder(settings.model, settings.model_dir, settings.batch_size)
    QAService(index, settings, embedder=embedder).warm_up()

    stop = threading.Event()
    failures: list[str] = []
    counts = {"answers": 0, "fresh": 0, "processes": 0, "versions": set()}
    lock = threading.Lock()

    def note(key: str, failure: str | None = None) -> None:
        with lock:
            if failure:
                failures.append(failure)
            else:
                counts[key] += 1

    def chat_user() -> None:  # one service for the whole run, like the chat
        service = QAService(index, settings, embedder=embedder)
        while not stop.is_set():
            try:
                answer = service.ask(WHATSAPP)
                assert "18 Milliarden" in answer.snippets[0].text
                with lock:
                    counts["versions"].add(service.snapshot().version)
                note("answers")
            except Exception as err:  # any failure counts
                note("answers", f"chat: {type(err).__name__}: {err}")
            time.sleep(PAUSE)

    def fresh_reader() -> None:  # a new service per question, like a new `qa ask` process
        while not stop.is_set():
            try:
                answer = QAService(index, settings, embedder=embedder).ask(WHATSAPP)
                assert not answer.abstained
                note("fresh")
            except Exception as err:
                note("fresh", f"fresh: {type(err).__name__}: {err}")
            time.sleep(PAUSE)

    def processes() -> None:  # real `qa ask` processes, one after the other
        env = os.environ | {"HF_HUB_OFFLINE": "1"}
        while not stop.is_set():
            result = subprocess.run(
                [sys.executable, "-m", "qa.cli", "ask", "--json", "--index", str(index), WHATSAPP],
                cwd=REPO,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            if result.returncode != 0 or json.loads(result.stdout)["abstained"]:
                note("processes", f"qa ask: {result.returncode} {result.stderr[-300:]}")
            else:
                note("processes")

    threads = [threading.Thread(target=chat_user) for _ in range(3)]
    threads += [threading.Thread(target=fresh_reader), threading.Thread(target=processes)]
    for t in threads:
        t.start()
    rebuilds = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < SECONDS or rebuilds < MIN_REBUILDS:
            assert elapsed < MAX_SECONDS, f"only {rebuilds} rebuilds in {elapsed:.0f} s"
            corpus = small if rebuilds % 2 == 0 else large
            before = live_version_name(index)
            argv = ["index", "--json", "--corpus", str(corpus), "--index", str(index)]
            assert qa_main(argv) == 0
            assert live_version_name(index) != before
            rebuilds += 1
            time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
    counts["versions"] = len(counts["versions"])
    print(f"\n{rebuilds} rebuilds in {time.monotonic() - started:.0f} s: {counts}")
    assert failures == [], failures[:5]
    assert counts["answers"] >= 10 and counts["fresh"] >= 3 and counts["processes"] >= 1
    assert counts["versions"] >= 2  # the chat users really switched versions
