"""Follow-up questions in a chat: does a question lean on the previous turn, and on what?

After "Wie viele Nutzer hat WhatsApp?" chat users type "Und in Deutschland?" or "Wo ist er
aufgewachsen?" and expect the subject to carry over. Nothing is generated here. A follow-up is
recognised by plain German (and English) cues: it opens with "Und ...", or it has no content
noun of its own, or it points back with a pronoun ("er", "sie", "dort", "damals", "dessen", "das"
...) and names at most one thing itself. It is resolved with the conversation's *context*: the
last self-contained question and the names in its answer. Retrieval then searches the follow-up
plus those words, with the follow-up weighted higher (`mix`), so the new question still decides
what is found. A self-contained question ignores the history, so history cannot bend the answer
to an unrelated question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qa.errors import InvalidInput
from qa.lexical import STOP_WORDS
from qa.types import Answer

# The follow-up's share of the query vector; the context gets the rest.
FOLLOWUP_WEIGHT = 0.7
# At most this many names are taken from an answer.
MAX_ENTITIES = 4

_WORD = re.compile(r"\w+(?:[-'’&]\w+)*", re.UNICODE)
_TOKENS = re.compile(r"\w+(?:[-'’&]\w+)*|[^\w\s]", re.UNICODE)

# A question opening like this continues the previous one ("Und in Deutschland?").
_OPENER = re.compile(r"^\s*(und|aber|auch|sonst|au(ß|ss)erdem|and)\b", re.IGNORECASE)
# "Was ist mit Deutschland?": only when nothing but a name or figure follows the phrase.
_ABOUT = re.compile(
    r"^\s*(?i:was ist (denn )?mit|wie (ist|war|sieht|steht) es( denn)? mit|what about|how about)"
    r"(\s+(?i:de[rmns]|die|das|the))?(\s+[A-ZÄÖÜ0-9][\w.-]*)+\s*\??\s*$",
)
# Words that point back to something named before; a question with one of the strong ones
# ("er", "dort", "davon") may name two things itself and still lean on the previous turn.
_STRONG_REFERENCES = frozenset(
    """
    er ihm ihn dessen deren dort dorthin dorther damals davon dazu dafür daran darauf darüber
    dadurch danach he him she there then
    """.split()
)
# Words that point back to something named before. Lower case; "Sie" in the middle of a
# question is the polite "you" and does not count. "es" is left out: "gibt es" is no reference.
_REFERENCES = frozenset(
    """
    er ihm ihn sein seine seinem seinen seiner seines sie ihr ihre ihrem ihren ihrer ihres
    dessen deren dort dorthin dorther damals dabei dafür dagegen daher daran darauf daraus darin
    darüber davon davor dazu dadurch danach dies diese dieser dieses diesem diesen derselbe
    dieselbe dasselbe jene jener jenes ebenda
    he him his she her hers they them their there then
    """.split()
)
_POSSESSIVES = frozenset(
    "sein seine seinem seinen seiner seines ihr ihre ihrem ihren ihrer ihres his her its "
    "their".split()
)
# Possessives and demonstratives: the noun after them is the thing referred to.
_BINDING = frozenset(
    """
    sein seine seinem seinen seiner seines ihr ihre ihrem ihren ihrer ihres dessen deren dies
    diese dieser dieses diesem diesen jene jener jenes his her its their this these those
    """.split()
)
# Articles that are pronouns when no noun follows ("Wann hat er das gegründet?").
_DEMONSTRATIVES = frozenset("der die das den dem that this these those".split())
_QUESTION_WORDS = frozenset(
    """
    wer wen wem wessen was wann wo woher wohin warum wieso weshalb wie welche welcher welches
    welchem welchen womit wofür worauf woran worin worüber wovon wozu wodurch
    who whom whose what when where why how which
    """.split()
)
_PREPOSITIONS = frozenset(
    "in im bei beim für nach seit vor ab am an auf aus mit über unter zwischen von vom zum zur "
    "gegen ohne um".split()
)
# A capitalised word right after these is most likely a place or an organisation.
_PLACE_PREPOSITIONS = frozenset("in nach aus bei".split())
# In all-lower-case questions every word looks like a content word; these are not.
_NOT_CONTENT = frozenset(
    """
    lange viel viele oft groß hoch alt weit wurde wurden gab gibt heißt hieß hiess heisst
    gewesen geworden genau eigentlich denn mal überhaupt heute damals jetzt später früher zuerst
    zuletzt stattdessen ungefähr etwa dann noch schon gerade bitte fand findet statt stattfinden
    """.split()
)
# Determiners before a capitalised word mark it as a common noun, not a name.
_DETERMINERS = frozenset(
    """
    der die das den dem des ein eine einen einem einer eines kein keine keinen keinem keiner
    keines sein seine seinem seinen seiner seines ihr ihre ihrem ihren ihrer ihres unser unsere
    dieser diese dieses diesem diesen jeder jede jedes jedem jeden im am vom zum zur beim ins
    the a an
    """.split()
)


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the question as asked and its answer's snippet texts, best first."""

    question: str
    answer: tuple[str, ...] = ()

    @classmethod
    def of(cls, answer: Answer) -> Turn:
        return cls(answer.question, tuple(s.text for s in answer.snippets))

    @classmethod
    def from_json(cls, item: object) -> Turn:
        """One `history` entry of the API: `{"question": str, "answer": <qa ask --json>}`.

        The answer may be missing or null (a turn that failed); its snippets' `text` is used.
        """
        if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
            raise InvalidInput(
                'each history entry must be an object {"question": str, "answer": {...}} '
                f"(got {str(item)[:80]!r})"
            )
        answer = item.get("answer") or {}
        snippets = answer.get("snippets") if isinstance(answer, Mapping) else None
        if not isinstance(answer, Mapping) or not isinstance(snippets or [], list):
            raise InvalidInput(
                'a history entry\'s "answer" must be the qa ask --json object '
                f"(got {str(answer)[:80]!r})"
            )
        texts = tuple(
            s["text"]
            for s in snippets or ()
            if isinstance(s, Mapping) and isinstance(s.get("text"), str)
        )
        return cls(item["question"], texts)


