"""What a rule answers when it says no. The store never raises these (it
returns None or what it found); the domain does, and errors.py turns each
kind into the API's status and {"error": ...} body in one place."""


class Refused(Exception):
    """A rule refused the call; `message` is the one sentence the caller reads."""

    def __init__(self, message: str, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class Invalid(Refused):
    """The input breaks a rule a schema cannot state (400)."""


class Forbidden(Refused):
    """The caller may not do this (403)."""


class NotFound(Refused):
    """Something named does not exist (404)."""


class Conflict(Refused):
    """The current state does not allow it (409)."""


class Unprocessable(Refused):
    """Well formed, but it cannot work: nothing can take it, or its parts
    contradict each other or the state (422)."""
