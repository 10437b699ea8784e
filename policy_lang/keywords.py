"""The words of the language, in one table: what every highlighter and editor reads.

Takes nothing; gives ``KEYWORDS`` (the reserved and field words, by category) and
``BUILTIN_FUNCTIONS`` (every name a call may use, read from the one table of built-ins,
``builtins.BUILTINS``). The Pygments lexer, the TextMate grammar (written by ``editors/generate.py``)
and the language server's completion all read these, so none can drift from the
language: a test checks that every literal word of ``policy.lark`` is listed here, and
another that the grammar file in the repository is what the generator writes.
"""

from __future__ import annotations

from rulecite.policy_lang.builtins import NAMES

# category -> words, each category in the order a reader meets them
KEYWORDS: dict[str, tuple[str, ...]] = {
    # words that start a top-level declaration
    "declaration": ("source", "code", "set", "let", "def", "parameter", "rule", "retire", "suggest", "test", "base"),
    # words that start a field or clause inside a declaration
    "field": (
        "title", "summary", "effective", "until", "supersedes", "cite", "dispute", "per", "tag",
        "for", "where", "when", "unless", "message", "suggest", "section", "page", "quote", "unverified", "restates",
        "program", "replaced_by", "note", "citation", "document", "published", "url", "kind", "from",
        "reason", "units", "facts", "as_of", "expect", "allow", "rejected", "override", "value",
    ),
    # words that only follow another keyword: `for record`, `facts file`, `expect no finding`, ...
    "qualifier": ("record", "line", "file", "finding", "no", "suggestion", "of"),
    # the clause words of an applicability line and a verdict
    "clause": ("for", "where", "when", "unless"),
    # operators written as words (`if c then a else b` is one operator of three words)
    "operator": ("and", "or", "not", "in", "if", "then", "else"),
    # verdict severities
    "severity": ("deny", "warn", "info"),
    # literal constants
    "constant": ("true", "false", "null"),
    # names every expression can read without declaring them
    "special": ("history", "service_date"),
}

# Every function name the checker accepts: the plain calls, the quantifiers and the
# aggregates of the table of built-ins (``builtins.NAMES``), sorted.
BUILTIN_FUNCTIONS: tuple[str, ...] = NAMES


def all_keywords() -> tuple[str, ...]:
    """Every word of ``KEYWORDS`` once, in table order (specials left out: they are names)."""
    seen: dict = {}
    for category, words in KEYWORDS.items():
        if category != "special":
            for w in words:
                seen.setdefault(w, category)
    return tuple(seen)


__all__ = ["BUILTIN_FUNCTIONS", "KEYWORDS", "all_keywords"]
