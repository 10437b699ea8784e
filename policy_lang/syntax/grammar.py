"""The grammar and the one Lark parser built from it when first used (``policy.lark``,
LALR, contextual lexer), the bounds on what a file may hold, and the comments the lexer
collects. Only the ``syntax`` package touches Lark."""

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


class _Parser:
    """The one Lark parser, built on first use (about 0.1 s; a run that reads its pack from
    the checked-pack cache never parses), then shared: attribute reads go to it."""

    def __init__(self):
        self._lark = None
        self._building = threading.Lock()

    def _built(self) -> Lark:
        if self._lark is None:
            with self._building:
                if self._lark is None:
                    self._lark = Lark(
                        _GRAMMAR,
                        parser="lalr",
                        lexer="contextual",
                        propagate_positions=True,
                        maybe_placeholders=True,
                        start=["start", "expr"],
                        lexer_callbacks={"COMMENT": _collect_comment},
                    )
        return self._lark

    def __getattr__(self, name):
        return getattr(self._built(), name)


LARK = _Parser()
