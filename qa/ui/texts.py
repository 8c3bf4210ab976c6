"""Everything the chat page says, in German (the default) and English, and how it looks.

Kept apart from the wiring so a wording change never touches code, and so both languages stay
side by side: a key missing in one of them is easy to see (and a test checks it).
"""

from __future__ import annotations

from qa.answer import DECLINE_DE, DECLINE_EN

LANGUAGES = (("Deutsch", "de"), ("English", "en"))
DEFAULT_LANGUAGE = "de"

CSS = """
.qa-cite { font-weight: 600; color: var(--color-accent); white-space: nowrap; }
.qa-refs { font-size: 0.85em; opacity: 0.8; margin-top: 0.6em; }
.qa-period { font-size: 0.85em; opacity: 0.8; margin: 0 0 0.4em; }
.qa-leans { font-size: 0.85em; opacity: 0.8; margin: 0 0 0.4em; font-style: italic; }
.qa-source { border-left: 3px solid var(--color-accent); padding-left: 0.7em; margin: 0 0 1em; }
.qa-source-head { font-weight: 600; }
.qa-meta { font-size: 0.85em; opacity: 0.75; }
.qa-context { white-space: pre-wrap; margin-top: 0.3em; }
.qa-article-text { white-space: pre-wrap; max-height: 60vh; overflow-y: auto; }
.qa-hint { opacity: 0.75; }
mark { background: #fde68a; color: inherit; padding: 0 0.1em; }
.qa-verdict { display: inline-block; font-weight: 700; padding: 0.1em 0.6em; border-radius: 1em;
  border: 2px solid currentColor; }
.qa-verdict-supported { color: #166534; background: #dcfce7; }
.qa-verdict-contradicted { color: #991b1b; background: #fee2e2; }
.qa-verdict-mixed { color: #92400e; background: #fef3c7; }
.qa-verdict-not_checkable, .qa-verdict-not_found { color: #374151; background: #f3f4f6; }
mark.qa-match, .qa-part.qa-match { background: #bbf7d0; color: #14532d; }
mark.qa-differs, .qa-part.qa-differs { background: #fecaca; color: #7f1d1d; }
.qa-part { padding: 0 0.15em; border-radius: 0.2em; }
.qa-part.qa-absent { border-bottom: 1px dashed currentColor; }
.qa-evidence-value { font-weight: 600; color: #7f1d1d; }
.qa-checks { margin: 0.2em 0 0.8em 1.2em; padding: 0; font-size: 0.9em; }
"""

# Runs in the viewer's element whenever a new article is shown: bring the cited passage into view.
SCROLL_TO_MARK_JS = """
watch('value', () => {
  const mark = element.querySelector('mark');
  if (mark) mark.scrollIntoView({block: 'center'});
});
"""

# Seed-corpus questions; one is offered only if the article that answers it is in the index.
SEED_EXAMPLES = (
    ("Wie viele Nachrichten werden pro Tag über WhatsApp verschickt?", "18 Milliarden Nachrichten"),
    ("Wie finanziert sich WhatsApp?", "jährliche Abo-Gebühr"),
    ("Was hat Koum zur Sprachtelefonie angekündigt?", "Sprachtelefonie über WhatsApp"),
)
# The fallback example when no seed question fits: a question about an article's headline.
TITLE_EXAMPLE = "Worum geht es in „{title}“?"

