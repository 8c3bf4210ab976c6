"""SQuAD-format QA sets -> articles and questions; splits, distractors, one merged corpus.

Every paragraph of a set becomes one `Article`, so retrieval is measured on the articles the
questions were written on; distractor articles (real news) can be mixed in. A file of the wrong
shape is an `EvalError` that names the first offending place, never a `TypeError` deep inside.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.corpus import article_id, read_corpus, read_file
from qa.errors import EvalError
from qa.types import Article

SPLITS = ("all", "tune", "test")
_SHAPE = "expected {'data': [{'title', 'paragraphs': [{'context', 'qas'}]}]}"
_KIND = {str: "string", list: "list", dict: "object"}


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[str, ...]
    gold: str  # doc_id of the paragraph the question was written on
    half: str  # "tune" (first half of the articles) or "test"


@dataclass(frozen=True)
class Dataset:
    name: str  # file stem, e.g. "xquad.de"
    articles: tuple[Article, ...]
    questions: tuple[Question, ...]


def load_dataset(path: Path) -> Dataset:
    """A SQuAD-format file -> one `Article` per paragraph and its questions.

    Title: the article title (underscores as spaces) plus " (paragraph number)"; an empty title
    (MLQA) becomes the set's name plus the running paragraph number ("MLQA 17"). Source:
    "<file stem>/<article index>/<paragraph index>" (0-based). The `tune` half holds the questions
    of the first half of the articles (of the paragraphs, when the set has only one article).
    """
    path = Path(path)
    data = _read_squad(path)
    name = path.stem
    prefix = name.split(".")[0].upper()
    by_article = len(data) > 1
    n_units = len(data) if by_article else sum(len(item["paragraphs"]) for item in data)
    articles: dict[str, Article] = {}
    questions: list[Question] = []
    number = 0
    for ai, item in enumerate(data):
        title = " ".join(str(item.get("title") or "").replace("_", " ").split())
        for pi, paragraph in enumerate(item["paragraphs"]):
            number += 1
            where = f"data[{ai}].paragraphs[{pi}]"
            text = _expect(paragraph, "context", str, path, where)
            doc_id = article_id(text)
            if doc_id not in articles:
                articles[doc_id] = Article(
                    doc_id=doc_id,
                    title=f"{title} ({pi + 1})" if title else f"{prefix} {number}",
                    date=None,
                    source=f"{name}/{ai}/{pi}",
                    text=text,
                )
            unit = ai if by_article else number - 1
            half = "tune" if unit < math.ceil(n_units / 2) else "test"
            questions.extend(_questions(paragraph, doc_id, half, path, where))
    return Dataset(name, tuple(articles.values()), tuple(questions))


def _read_squad(path: Path) -> list[dict]:
    """The checked `data` list: objects whose `paragraphs` are lists of objects."""
    try:
        top = json.loads(path.read_bytes())
    except OSError as err:
        raise EvalError(f"cannot read dataset {path}: {err.strerror or err}") from err
    except ValueError as err:  # also UnicodeDecodeError
        raise EvalError(f"{path} is not a SQuAD-format file (not JSON: {err})") from err
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise EvalError(f"{path} is not a SQuAD-format file ({_SHAPE})")
    for ai, item in enumerate(top["data"]):
        if not isinstance(item, dict):
            raise _shape_error(path, f"data[{ai}]", "object", item)
        paragraphs = _expect(item, "paragraphs", list, path, f"data[{ai}]")
        for pi, paragraph in enumerate(paragraphs):
            if not isinstance(paragraph, dict):
                raise _shape_error(path, f"data[{ai}].paragraphs[{pi}]", "object", paragraph)
    return top["data"]


def _questions(paragraph: dict, doc_id: str, half: str, path: Path, where: str) -> list[Question]:
    """The answerable questions of one paragraph (no gold answer or no text: left out)."""
    found = []
    for qi, qa in enumerate(_expect(paragraph, "qas", list, path, where)):
        here = f"{where}.qas[{qi}]"
        if not isinstance(qa, dict):
            raise _shape_error(path, here, "object", qa)
        answers = []
        for ni, answer in enumerate(_expect(qa, "answers", list, path, here, default=[])):
            if not isinstance(answer, dict):
                raise _shape_error(path, f"{here}.answers[{ni}]", "object", answer)
            text = _expect(answer, "text", str, path, f"{here}.answers[{ni}]")
            if text.strip():
                answers.append(text)
        if not answers:
            continue
        question = _expect(qa, "question", str, path, here).strip()
        if question:
            if "id" not in qa:
                raise _shape_error(path, f"{here}.id", "value", None)
            found.append(Question(str(qa["id"]), question, tuple(answers), doc_id, half))
    return found


def _expect(obj: dict, key: str, kind: type, path: Path, where: str, default=None):
    """`obj[key]` when it is of `kind` (or `default` when missing and a default is given)."""
    value = obj.get(key, default)
    if not isinstance(value, kind):
        raise _shape_error(path, f"{where}.{key}", _KIND.get(kind, kind.__name__), value)
    return value


def _shape_error(path: Path, where: str, wanted: str, value) -> EvalError:
    found = "nothing" if value is None else f"a {type(value).__name__}"
    return EvalError(
        f"{path}: unexpected SQuAD structure ({where} should be a {wanted}, found {found}; "
        f"{_SHAPE})"
    )


def select(questions: Sequence[Question], split: str, limit: int | None) -> list[Question]:
    """The questions of one split; with `limit`, that many spread evenly over it."""
    if split not in SPLITS:
        raise EvalError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    chosen = [q for q in questions if split == "all" or q.half == split]
    return spread(chosen, limit) if limit is not None else chosen


def spread(items: Sequence, n: int) -> list:
    """`n` items taken at even steps over the sequence (all of them when it is shorter)."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    return [items[i * len(items) // n] for i in range(n)]


def load_distractors(paths: Sequence[Path], settings: Settings) -> list[Article]:
    """Articles from corpus folders (read like `qa index`) and single corpus files.

    An unreadable folder raises the corpus reader's own `CorpusError` (a `QAError` as well).
    """
    articles: list[Article] = []
    for path in map(Path, paths):
        if path.is_dir():
            articles.extend(read_corpus(path, settings).articles)
        elif path.is_file():
            found, _ = read_file(path, path.parent, settings)
            articles.extend(found)
        else:
            raise EvalError(f"distractor path {path} does not exist: give a corpus folder or file")
    return articles


def merge(dataset: Sequence[Article], distractors: Sequence[Article]) -> list[Article]:
    """Dataset paragraphs first, then distractors; a repeated body (same doc_id) is kept once."""
    seen: set[str] = set()
    merged = []
    for article in (*dataset, *distractors):
        if article.doc_id not in seen:
            seen.add(article.doc_id)
            merged.append(article)
    return merged
