"""`qa check`: check claims against the archive, figure by figure (see `qa.claims`).

    qa check "WhatsApp hat 600 Millionen Nutzer."
    qa check --json --batch claims.txt --date-from 2014

One JSON object per claim and line with `--json` (`CheckResult.to_dict`, the same as the chat's
`/check` API); otherwise the verdict, each evidence passage with its checks, and the citations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.claims import CheckResult

# How the verdicts and statuses read, in German (the CLI speaks German like `qa ask`).
VERDICT_DE = {
    "supported": "gestützt",
    "contradicted": "widerlegt",
    "mixed": "uneinheitlich (die Belege widersprechen sich)",
    "not_checkable": "nicht prüfbar (nichts Prüfbares in der Behauptung)",
    "not_found": "nichts gefunden",
}
KIND_DE = {"number": "Zahl", "date": "Datum", "entity": "Name"}
STATUS_DE = {"match": "stimmt", "differs": "weicht ab", "absent": "nicht im Beleg"}


def format_check(result: CheckResult) -> str:
    """The human-readable report of one claim."""
    lines = [f"Behauptung: {result.claim}", f"Urteil: {VERDICT_DE[result.verdict]}"]
    for e in result.evidence:
        lines.append(f"„{e.text}“ [{e.citation.n}]")
        for c in e.checks:
            found = f" – Beleg: „{c.evidence.text}“" if c.evidence else ""
            lines.append(f"    {KIND_DE[c.kind]} „{c.claim.text}“: {STATUS_DE[c.status]}{found}")
    if result.evidence:
        lines.append("")
    for e in result.evidence:
        c = e.citation
        lines.append(
            f"[{c.n}] {c.title} ({c.date or 'ohne Datum'}), {c.source}, Zeichen {c.start}–{c.end}"
        )
    return "\n".join(lines)


def check_each(service, claims: list[str], filters) -> list:
    """`CheckResult`s in order; a claim that cannot be checked gets an error object."""
    from qa.service import answer_valid

    return answer_valid(
        claims,
        lambda good: service.check_batch(good, filters),
        lambda claim, error: {
            "claim": claim,
            "verdict": "not_found",
            "evidence": [],
            "error": error,
        },
    )


def add_parser(sub, default_index: Path, handler) -> None:
    """The `qa check` subcommand; `handler` runs it (it lives with the other commands)."""
    p = sub.add_parser(
        "check",
        help="check a claim: are its figures, dates and names in the archive?",
        description="Check a claim against the archive: the passages that bear on it, each "
        "figure, date and name of the claim marked match / differs / absent, and a verdict "
        "(supported, contradicted, mixed, not_checkable, not_found; see the README).",
    )
    p.add_argument("claim", nargs="*", help="the claim, e.g. WhatsApp hat 600 Millionen Nutzer.")
    p.add_argument("--index", type=Path, default=default_index, help="index folder (index/)")
    p.add_argument("--json", action="store_true", help="one JSON object per claim and line")
    p.add_argument("--batch", help="file with one claim per line")
    p.add_argument("--date-from", help="only articles from this date on (YYYY[-MM[-DD]])")
    p.add_argument("--date-to", help="only articles up to this date (YYYY[-MM[-DD]])")
    p.add_argument("--source", action="append", help="only this source file/folder or publisher")
    p.set_defaults(func=handler)
