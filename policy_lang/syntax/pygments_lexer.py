"""A Pygments lexer for ``.policy`` files.

Takes policy text; gives Pygments tokens, so the documentation site (and any tool
that uses Pygments) highlights the language. Registered through the
``pygments.lexers`` entry point in ``pyproject.toml`` under the aliases ``policy``
and ``rulecite``. It follows ``policy.lark`` loosely: it colours what a reader
needs (declarations, rule ids, keywords, strings with ``{...}`` placeholders,
dates, codes, built-in functions) and never fails on text the parser would reject.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (Comment, Keyword, Literal, Name, Number, Operator, Punctuation, String,
                            Text, Whitespace)

from rulecite.policy_lang.keywords import BUILTIN_FUNCTIONS, KEYWORDS

RULE_ID = r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"

# The words come from the language's one table (``keywords.py``), as the TextMate grammar's do.
DECLARATIONS = KEYWORDS["declaration"]
FIELDS = KEYWORDS["field"]
SEVERITIES = KEYWORDS["severity"]
BUILTINS = BUILTIN_FUNCTIONS
SPECIALS = KEYWORDS["special"]
OPERATOR_WORDS = KEYWORDS["operator"]
CONSTANTS = KEYWORDS["constant"]


class PolicyLexer(RegexLexer):
    """Lexer for Rulecite ``.policy`` rule packs."""

    name = "Rulecite policy"
    aliases = ["policy", "rulecite"]
    filenames = ["*.policy"]
    mimetypes = ["text/x-rulecite-policy"]
    url = "https://github.com/rulecite/rulecite"
    version_added = ""

    tokens = {
        "root": [
            (r"[ \t\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            # a declaration head: keyword and the name it declares
            (r"(override)([ \t]+)(rule)([ \t]+)(" + RULE_ID + ")",
             bygroups(Keyword.Declaration, Whitespace, Keyword.Declaration, Whitespace, Name.Function)),
            (r"(rule|retire|suggest)([ \t]+)(" + RULE_ID + r")(?=[ \t]*\{)",
             bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(source|set|parameter)([ \t]+)(" + IDENT + ")",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(code)([ \t]+)([0-9A-Za-z_]+)(?=[ \t]*\")",
             bygroups(Keyword.Declaration, Whitespace, Name.Constant)),
            (r"(let|def)([ \t]+)(" + IDENT + ")", bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (r"(test)(?=[ \t]*\")", Keyword.Declaration),
            # names of rules and sources where a field expects one
            (r"(supersedes)([ \t]+)(" + RULE_ID + ")", bygroups(Keyword, Whitespace, Name.Function)),
            (r"(cite|per)([ \t]+)(" + IDENT + ")", bygroups(Keyword, Whitespace, Name.Label)),
            (r"(expect)([ \t]+)(no[ \t]+finding|finding)([ \t]+)(" + RULE_ID + ")",
             bygroups(Keyword, Whitespace, Keyword, Whitespace, Name.Function)),
            (r"(expect)([ \t]+)(line|suggestion)\b", bygroups(Keyword, Whitespace, Keyword)),
            (r"(for)([ \t]+)(record)\b", bygroups(Keyword, Whitespace, Keyword)),
            (r"(facts)([ \t]+)(file)\b", bygroups(Keyword, Whitespace, Keyword)),
            (r"(deny|warn)([ \t]+)(?!when\b|unless\b)(" + RULE_ID + r"(?:[ \t]*,[ \t]*" + RULE_ID + ")*)",
             bygroups(Keyword.Reserved, Whitespace, Name.Function)),
            include("expr"),
        ],
        "expr": [
            (r"[ \t\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            (r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9A-Za-z_])", Literal.Date),
            (r"[0-9]{4}-[0-9]{2}(?![0-9A-Za-z_-])", Literal.Date),
            (r"(\.)(" + IDENT + ")", bygroups(Punctuation, Name.Attribute)),
            (r"[0-9]+[A-Za-z][0-9A-Za-z]*", Name.Constant),  # codes such as 0591T
            (r"[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?", Number.Float),
            (r"[0-9]+", Number.Integer),
            (words(OPERATOR_WORDS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(SEVERITIES, suffix=r"\b"), Keyword.Reserved),
            (words(FIELDS + DECLARATIONS, prefix=r"(?<![\w.])", suffix=r"\b"), Keyword),
            (words(BUILTINS, suffix=r"(?=\s*\()"), Name.Builtin),
            (words(SPECIALS, suffix=r"\b"), Name.Builtin.Pseudo),
            (r"[A-Z][A-Z0-9]*[0-9][A-Z0-9]*\b", Name.Constant),  # codes such as G0570, 99490
            (IDENT, Name),
            (r"==|!=|<=|>=|<|>|\+|-|\*|/|=", Operator),
            (r"[{}()\[\],:]", Punctuation),
            (r".", Text),
        ],
        "string": [
            (r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})', String.Escape),
            (r"\{\{|\}\}", String.Escape),
            (r"\{[^{}\"\n]*\}", String.Interpol),
            (r'[^"\\{}\n]+', String.Double),
            (r"[{}]", String.Double),
            (r'"', String.Double, "#pop"),
            (r"\n", Text, "#pop"),  # unterminated string: recover at the end of the line
        ],
    }


__all__ = ["PolicyLexer"]
