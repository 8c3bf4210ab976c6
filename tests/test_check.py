"""Claim checking end to end on the seed index (real model, real FAISS): the service, `qa check`
as a user runs it, the chat's claim mode and its HTML, and the `/check` API function.

The pure parts (numbers, dates, alignment, the verdict rule) are tested in test_claims.py.
"""

from __future__ import annotations

import html
import json
import re

from qa.claims import CheckResult
from qa.ui import app, render
from tests.conftest import run_qa

CLAIM = "WhatsApp hat 600 Millionen Nutzer."
WHATSAPP_FILE = "003_7389650ab9ad13f7.txt"


def strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def number_check(result: CheckResult):
    return next(c for e in result.evidence for c in e.checks if c.kind == "number")


def test_service_finds_430_where_the_claim_says_600(service):
    result = service.check(CLAIM)
    assert result.verdict == "contradicted"
    assert [e.citation.source for e in result.evidence] == [WHATSAPP_FILE]  # no padding
    check = number_check(result)
    assert (check.claim.text, check.evidence.text, check.status) == (
        "600 Millionen",
        "430 Millionen",
        "differs",
    )
    article = service.article(result.evidence[0].citation.doc_id)
    assert article.text[check.evidence.start : check.evidence.end] == "430 Millionen"
    assert CLAIM[check.claim.start : check.claim.end] == "600 Millionen"


def test_service_supports_and_declines_like_ask(service):
    assert service.check("Pro Tag werden rund 18 Milliarden Nachrichten verschickt.").verdict == (
        "supported"
    )
    off_topic = service.check("Die Inflation in Japan lag 2019 bei 0,5 Prozent.")
    assert (off_topic.verdict, off_topic.evidence) == ("not_found", ())
    assert service.ask("Die Inflation in Japan lag 2019 bei 0,5 Prozent.").abstained


def test_cli_check_json_and_text(seed_index, tmp_path):
    out = run_qa("check", "--index", str(seed_index), "--json", CLAIM).stdout
    data = json.loads(out.strip().splitlines()[-1])
    assert data["verdict"] == "contradicted"
    checks = data["evidence"][0]["checks"]
    assert {"kind": "number", "status": "differs"}.items() <= checks[-1].items()
    assert checks[-1]["evidence"]["text"] == "430 Millionen"

    batch = tmp_path / "claims.txt"
    batch.write_text(f"{CLAIM}\n\n   \nDas ist eine gute Sache.\n", encoding="utf-8")
    lines = run_qa("check", "--index", str(seed_index), "--json", "--batch", str(batch)).stdout
    verdicts = [json.loads(line)["verdict"] for line in lines.strip().splitlines()]
    assert verdicts[0] == "contradicted" and len(verdicts) == 2

    text = run_qa("check", "--index", str(seed_index), CLAIM).stdout
    assert (
        "Urteil: widerlegt" in text
        and "„600 Millionen“: weicht ab – Beleg: „430 Millionen“" in text
    )
    failed = run_qa(
        "check", "--index", str(seed_index), "--date-from", "2020-13", CLAIM, check=False
    )
    assert failed.returncode == 1 and failed.stderr.startswith("error:")


def test_claim_mode_message_marks_parts_and_feeds_the_sources_panel(service, tmp_path):
    reply = app.check(service, CLAIM, "", "", None, "de")
    assert reply.check is not None and reply.check.verdict == "contradicted"
    message = reply.message
    assert 'qa-verdict-contradicted">Urteil: Widerlegt<' in message
    assert '<span class="qa-part qa-differs"' in message and "≠ 430 Millionen" in message
    assert '<mark class="qa-differs"' in message and '<mark class="qa-match"' in message
    assert "WhatsApp hat 600 Millionen ≠ 430 Millionen Nutzer." in strip_tags(message)
    # The evidence is shown in the sources panel and the viewer like an answer's snippets.
    panel = render.sources_html(reply.answer, service.index.articles, "de")
    assert "430 Millionen aktive Nutzer" in strip_tags(panel)

    handlers = app.ChatHandlers(service, app.FeedbackLog(tmp_path / "feedback.jsonl"))
    history, *_ = handlers.respond(CLAIM, [], {}, "en", "", "", None, "check")
    assert "Verdict: Contradicted" in strip_tags(history[-1]["content"])
    box, button = handlers.switch_mode("check", "en")
    assert box["label"] == "Your claim" and button["value"] == "Check"


def test_api_check_returns_the_cli_json(service, tmp_path):
    handlers = app.ChatHandlers(service, app.FeedbackLog(None))
    data = handlers.api_check(CLAIM)
    assert data == service.check(CLAIM).to_dict()
    assert (
        app.check(service, "  ", "", "", None, "de").error == "Bitte geben Sie eine Behauptung ein."
    )


def test_claim_text_is_escaped():
    result = CheckResult("<b>WhatsApp</b> hat 5 <script>x</script> Nutzer.", "not_found")
    message = render.check_html(result, "de")
    assert "<b>" not in message and "<script>" not in message
