"""The errors the parsers raise; daemon/core/errors.py adds the rest of the family."""


class OneAssistError(Exception):
    """Base of every error the daemon raises on purpose."""


class QuarantineError(OneAssistError):
    """This one mail cannot be handled: keep its bytes, tell an admin, carry on."""
