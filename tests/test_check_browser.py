"""The chat's claim mode as a person uses it: `qa serve` on the seed corpus, headless Chromium,
keyboard only (Tab to the mode, Space to choose it, Enter to check); then the `/check` API.

Skips like test_ui_browser.py when Chromium or Playwright is missing.
"""

from __future__ import annotations

from tests.test_ui_browser import (  # noqa: F401 - fixtures
    ANSWER_TIMEOUT_MS,
    LOCAL_HOSTS,
    REPO,
    browser,
    page,
    seed_server,
    sync_api,
)

CLAIM = "WhatsApp hat 600 Millionen Nutzer."


def test_check_a_claim_with_the_keyboard(seed_server, page):  # noqa: F811
    expect = sync_api.expect
    page.goto(seed_server.url)
    expect(page.locator("#qa-question textarea")).to_be_visible()

    page.get_by_label("Behauptung prüfen").focus()
    page.keyboard.press("Space")
    box = page.get_by_label("Ihre Behauptung")
    expect(box).to_be_visible()
    expect(page.locator("#qa-ask")).to_have_text("Prüfen")
    box.focus()
    page.keyboard.type(CLAIM)
    page.keyboard.press("Enter")
    reply = page.locator("#qa-chat .bot")
    expect(reply).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)

    expect(reply.locator(".qa-verdict-contradicted")).to_have_text("Urteil: Widerlegt")
    claim = reply.locator(".qa-claim")
    expect(claim.locator(".qa-part.qa-differs")).to_have_text("600 Millionen")
    expect(claim.locator(".qa-evidence-value")).to_have_text("≠ 430 Millionen")
    expect(claim.locator(".qa-part.qa-match")).to_have_text("WhatsApp")
    expect(reply.locator("mark.qa-differs")).to_have_text("430 Millionen")
    expect(reply.locator(".qa-checks")).to_contain_text("weicht ab")
    # Marked in colour: red for differs, green for match.
    red = reply.locator("mark.qa-differs").evaluate("e => getComputedStyle(e).backgroundColor")
    green = reply.locator("mark.qa-match").evaluate("e => getComputedStyle(e).backgroundColor")
    assert red == "rgb(254, 202, 202)" and green == "rgb(187, 247, 208)"
    # The evidence opens in the sources panel and the viewer like an answer's.
    expect(page.locator("#qa-sources")).to_contain_text("430 Millionen aktive Nutzer")
    page.screenshot(path=str(REPO / "docs" / "screenshot-check.png"), full_page=True)

    page.get_by_label("English").check()
    expect(page.get_by_label("Your claim")).to_be_visible()
    expect(page.locator("#qa-ask")).to_have_text("Check")
    expect(page.get_by_label("Check a claim")).to_be_checked()
    assert page.requested_hosts <= LOCAL_HOSTS, page.requested_hosts


def test_check_api_endpoint(seed_server):  # noqa: F811
    from gradio_client import Client

    client = Client(seed_server.url, verbose=False)
    result = client.predict(CLAIM, api_name="/check")
    assert result["verdict"] == "contradicted"
    checks = result["evidence"][0]["checks"]
    differs = [c["evidence"]["text"] for c in checks if c["status"] == "differs"]
    assert differs == ["430 Millionen"]
    filtered = client.predict(CLAIM, "2020", "2020", [], api_name="/check")
    assert filtered["verdict"] == "not_found" and filtered["evidence"] == []
