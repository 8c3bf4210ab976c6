"""How the chat server spends its cores: answer workers that batch concurrent questions.

Measured with `benchmarks/load.py` on the 2-core machine (docs/benchmarks.md). Before, Gradio ran
one answer at a time, so under load most of a request went to waiting in its queue. Now:

- Gradio waits, the workers compute: Gradio takes up to `WAITING_ANSWERS` requests at once
  (threads that only wait; `qa.ui.app`) and hands them to `workers` answer threads, one per
  core; more requests wait in Gradio's queue, which costs no thread.
- Questions that arrive together are answered together: a worker takes every question waiting
  (up to `max_batch`) and answers them with one `QAService.ask_batch` call (one encoder call,
  one FAISS search, one reader pass); a question alone is answered at once, with no added wait.
  With the fp32 torch encoder this halved the CPU per question; the int8 encoder costs about
  the same per question at any batch size, so now it mostly saves per-call overhead.
- One encoder thread per worker (`limit_threads`): with every core busy, a per-call thread pool
  only adds contention (two torch threads per call were several times slower under load).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from qa.retrieval import Filters
from qa.service import clean_question
from qa.types import Answer

# `QAService.ask_batch(questions, filters, contexts)`
AskBatch = Callable[[Sequence[str], Filters | None, Sequence[object]], list[Answer]]


def limit_threads(threads: int = 1) -> None:
    """Per-call thread pools of the numeric libraries: `threads` each (the workers are the
    parallelism). Environment variables for pools not started yet, torch's setting if loaded."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


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
