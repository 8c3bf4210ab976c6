"""`qa chat`: a conversation on the command line, one question a line from standard input.

    printf 'Wie viele Nutzer hat WhatsApp?\\nUnd in Deutschland?\\n' | qa chat --json

Each question is asked with the conversation so far (`QAService.ask_in_context`), so a follow-up
such as "Und in Deutschland?" leans on the last self-contained question; a blank line starts a
new conversation. With `--json`, one object per question and line: the `qa ask --json` object
plus `"context": {"question": ...}` (the question it leaned on) or `"context": null`. `qa ask`
stays stateless.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from qa.errors import InvalidInput
from qa.followup import Context, Turn
from qa.types import Answer

if TYPE_CHECKING:  # not at import: `qa --help` and the parser stay light (`qa.cli`)
    from qa.retrieval import Filters
    from qa.service import QAService

PROMPT = "Frage (Leerzeile: neues Gespräch, Strg-D: Ende): "


@dataclass(frozen=True)
class ChatTurn:
    """One question of the conversation: its answer and context, or why it was not asked."""

    question: str
    answer: Answer | None
    context: Context | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        """The `qa ask --json` object (with `error` when not asked) plus `context`."""
        if self.answer is None:
            base = {"question": self.question, "abstained": True, "snippets": []}
            base["error"] = self.error
        else:
            base = self.answer.to_dict()
        return base | {"context": {"question": self.context.question} if self.context else None}


def converse(service: QAService, lines: Iterable[str], filters: Filters) -> Iterator[ChatTurn]:
    """Answer each line with the conversation so far; a blank line forgets the conversation.

    A question that cannot be asked (empty after cleaning, too long) is reported and skipped;
    a missing index and the like end the conversation with their error.
    """
    history: list[Turn] = []
    for line in lines:
        question = line.strip()
        if not question:
            history = []
            continue
        try:
            answer, context = service.ask_in_context(question, history, filters)
        except InvalidInput as err:
            yield ChatTurn(question, None, error=str(err))
            continue
        history.append(Turn.of(answer))
        yield ChatTurn(question, answer, context)


def read_questions(stream: IO[str], prompt: IO[str] | None) -> Iterator[str]:
    """Lines of `stream`; with `prompt` (a terminal), a prompt is written before each."""
    while True:
        if prompt is not None:
            prompt.write(PROMPT)
            prompt.flush()
        line = stream.readline()
        if not line:
            return
        yield line


def run_chat(
    service: QAService,
    filters: Filters,
    stdin: IO[str],
    stdout: IO[str],
    stderr: IO[str],
    as_json: bool,
    format_answer: Callable[[Answer], str],
) -> int:
    """The `qa chat` loop; exit status 1 when a question could not be asked, else 0."""
    prompt = stderr if stdin.isatty() else None
    status = 0
    for turn in converse(service, read_questions(stdin, prompt), filters):
        if as_json:
            stdout.write(json.dumps(turn.to_dict(), ensure_ascii=False) + "\n")
        elif turn.answer is None:
            stdout.write(f"F: {turn.question[:80]}\nerror: {turn.error}\n\n")
        else:
            leaned = f"(bezogen auf: {turn.context.question})\n" if turn.context else ""
            stdout.write(f"F: {turn.question}\n{leaned}{format_answer(turn.answer)}\n\n")
        stdout.flush()
        status = status or (1 if turn.error else 0)
    return status


def add_parser(sub, default_index: Path, handler: Callable[[argparse.Namespace], int]) -> None:
    """Register `qa chat` (the same index and filter options as `qa ask`)."""
    p = sub.add_parser(
        "chat",
        help="a conversation from standard input: follow-ups lean on earlier questions",
        description="Answer questions read from standard input, one a line; a follow-up "
        "(„Und in Deutschland?“) leans on the conversation. A blank line starts a new one.",
    )
    p.add_argument("--index", type=Path, default=default_index, help="index folder (index/)")
    p.add_argument("--json", action="store_true", help="one JSON object per question and line")
    p.add_argument("--date-from", help="only articles from this date on (YYYY[-MM[-DD]])")
    p.add_argument("--date-to", help="only articles up to this date (YYYY[-MM[-DD]])")
    p.add_argument("--source", action="append", help="only this source file/folder or publisher")
    p.set_defaults(func=handler)