@dataclass(frozen=True)
class Context:
    """What a follow-up leans on: the last self-contained question and its answer's names."""

    question: str
    terms: tuple[str, ...]  # the question's content words, as typed
    entities: tuple[str, ...]  # names in its answer that the question did not contain

    @property
    def text(self) -> str:
        """What the context vector encodes: the question itself plus the answer's names."""
        return " ".join((self.question, *self.entities))

    @property
    def words(self) -> str:
        """The words added to the follow-up for keyword search and the reader."""
        return " ".join((*self.terms, *self.entities))


@dataclass(frozen=True)
class Query:
    """A question as retrieval sees it: as asked, plus the context it leans on (if any)."""

    question: str
    context: Context | None = None

    @property
    def text(self) -> str:
        """The follow-up plus the context's words, for keyword search and the reader.

        When the follow-up has no question word of its own ("Und in Deutschland?"), the context
        question's is kept too, so the reader still knows a number (or a date ...) is wanted.
        """
        if self.context is None:
            return self.question
        parts = [self.question]
        if not _has_question_word(self.question):
            parts.append(self.context.question)
        else:
            parts.append(" ".join(self.context.terms))
        parts.append(" ".join(self.context.entities))
        return " ".join(p for p in parts if p)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _has_question_word(question: str) -> bool:
    return any(w.lower() in _QUESTION_WORDS for w in _words(question))


def content_words(question: str) -> list[str]:
    """The words that name something: nouns and names, not question words, verbs or pronouns.

    German capitalises nouns, so in a question typed with capitals the capitalised words after
    the first are its content words (a word with a capital inside, "WhatsApp", counts
    anywhere). In a question typed in lower case ("wo ist er aufgewachsen") every longer word
    that is not a function word counts, verbs included: a rougher guess, erring towards
    "self-contained". A noun bound by a possessive or demonstrative ("seine erste Partitur",
    "diese Kommission") names nothing new.
    """
    words = _words(question)
    lower_case = not any(c.isupper() for c in question.lstrip()[:1] + question[1:])
    out = []
    bound = False
    for i, word in enumerate(words):
        low = word.lower()
        if low in _BINDING:
            bound = True
            continue
        if low in STOP_WORDS or low in _REFERENCES or low in _QUESTION_WORDS or word[0].isdigit():
            continue
        if lower_case:
            if i > 0 and len(word) >= 4 and low not in _NOT_CONTENT and not bound:
                out.append(word)
            bound = False
            continue
        noun = any(c.isupper() for c in word[1:]) or (i > 0 and word[0].isupper())
        if noun and not bound:
            out.append(word)
        if noun:
            bound = False
    return out


