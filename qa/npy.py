"""Reading `.npy` files from many threads at once.

`np.load` parses each file's header with `ast.literal_eval`. CPython 3.11 keeps the AST
builder's recursion depth per interpreter, not per thread, so two threads that build ASTs at
the same time (a garbage collection inside one can hand the GIL to the other) fail with
"SystemError: AST constructor recursion depth mismatch" (python/cpython#106905). A chat server
whose request threads open a freshly rebuilt index hit exactly that. Parsing a header takes
microseconds, so one lock for the whole process costs nothing measurable.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

HEADER_LOCK = threading.Lock()
"""Held around everything in this process that parses a `.npy` header (here and around
`bm25s.BM25.load`, which calls `np.load` itself)."""


def load_npy(path: Path, mmap: bool = True) -> np.ndarray:
    """The array in `path`, memory-mapped read-only when `mmap`, else read into memory."""
    with HEADER_LOCK:
        return np.load(path, mmap_mode="r" if mmap else None)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the `.npz` archive at `path`, read into memory."""
    with HEADER_LOCK, np.load(path) as data:
        return {name: data[name] for name in data.files}
