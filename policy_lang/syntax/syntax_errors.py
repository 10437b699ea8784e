"""Syntax errors as friendly diagnostics: each labelled by matching it against a catalogue
of known mistakes (``MISTAKES``, which doubles as tests), the expected tokens in words,
one error per broken top-level declaration (all at once), and the nesting bound that
keeps hostile text from exhausting the stack of later stages."""

from __future__ import annotations

import re

import attrs
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from rulecite.policy_lang.errors import Diagnostic
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.grammar import LARK, MAX_NESTING, MAX_SYNTAX_ERRORS

# Terminal names as users should read them in "expected ..." lists.
TOKEN_NAMES = {
    "LBRACE": "`{`", "RBRACE": "`}`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "COMMA": "`,`", "DOT": "`.`", "EQUAL": "`=`", "COLON": "`:`", "NAME": "a name", "RULE_ID": "a rule id",
    "STRING": "a string", "INT": "a whole number", "DECIMAL": "a decimal number", "DATE": "a date (YYYY-MM-DD)",
    "MONTH": "a month (YYYY-MM)", "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*` or `/`",
    "SEVERITY": "`deny`, `warn` or `info`", "WHEN_UNLESS": "`when` or `unless`", "CODE_NAME": "a code",
    "NEG_NUMBER": "a number", "MINUS": "`-`", "$END": "end of file",
}

# A catalogue of known mistakes: label -> snippets that make the parser fail in the
# same state. ``match_examples`` picks the label for a real error; tests parse each
# snippet and check that it gets its label.
MISTAKES: dict[str, list[str]] = {
    "a comparison uses `==`, not `=`": [
        "let x = a = 1",
        "rule r { deny when a.b = 1 }",
    ],
    "a rule's verdict needs `when` or `unless` after deny/warn/info": [
        "rule r { deny a < 1 }",
        "rule r { warn x }",
    ],
    "dates are written without quotes, e.g. `effective 2026-01-01`": [
        'rule r { effective "2026-01-01" }',
        'code X "d" { until "2025-12-31" }',
        'source S { published "2025-11-05" }',
    ],
    "a declaration's body must start with `{`": [
        'rule r title "x" }',
        'source S title "x" }',
    ],
    "set members are separated by commas": [
        "set S = {A B}",
        "set S = {A, B C}",
    ],
    "`expect line` needs the claim line number, e.g. `expect line 2 deny`": [
        'test "t" { expect line allow }',
        'test "t" { expect line deny }',
    ],
    "this field belongs inside a declaration's braces": [
        'title "x"',
        "effective 2026-01-01",
        'message "x"',
    ],
    "comparisons cannot be chained; join them with `and`": [
        "let x = 1 < a < 3",
        "let x = a == b == c",
    ],
    "an operator is missing its right-hand side": [
        "let x = a and",
        "let x = a +",
    ],
    "a test's facts are JSON: keys need double quotes": [
        'test "t" { facts { patient_id: "1" } }',
    ],
}


_DECL_START = re.compile(r"^(source|code|set|let|rule|override|retire|suggest|test)\b", re.M)


_WORDS_READ_AS_NAMES = {"deny", "warn", "info", "message", "title", "cite", "let", "for", "suggest", "tag",
                        "effective", "until", "summary", "dispute", "expect", "facts", "when", "units", "reason",
                        "code"}
_DECL_KEYWORDS = {"SOURCE", "CODE", "SET", "LET", "RULE", "OVERRIDE", "RETIRE", "SUGGEST", "TEST"}
_FIELD_KEYWORDS = {"TITLE", "SUMMARY", "EFFECTIVE", "UNTIL", "SUPERSEDES", "CITE", "DISPUTE", "FOR", "MESSAGE",
                   "SUGGEST", "TAG", "SEVERITY", "CITATION", "DOCUMENT", "PUBLISHED", "URL", "KIND", "NOTE",
                   "PROGRAM", "REPLACED_BY", "FACTS", "AS_OF", "EXPECT", "WHEN", "UNITS", "REASON", "FROM"}


