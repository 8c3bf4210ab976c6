"""Named sections of the docs that a benchmark rewrites, leaving the rest of the file alone.

A section is the text between `<!-- section:NAME -->` and `<!-- /section:NAME -->`. Each script
owns its sections; `python -m benchmarks.results` rewrites docs/results.md as a whole and carries
the others' sections over, so no figure is lost by re-running one script.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def find_section(text: str, name: str) -> tuple[int, int] | None:
    """Where section `name` starts and ends in `text` (end after its closing marker)."""
    begin, end = markers(name)
    start = text.find(begin)
    stop = text.find(end, start + 1) if start >= 0 else -1
    return (start, stop + len(end)) if start >= 0 and stop > start else None


def write_section(path: Path, name: str, text: str) -> None:
    """Replace section `name` of `path` with `text` (which carries its markers), or append it."""
    old = path.read_text("utf-8") if path.exists() else ""
    span = find_section(old, name)
    if span:
        new = old[: span[0]] + text + old[span[1] :]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    path.write_text(new, "utf-8")


def carry_sections(path: Path, text: str, names: Iterable[str]) -> str:
    """`text` plus each named section of the file at `path` that `text` does not have yet."""
    old = path.read_text("utf-8") if path.exists() else ""
    for name in names:
        span = find_section(old, name)
        if span and find_section(text, name) is None:
            text = text.rstrip("\n") + "\n\n" + old[span[0] : span[1]] + "\n"
    return text
