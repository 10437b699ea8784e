"""The grammar and the one Lark parser built from it (``policy.lark``, LALR, contextual
lexer), the bounds on what a file may hold, and the comments the lexer collects. Only
the ``syntax`` package touches Lark."""

from __future__ import annotations

import threading
from importlib import resources

from lark import Lark, Token

_GRAMMAR = resources.files(__package__).joinpath("policy.lark").read_text(encoding="utf-8")
LOCK = threading.Lock()

# Bounds that keep hostile text from exhausting the stack or the CPU of later stages.
MAX_NESTING = 64  # expression nodes (or JSON containers in test facts) inside each other
MAX_NUMBER_DIGITS = 100  # digits in one number literal
MAX_SYNTAX_ERRORS = 50  # syntax errors reported per file
COMMENTS: list = []


def _collect_comment(tok: Token) -> Token:
    COMMENTS.append(tok)
    return tok


LARK = Lark(
    _GRAMMAR,
    parser="lalr",
    lexer="contextual",
    propagate_positions=True,
    maybe_placeholders=True,
    start=["start", "expr"],
    lexer_callbacks={"COMMENT": _collect_comment},
)