def _expected_text(expected) -> str:
    """The expected tokens as a short readable list: declaration and field keywords
    that could also start the next line are folded into one phrase each."""
    expected = set(expected)
    extra = []
    if len(expected - _DECL_KEYWORDS) and expected & _DECL_KEYWORDS:
        expected -= _DECL_KEYWORDS
        extra.append("a new declaration")
    fields = expected & _FIELD_KEYWORDS
    if len(fields) > 2 and len(expected - _FIELD_KEYWORDS):
        expected -= _FIELD_KEYWORDS
        extra.append("the next field")
    elif len(fields) > 2:
        expected -= _FIELD_KEYWORDS
        extra.append("a field (" + ", ".join(sorted(f"`{f.lower()}`" for f in fields)) + ")")
    names = sorted({TOKEN_NAMES.get(e, f"`{e.lower()}`" if e.replace("_", "").isalpha() and e.isupper() else e)
                    for e in expected})
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names + extra)


def syntax_diagnostic(exc: UnexpectedInput, file: str, text: str, start: str) -> Diagnostic:
    line = getattr(exc, "line", 0) or 0
    column = getattr(exc, "column", 0) or 0
    label = None
    if not isinstance(exc, UnexpectedCharacters):
        try:
            label = exc.match_examples(lambda s: LARK.parse(s, start=start), MISTAKES, use_accepts=True)
        except Exception:  # noqa: BLE001 - the catalogue must never hide the real error
            label = None
    hints: list[str] = []
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch == '"':
            return Diagnostic("E101", "this string has no closing quote", ast.Span(file, line, column, line, column + 1),
                              ("strings end on the line they start; join long text as \"a\" \"b\"",), label=label)
        if ch in "&|":
            hints.append("write `and` / `or`")
        elif ch == "'":
            hints.append('strings use double quotes: "text"')
        elif ch == "!":
            hints.append("write `not` for negation, `!=` for inequality")
        shown = repr(ch) if ch and not ch.isprintable() else f"`{ch}`"
        expected = _expected_text(exc.allowed or ())
        msg = f"unexpected character {shown}" + (f"; expected {expected}" if expected else "")
        return Diagnostic("E102", msg, ast.Span(file, line, column, line, column + 1), tuple(hints), label=label)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        expected = _expected_text(getattr(exc, "expected", ()) or ())
        last = text.rstrip().split("\n")  # lines as the lexer counts them: at \n only
        line = len(last)
        column = len(last[-1]) + 1
        code = "E103" if "`}`" in expected else "E100"
        return Diagnostic(code, f"the file ends too early; expected {expected}",
                          ast.Span(file, line, column, line, column + 1),
                          ("every `{` needs a matching `}`",) if code == "E103" else (), label=label)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = _expected_text(exc.accepts or exc.expected)
    shown = str(tok).replace("\n", "\\n")
    if len(shown) > 30:
        shown = shown[:27] + "..."
    if tok.type == "COMP_OP" and label and "chained" in label:
        code = "E109"
    elif tok.type in {"SEVERITY", "WHEN_UNLESS"} or (tok.type.isupper() and tok.type.isalpha() and str(tok).isalpha()
                                                     and "a name" in expected):
        code = "E110" if "a name" in expected else "E100"
    else:
        code = "E100"
    span = ast.Span(file, tok.line or line, tok.column or column, tok.end_line or line,
                    tok.end_column or (column + 1))
    before = re.search(r"([A-Za-z_]+)\s*$", text[: tok.start_pos or 0])
    if before and before.group(1) in _WORDS_READ_AS_NAMES and \
            text[: before.start()].rstrip(" \t").endswith("\n"):
        hints.append(f"`{before.group(1)}` was read as a name: the expression on the line above is incomplete")
    return Diagnostic(code, f"unexpected `{shown}`; expected {expected}", span, tuple(hints), label=label)


