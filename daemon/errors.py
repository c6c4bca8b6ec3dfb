"""Error classes named by what the caller must do with them (offlineimap's severity idea)."""


class OneAssistError(Exception):
    """Base of every error the daemon raises on purpose."""


class ConfigError(OneAssistError):
    """The configuration is wrong: stop at start-up and say which key and how to fix it."""


class TransientError(OneAssistError):
    """A server or the store is unreachable for now: retry later with backoff."""


class PermanentError(OneAssistError):
    """Retrying cannot help (SMTP 5xx, refused login): mark dead and tell an admin."""


class QuarantineError(OneAssistError):
    """This one mail cannot be handled: keep its bytes, tell an admin, carry on."""
