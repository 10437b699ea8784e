"""The CLI's errors and exit codes, and the helpers their messages use.

Commands raise ``BadInput`` (a ``RuleciteError``) for anything the user can fix, and
``RunStopped`` when something around the run stops it; ``main.py`` renders both, and
every other ``RuleciteError`` of the library, in one place.
"""

from __future__ import annotations

from rulecite.policy_lang.errors import RuleciteError

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INCOMPLETE, EXIT_INTERRUPTED = 4, 130  # the environment stopped the run: its output is incomplete


class RunStopped(Exception):
    """Something around the run stopped it: output that cannot be written (a closed pipe, a
    full disk), a worker process that died, Ctrl-C. Not a bug: one line, no traceback."""

    def __init__(self, message: str, code: int = EXIT_INCOMPLETE):
        super().__init__(message)
        self.message = message
        self.code = code


class BadInput(RuleciteError):
    """Something the user gave cannot be used: a missing file, malformed JSON, a bad record id."""

    def __init__(self, message: str, hints=()):
        super().__init__(message, hints=hints)


def why(e: Exception) -> str:
    """The readable part of an OS error (or of a ValueError such as an embedded null byte)."""
    return getattr(e, "strerror", None) or str(e) or e.__class__.__name__


def short(text, limit: int = 120) -> str:
    """User-given text, cut to a readable length for a message."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