def _references(question: str) -> list[str]:
    """The words that point back: "er", "dort", "seine", or "das"/"die" standing alone.

    A possessive after the question's own noun ("Wie finanzierte Tesla seine Arbeit?") and a
    pronoun in a clause after it ("Luther, nachdem er ...") refer to that noun, not back.
    "Sie" inside a question is the polite "you"; an article after a comma starts a relative
    clause ("der Spieler, der ..."); an article with a noun in the next few words ("die App",
    "der erste moderne Geologe") is an article. None of these point back.
    """
    tokens = _TOKENS.findall(question)
    found = []
    named = False  # a content word came before: the question's own subject
    clause = False  # after a comma: a subordinate clause ("..., nachdem er ...")
    for i, token in enumerate(tokens):
        low = token.lower()
        if token == ",":
            clause = True
        if low in _REFERENCES:
            own_subject = named and (low in _POSSESSIVES or clause)
            if not (token == "Sie" and i > 0) and not own_subject:
                found.append(low)
        elif low in _DEMONSTRATIVES and not (i and tokens[i - 1] == ","):
            following = []
            for t in tokens[i + 1 : i + 4]:
                if not t[0].isalnum():
                    break
                following.append(t)
            if not following or following[0].lower() in _PREPOSITIONS:
                found.append(low)
            elif not any(t[0].isupper() or t[0].isdigit() for t in following):
                found.append(low)
        if i > 0 and token[0].isupper() and low not in STOP_WORDS and low not in _REFERENCES:
            named = True
    return found


def is_followup(question: str) -> bool:
    """Whether the question leans on an earlier one.

    Yes when it opens with "Und"/"Aber"/"Auch" ..., asks "Was ist mit X?", starts with a
    preposition and has no question word ("In Deutschland?"), names nothing itself, or points
    back while naming at most one thing (two with "er", "dort", "davon", "damals" ...).
    """
    question = question.strip()
    if not question:
        return False
    if _OPENER.match(question) or _ABOUT.match(question):
        return True
    own = content_words(question)
    if not own:
        return True
    words = _words(question)
    if words[0].lower() in _PREPOSITIONS and not _has_question_word(question):
        return True
    references = _references(question)
    if any(r in _STRONG_REFERENCES for r in references):
        return len(own) <= 2
    return bool(references) and len(own) <= 1


def entities(text: str, exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """Names in an answer text, first seen first, at most `MAX_ENTITIES`.

    Names are runs of capitalised words inside a sentence ("Jan Koum", without a long
    compound noun before it such as "Mitgründer"), words with a capital
    inside ("WhatsApp", "USA") and a capitalised word right after "in", "nach", "aus" or "bei"
    ("in München"). A lone capitalised word elsewhere is most likely a common noun (German
    capitalises them all) and is skipped. A name inside a longer one, and words the question
    already has (`exclude`), are not repeated.
    """
    known = {w.lower() for w in exclude}
    spans: list[str] = []
    run: list[str] = []

    def flush() -> None:
        # A long first word is a compound common noun before the name ("Mitgründer Jan Koum").
        while len(run) >= 2 and len(run[0]) >= 9 and not any(c.isupper() for c in run[0][1:]):
            run.pop(0)
        if len(run) >= 2:
            spans.append(" ".join(run))
        run.clear()

    sentence_start = True
    previous = ""
    for word in _TOKENS.findall(text):
        if not word[0].isalnum():
            flush()
            sentence_start = word in ".!?:" or (sentence_start and word in "„“\"»«'(")
            previous = word
            continue
        capital = word[0].isupper() and word.lower() not in STOP_WORDS
        inner = any(c.isupper() for c in word[1:])
        if capital and not sentence_start:
            run.append(word)
            if previous.lower() in _PLACE_PREPOSITIONS:
                spans.append(word)
        else:
            flush()
        if inner:
            spans.append(word)
        sentence_start = False
        previous = word
    flush()
    found: list[str] = []
    for span in spans:
        if span.lower() in known or span in found or len(span) < 3:
            continue
        if any(f" {span} " in f" {other} " for other in spans if other != span):
            continue  # part of a longer name
        found.append(span)
    return tuple(found[:MAX_ENTITIES])


def context_of(history: Sequence[Turn]) -> Context | None:
    """The context of a new follow-up: the last self-contained turn of the history.

    A conversation's first question is self-contained by definition; after it, a turn that
    was itself a follow-up is skipped, so a chain of follow-ups keeps leaning on the question
    that named the subject.
    """
    for position in range(len(history) - 1, -1, -1):
        turn = history[position]
        if position == 0 or not is_followup(turn.question):
            terms = tuple(content_words(turn.question)) or tuple(
                w for w in _words(turn.question) if w.lower() not in STOP_WORDS
            )
            names = entities(turn.answer[0], exclude=terms) if turn.answer else ()
            return Context(turn.question.strip(), terms, names)
    return None


def resolve(question: str, history: Sequence[Turn] = ()) -> Query:
    """The question with the context it leans on, or alone when it is self-contained."""
    if not history or not is_followup(question):
        return Query(question)
    return Query(question, context_of(history))


def mix(question_vector: np.ndarray, context_vector: np.ndarray, weight: float = FOLLOWUP_WEIGHT):
    """`weight` x the follow-up's vector + the rest x the context's, back to unit length."""
    vector = weight * np.asarray(question_vector) + (1 - weight) * np.asarray(context_vector)
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)
