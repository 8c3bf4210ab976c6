"""Every failure a user can act on, under one root.

The command line prints a `QAError` as one line (`error: ...`) and exits 1; the chat shows it as a
friendly message. The message always says what was wrong and what to do. Anything that is not a
`QAError` is a bug and keeps its traceback.
"""

from __future__ import annotations


class QAError(Exception):
    """Root of the errors a user can act on; the message is meant for them."""


class CorpusError(QAError):
    """The corpus folder is missing or unreadable as a whole."""


class IndexUnavailable(QAError):
    """The index is missing, broken, or does not fit the request."""


class EmbeddingError(QAError):
    """The embedding model cannot be loaded from disk."""


class ProvisionError(EmbeddingError):
    """The default model could not be provisioned from the installed package."""


class InvalidInput(QAError):
    """A question, option or file given by the user is not acceptable."""


class InvalidFilter(InvalidInput):
    """A date or source filter is malformed or contradicts itself."""


class EvalError(QAError):
    """An evaluation dataset or distractor path is unusable."""
