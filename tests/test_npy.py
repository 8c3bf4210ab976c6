"""Many threads reading `.npy` files at once, as a chat server's request threads do when they
open a freshly rebuilt index."""

import sys
import threading

import numpy as np
import pytest

from qa.npy import load_npy, load_npz


class Finalized:
    """Garbage whose collection runs Python code, which can hand the GIL to another thread in
    the middle of `np.load`'s header parse (the way the chat server's objects do)."""

    def __del__(self):
        sum(range(100))


def nested(depth: int, work) -> None:
    # Threads at different stack depths: CPython 3.11's shared AST recursion counter then
    # disagrees with itself when two header parses interleave.
    return work() if depth == 0 else nested(depth - 1, work)


@pytest.fixture
def fast_switching():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_threads_read_arrays_at_once_without_errors(tmp_path, fast_switching):
    expected = np.arange(1000, dtype=np.float32)
    np.save(tmp_path / "column.npy", expected)
    np.savez(tmp_path / "head.npz", w=expected, hand=np.array(True))
    errors: list[str] = []

    def reader() -> None:
        for _ in range(600):
            try:
                assert np.array_equal(load_npy(tmp_path / "column.npy"), expected)
                assert np.array_equal(load_npy(tmp_path / "column.npy", mmap=False), expected)
                assert bool(load_npz(tmp_path / "head.npz")["hand"])
            except Exception as err:  # any failure counts
                errors.append(f"{type(err).__name__}: {err}")
                return
            garbage = Finalized()
            garbage.cycle = garbage

    threads = [threading.Thread(target=nested, args=(d, reader)) for d in (0, 40, 80, 120)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
