"""Run the `qa` command line in this process and report its peak memory on stderr.

    python -m benchmarks.peak qa ask "Wer …?" --index DIR --json

The same code as the `qa` console script, plus a last stderr line `peak_rss_mb=N` (VmHWM of this
process). Measured here rather than by the parent because a child's `ru_maxrss` starts from the
parent's resident size at fork, which would count the benchmark's own model and indexes.
"""

from __future__ import annotations

import sys

from benchmarks.machine import peak_rss_mb

MARKER = "peak_rss_mb="


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "qa":
        print("usage: python -m benchmarks.peak qa COMMAND [ARGS ...]", file=sys.stderr)
        return 2
    from qa.cli import main as qa_main

    try:
        return qa_main(argv[1:])
    finally:
        print(f"{MARKER}{peak_rss_mb()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
