"""`qa eval`: measured quality and speed on SQuAD-format QA sets (filled in by issue 4)."""

from __future__ import annotations


def add_parser(sub) -> None:
    """Register `qa eval` on the CLI's sub-parsers."""
