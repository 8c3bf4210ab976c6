"""Keyword search for German (and English) text: an analyzer plus a bm25s index.

The analyzer folds case and umlauts and applies Snowball German stemming, so "Nutzern" finds
"Nutzer"; figures and names stay whole tokens, so "430 Millionen" and "Koum" match exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import Stemmer

from qa.npy import HEADER_LOCK, load_npy

if TYPE_CHECKING:
    import bm25s

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)
_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
STOP_WORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
    auch auf aus bei bin bis bist da damit dann das dass dasselbe dazu dein deine dem den denn der
    des desselben dessen dich die dies diese dieselbe dieselben diesem diesen dieser dieses dir
    doch dort du durch ein eine einem einen einer eines einige einigem einigen einiger einiges
    er es etwas euch euer eure für gegen gewesen hab habe haben hat hatte hatten hier hin hinter
    ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im in indem ins ist jede jedem jeden jeder
    jedes jene jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner keines können
    könnte machen man manche manchem manchen mancher manches mein meine mich mir mit muss musste
    nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner seines selbst
    sich sie sind so solche solchem solchen solcher solches soll sollte sondern sonst über um und
    uns unser unsere unter vom von vor war waren warst was weg weil weiter welche welchem welchen
    welcher welches wenn werde werden wie wieder will wir wird wirst wo wollen wollte würde würden
    zu zum zur zwar zwischen wer wem wen wann warum wieso weshalb welche viele wieviel
    a an and are as at be by for from has have how in is it of on or that the this to was were
    what when where which who why will with does did do many much
    """.split()
)


class Analyzer:
    """Text -> index terms. One instance serves both indexing and querying."""

    def __init__(self, language: str = "german"):
        self.language = language
        self._stemmer = Stemmer.Stemmer(language)

    def terms(self, text: str) -> list[str]:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS]
        out = []
        for word in words:
            if word[0].isdigit():
                out.append(word.replace(".", "").replace(",", "."))
            else:
                out.append(self._stemmer.stemWord(word).translate(_FOLD))
        return out


class KeywordIndex:
    """BM25 over chunk texts; scores come back for every chunk so callers can filter and fuse.

    Scores are normalised to [0, 1]: a chunk's BM25 score divided by the best score each query
    term reaches anywhere in the corpus. So 1.0 means "as good a match as this corpus allows for
    every term", and a question that shares only one common word with the corpus stays low. That
    keeps the scale the same across questions, which fusion and declining rely on.
    """

    def __init__(self, retriever: bm25s.BM25 | SavedScores, analyzer: Analyzer):
        self._retriever = retriever
        self.analyzer = analyzer
        data, indptr = retriever.scores["data"], retriever.scores["indptr"]
        nonempty = indptr[:-1] < indptr[1:]
        self._term_max = np.zeros(len(indptr) - 1, np.float32)
        if len(data):
            self._term_max[nonempty] = np.maximum.reduceat(data, indptr[:-1][nonempty])

    @classmethod
    def build(cls, texts: Sequence[str], analyzer: Analyzer) -> KeywordIndex:
        import bm25s  # only to build: a loaded index scores with `SavedScores`

        retriever = bm25s.BM25()
        corpus = [analyzer.terms(t) or ["\x00empty"] for t in texts]
        retriever.index(corpus, show_progress=False)
        return cls(retriever, analyzer)

    def scores(self, query: str) -> np.ndarray:
        """Normalised BM25 score of every chunk for `query` (see the class docstring)."""
        all_terms = self.analyzer.terms(query)
        vocab = self._retriever.vocab_dict
        terms = [t for t in all_terms if t in vocab]
        if not terms:
            return np.zeros(self._retriever.scores["num_docs"], np.float32)
        raw = np.asarray(self._retriever.get_scores(terms), dtype=np.float32)
        # Terms missing from the corpus still count in the denominator: they are unmatched.
        best = sum(float(self._term_max[vocab[t]]) for t in terms)
        best *= len(all_terms) / len(terms)
        return raw / best if best > 0 else raw

    def document_frequency(self, terms: Sequence[str]) -> dict[str, int]:
        """In how many chunks each analysed term occurs (0 for terms the corpus lacks)."""
        vocab, indptr = self._retriever.vocab_dict, self._retriever.scores["indptr"]
        return {t: int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0 for t in terms}

    def chunks_with(self, term: str) -> np.ndarray:
        """The ids of the chunks that hold analysed `term`, ascending (empty if none): its column
        of the score matrix, read without scoring. The reader learns from it which question
        terms an article holds without analysing the article (`qa.answer.Reader._held_terms`)."""
        column = self._retriever.vocab_dict.get(term, -1)
        # Plain views: indexing a `np.memmap` runs Python code (half the time of this).
        indptr = np.asarray(self._retriever.scores["indptr"])
        if not 0 <= column < len(indptr) - 1:  # bm25s's "" token has no column
            return np.zeros(0, np.int64)
        chunks = np.asarray(self._retriever.scores["indices"])[indptr[column] : indptr[column + 1]]
        if len(chunks) > 1 and (chunks[1:] < chunks[:-1]).any():
            chunks = np.sort(chunks)  # bm25s writes them in order; do not rely on it
        return chunks

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, analyzer: Analyzer) -> KeywordIndex:
        # Memory-mapped: the score matrix is read from disk as needed (page cache, not heap).
        params = json.loads((folder / "params.index.json").read_text("utf-8"))
        if params.get("method") in SavedScores.METHODS:
            return cls(SavedScores(folder, params), analyzer)
        import bm25s  # another bm25s method: let bm25s score it

        with HEADER_LOCK:
            retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)
        return cls(retriever, analyzer)


class SavedScores:
    """The scoring side of a saved bm25s index, read with numpy alone.

    bm25s stores each term's BM25 score in every chunk (a CSC matrix: `data`, `indices`,
    `indptr`) and a vocabulary; a query's scores are the sum of its terms' columns. Importing
    bm25s pulls in scipy (~0.3 s of CPU, a fifth of a new `qa ask`), so a loaded index sums
    the columns here, the way `bm25s.BM25.get_scores` does (same order of additions, so the
    same float32 scores). Only for methods without a non-occurrence term (`METHODS`).
    """

    METHODS = ("lucene", "robertson", "atire")

    def __init__(self, folder: Path, params: dict):
        self.vocab_dict: dict[str, int] = json.loads(
            (folder / "vocab.index.json").read_text("utf-8")
        )
        self.scores = {
            name: load_npy(folder / f"{name}.csc.index.npy")
            for name in ("data", "indices", "indptr")
        }
        self.scores["num_docs"] = int(params["num_docs"])
        self._dtype = np.dtype(params.get("dtype", "float32"))
        self._int_dtype = np.dtype(params.get("int_dtype", "int32"))

    def get_scores(self, terms: Sequence[str]) -> np.ndarray:
        """Every chunk's BM25 score for `terms` (terms outside the vocabulary count nothing)."""
        data, indices, indptr = (self.scores[k] for k in ("data", "indices", "indptr"))
        ids = [self.vocab_dict[t] for t in terms if t in self.vocab_dict]
        ids = np.asarray(ids, dtype=self._int_dtype)
        starts, ends = indptr[ids], indptr[ids + 1]
        out = np.zeros(self.scores["num_docs"], dtype=self._dtype)
        for start, end in zip(starts, ends):
            np.add.at(out, indices[start:end], data[start:end])
        return out
