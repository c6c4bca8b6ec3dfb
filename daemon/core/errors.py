"""Error classes named by what the caller must do with them (offlineimap's severity idea).

The base class and QuarantineError are the parsers' own (parsers/errors.py): the parsers
raise them and sit below this layer. They are the same classes here.
"""

from parsers.errors import OneAssistError, QuarantineError

__all__ = ["ConfigError", "OneAssistError", "PermanentError", "QuarantineError", "TransientError"]


class ConfigError(OneAssistError):
    """The configuration is wrong: stop at start-up and say which key and how to fix it."""


class TransientError(OneAssistError):
    """A server or the store is unreachable for now: retry later with backoff."""


class PermanentError(OneAssistError):
    """Retrying cannot help (SMTP 5xx, refused login): mark dead and tell an admin."""
