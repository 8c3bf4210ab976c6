"""How the chat server spends its cores: a few answer workers that batch concurrent questions.

Measured on the 2-core machine (docs/benchmarks.md): one question costs a few ms of Python and
one encoder call, and most of a request's time under load went to waiting in Gradio's queue,
which ran one answer at a time. Three changes fit the serving path to the cores:

- Gradio waits, the workers compute: requests are taken in parallel (many Gradio threads, cheap
  to block), and handed to `workers` answer threads, one per core.
- Questions that arrive together are answered together: a worker takes every question waiting
  (up to `max_batch`) and answers them with one `QAService.ask_batch` call (one encoder call, one
  FAISS search, one reader pass); alone, a question is answered at once, with no added wait.
- One encoder thread per worker: with every core busy, torch's own thread pool only adds
  contention (two threads per encoder call were several times slower under load).
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from qa.retrieval import Filters
from qa.service import clean_question
from qa.types import Answer

# `QAService.ask_batch(questions, filters, contexts)`
AskBatch = Callable[[Sequence[str], Filters | None, Sequence[object]], list[Answer]]


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def limit_threads(threads: int = 1) -> None:
    """Per-call thread pools of the numeric libraries: `threads` each (the workers are the
    parallelism). Environment variables for pools not started yet, torch's setting if loaded."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


_TRIM_EVERY = 10.0  # seconds
_last_trim = [0.0]


def release_memory() -> None:
    """Hand freed heap memory back to the system, at most every few seconds.

    Batches of changing sizes leave glibc's heaps fragmented: without this the server's RSS
    crept up by a quarter over the first minutes under load (docs/benchmarks.md).
    """
    now = time.monotonic()
    if now - _last_trim[0] < _TRIM_EVERY or not sys.platform.startswith("linux"):
        return
    _last_trim[0] = now
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


class Batcher:
    """Answers single questions from many threads with as few `ask_batch` calls as possible.

    `ask` validates the question in the caller's thread (a refused question costs microseconds
    and never joins a batch), queues it and waits. Each worker takes the waiting questions,
    groups them by filters and answers each group with one call.
    """

    def __init__(self, ask_batch: AskBatch, workers: int = 1, max_batch: int = 16):
        self._ask_batch = ask_batch
        self._max_batch = max_batch
        # How many `ask_batch` calls answered how many questions (benchmarks read these).
        self.calls = 0
        self.questions = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"qa-answer-{i}", daemon=True)
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def ask(self, question: str, filters: Filters | None = None, context=None) -> Answer:
        """The answer to one question (`context`: what a follow-up leans on, see `qa.followup`)."""
        clean_question(question)
        future: Future = Future()
        self._queue.put((question, context, filters, future))
        return future.result()

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            groups: dict[Filters | None, list] = {}
            for item in batch:
                groups.setdefault(item[2], []).append(item)
            for filters, items in groups.items():
                self._answer(filters, items)
            release_memory()

    def _answer(self, filters: Filters | None, items: list) -> None:
        self.calls += 1
        self.questions += len(items)
        try:
            answers = self._ask_batch([i[0] for i in items], filters, [i[1] for i in items])
        except Exception as err:  # handed to the asking threads, which report it
            if len(items) == 1:
                items[0][3].set_exception(err)
                return
            for item in items:  # one at a time, so one question's failure stays its own
                self._answer(filters, [item])
            return
        for item, answer in zip(items, answers, strict=True):
            item[3].set_result(answer)