def all_syntax_errors(text: str, file: str) -> list:
    """Report one syntax error per broken top-level declaration (at most
    ``MAX_SYNTAX_ERRORS``). Each declaration is parsed on its own and its spans are
    shifted to the file's lines, so the cost stays linear in the file's size."""
    starts = [m.start() for m in _DECL_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts = [0] + starts
    starts.append(len(text))
    diags = []
    offset_lines = 0
    prev = 0
    for a, b in zip(starts, starts[1:]):
        offset_lines += text.count("\n", prev, a)
        prev = a
        chunk = text[a:b]
        if not chunk.strip():
            continue
        if len(diags) >= MAX_SYNTAX_ERRORS:
            diags.append(Diagnostic("E100", f"more syntax errors follow; only the first {MAX_SYNTAX_ERRORS} "
                                    "are reported", ast.Span(file, offset_lines + 1, 1, offset_lines + 1, 2)))
            break
        try:
            LARK.parse(chunk, start="start")
        except UnexpectedInput as e:
            d = syntax_diagnostic(e, file, chunk, "start")
            sp = d.span
            diags.append(attrs.evolve(d, span=ast.Span(file, sp.line + offset_lines, sp.column,
                                                       sp.end_line + offset_lines, sp.end_column)))
    if not diags:  # the split hid the error (e.g. an unclosed brace swallowing the rest)
        try:
            LARK.parse(text, start="start")
        except UnexpectedInput as e:
            diags.append(syntax_diagnostic(e, file, text, "start"))
    return diags


_EXPR_NODES = (ast.Name, ast.Field, ast.Literal, ast.ListLit, ast.Not, ast.Neg, ast.BinOp, ast.Compare, ast.In,
               ast.And, ast.Or, ast.Call, ast.Quant, ast.Fold)


_CHILD_FIELDS: dict = {}


def _child_fields(cls) -> tuple:
    """The attribute names of an AST class that may hold nodes (none for leaves and spans)."""
    if not attrs.has(cls) or cls is ast.Span:
        return ()
    return tuple(a.name for a in attrs.fields(cls) if a.name != "span")


def too_deep(node, file: str) -> Diagnostic | None:
    """A diagnostic when an expression (or test facts' JSON) nests deeper than
    ``MAX_NESTING``: deeper trees would exhaust the stack of every later stage and of
    the Python compiler that runs the compiled pack. Iterative, so it cannot itself
    overflow."""
    nowhere = ast.Span(file, 0, 0, 0, 0)
    stack = [(node, 0, nowhere)]  # (value, depth, span of the nearest node that has one)
    while stack:
        x, depth, where = stack.pop()
        if isinstance(x, tuple):
            stack.extend((v, depth, where) for v in x)
            continue
        if isinstance(x, (dict, list)):
            depth += 1
            children = x.values() if isinstance(x, dict) else x
        else:
            names = _CHILD_FIELDS.get(type(x))
            if names is None:
                names = _CHILD_FIELDS[type(x)] = _child_fields(type(x))
            if not names:
                continue
            if isinstance(x, _EXPR_NODES):
                depth += 1
            where = getattr(x, "span", None) or where
            if isinstance(x, ast.TestDecl) and x.facts is not None:
                # Test facts are plain JSON without spans: point at the `facts` line.
                line = next((ln for key, ln, _ in x.layout if key == "facts"), where.line)
                stack.append((x.facts, depth, attrs.evolve(where, line=line, column=3, end_line=line)))
                names = tuple(n for n in names if n != "facts")
            children = [getattr(x, n) for n in names]
        if depth > MAX_NESTING:
            return Diagnostic("E306", f"an expression or JSON value nests more than {MAX_NESTING} levels deep",
                              where, ("split it into `let` values, or write a long chain of operators "
                                      "in smaller parts",))
        stack.extend((v, depth, where) for v in children)
    return None