TEXTS = {
    "de": {
        "intro": "# Nachrichten-QA\nFragen an das Nachrichtenarchiv. Jede Antwort besteht aus "
        "wörtlichen Zitaten aus den Artikeln, mit Quellenangabe; nichts wird erfunden.",
        "chat": "Chat",
        "chat_placeholder": "Stellen Sie unten eine Frage zu den Nachrichten.",
        "question": "Ihre Frage",
        "question_placeholder": "z. B. Wie viele Nachrichten werden pro Tag über WhatsApp "
        "verschickt?",
        "ask": "Fragen",
        "clear": "Neues Gespräch",
        "context": "bezogen auf",
        "examples": "**Beispielfragen**",
        "filters": "Filter",
        "date_from": "Von (JJJJ[-MM[-TT]])",
        "date_to": "Bis (JJJJ[-MM[-TT]])",
        "sources": "Quellen (Dateien, Ordner, Herausgeber)",
        "sources_panel": "Quellen",
        "no_sources": "Die Quellen der letzten Antwort erscheinen hier.",
        "pick": "Ganzen Artikel anzeigen",
        "viewer_hint": "Wählen Sie oben eine Quelle, um den ganzen Artikel mit der zitierten "
        "Stelle zu lesen.",
        "no_date": "ohne Datum",
        "as_of": "Stand: {date}",
        "period": "Zeitraum",
        "publisher": "Herausgeber",
        "decline": DECLINE_DE,
        "answer": "Antwort",
        "more_evidence": "Weitere Belege",
        "rephrase": "Versuchen Sie es mit anderen Worten oder einem konkreteren Begriff.",
        "rephrase_filtered": "Versuchen Sie es mit anderen Worten, oder lockern Sie die Filter.",
        "empty_question": "Bitte geben Sie eine Frage ein.",
        "bad_filter": "Der Filter passt nicht. Ein Datum hat die Form JJJJ, JJJJ-MM oder "
        "JJJJ-MM-TT (ein Tag, den es gibt), und „Von“ darf nicht nach „Bis“ liegen. "
        "Details: {detail}",
        "bad_input": "Die Eingabe passt nicht. Details: {detail}",
        "no_index": "Der Suchindex ist nicht verfügbar. Bitte bauen Sie ihn neu auf "
        "(`qa index`) und fragen Sie dann noch einmal. Details: {detail}",
        "error": "Das hat nicht geklappt. Details: {detail}",
        "failed": "Das hat nicht geklappt: ein interner Fehler. Bitte versuchen Sie es erneut.",
        "gone": "Dieser Artikel ist nicht mehr im Index (der Index wurde neu aufgebaut). "
        "Bitte stellen Sie die Frage erneut.",
        "moved": "Die zitierte Stelle ist in der aktuellen Fassung des Artikels nicht mehr "
        "enthalten.",
        "thanks": "Danke für Ihre Rückmeldung!",
        "mode": "Modus",
        "mode_ask": "Frage",
        "mode_check": "Behauptung prüfen",
        "claim": "Ihre Behauptung",
        "claim_placeholder": "z. B. WhatsApp hat 600 Millionen Nutzer.",
        "check": "Prüfen",
        "empty_claim": "Bitte geben Sie eine Behauptung ein.",
        "verdict": "Urteil",
        "verdict_supported": "Gestützt",
        "verdict_contradicted": "Widerlegt",
        "verdict_mixed": "Uneinheitlich",
        "verdict_not_checkable": "Nicht prüfbar",
        "verdict_not_found": "Nichts gefunden",
        "why_supported": "Die Belege nennen dieselben Werte; keiner weicht ab.",
        "why_contradicted": "Ein Beleg zur selben Sache nennt einen anderen Wert, oder er "
        "verneint, was die Behauptung bejaht (oder umgekehrt).",
        "why_mixed": "Die Belege widersprechen sich (neuester zuerst, mit Datum).",
        "why_not_checkable": "Die Behauptung enthält keine Zahl, kein Datum und keinen Namen, "
        "der sich prüfen ließe. Verwandte Belege:",
        "why_not_found": "Im Korpus steht nichts, das diese Behauptung belegt oder widerlegt.",
        "kind_number": "Zahl",
        "kind_date": "Datum",
        "kind_entity": "Name",
        "status_match": "stimmt",
        "status_differs": "weicht ab",
        "status_absent": "nicht im Beleg",
        "evidence_says": "Beleg",
    },
    "en": {
        "intro": "# Nachrichten-QA\nAsk the news archive. Every answer consists of sentences "
        "quoted verbatim from the articles, with their sources; nothing is made up.",
        "chat": "Chat",
        "chat_placeholder": "Ask a question about the news below.",
        "question": "Your question",
        "question_placeholder": "e.g. Wie viele Nachrichten werden pro Tag über WhatsApp "
        "verschickt?",
        "ask": "Ask",
        "clear": "New conversation",
        "context": "understood as follow-up to",
        "examples": "**Example questions**",
        "filters": "Filters",
        "date_from": "From (YYYY[-MM[-DD]])",
        "date_to": "To (YYYY[-MM[-DD]])",
        "sources": "Sources (files, folders, publishers)",
        "sources_panel": "Sources",
        "no_sources": "The sources of the latest answer appear here.",
        "pick": "Show whole article",
        "viewer_hint": "Choose a source above to read the whole article with the cited passage.",
        "no_date": "no date",
        "as_of": "As of {date}",
        "period": "Period",
        "publisher": "Publisher",
        "decline": DECLINE_EN,
        "answer": "Answer",
        "more_evidence": "Further evidence",
        "rephrase": "Try other words or a more specific term.",
        "rephrase_filtered": "Try other words, or loosen the filters.",
        "empty_question": "Please type a question.",
        "bad_filter": "The filter does not fit. A date has the form YYYY, YYYY-MM or "
        "YYYY-MM-DD (a day that exists), and “From” must not be after “To”. Details: {detail}",
        "bad_input": "The input does not fit. Details: {detail}",
        "no_index": "The search index is not available. Please rebuild it (`qa index`) and ask "
        "again. Details: {detail}",
        "error": "That did not work. Details: {detail}",
        "failed": "That did not work: an internal error. Please try again.",
        "gone": "This article is no longer in the index (it was rebuilt). Please ask again.",
        "moved": "The cited passage is no longer in the current version of the article.",
        "thanks": "Thank you for your feedback!",
        "mode": "Mode",
        "mode_ask": "Question",
        "mode_check": "Check a claim",
        "claim": "Your claim",
        "claim_placeholder": "e.g. WhatsApp hat 600 Millionen Nutzer.",
        "check": "Check",
        "empty_claim": "Please type a claim.",
        "verdict": "Verdict",
        "verdict_supported": "Supported",
        "verdict_contradicted": "Contradicted",
        "verdict_mixed": "Mixed",
        "verdict_not_checkable": "Not checkable",
        "verdict_not_found": "Nothing found",
        "why_supported": "The evidence states the same values; none differs.",
        "why_contradicted": "Evidence about the same thing states another value, or denies "
        "what the claim affirms (or the other way round).",
        "why_mixed": "The evidence disagrees with itself (newest first, with dates).",
        "why_not_checkable": "The claim has no number, date or name to check. Related evidence:",
        "why_not_found": "The corpus holds nothing that supports or contradicts this claim.",
        "kind_number": "Number",
        "kind_date": "Date",
        "kind_entity": "Name",
        "status_match": "matches",
        "status_differs": "differs",
        "status_absent": "not in the evidence",
        "evidence_says": "evidence",
    },
}
