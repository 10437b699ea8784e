"""Syntax errors as friendly diagnostics: each labelled by matching it against a catalogue
of known mistakes (``MISTAKES``, which doubles as tests), the expected tokens in words,
and one error per broken top-level declaration (all at once). The nesting bound that
keeps hostile text from exhausting the stack of later stages is ``nesting.too_deep``.

Each diagnostic carries one hint for the mistake an author most likely made: a
misspelled keyword (did-you-mean over the keywords the parser takes at that place,
read from the grammar and ``keywords`` at import), an operator of another language
(`=>`, `=<`, `<>`, `=`), words in the wrong order (found by moving the offending word
and re-parsing the one declaration), a quoted date, or the bracket left open (named
with its line)."""

from __future__ import annotations

import functools
import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from rulecite.policy_lang.errors import Diagnostic, did_you_mean
from rulecite.policy_lang.keywords import KEYWORDS, all_keywords
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.grammar import LARK, MAX_SYNTAX_ERRORS

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


# Words that start a top-level declaration, from the word table at run time (so a new
# declaration word is picked up), and `override` (which starts `override rule`).
_DECL_WORDS = tuple(dict.fromkeys(KEYWORDS["declaration"] + ("override",)))
_DECL_START = re.compile(r"^(" + "|".join(map(re.escape, _DECL_WORDS)) + r")\b", re.M)
_DECL_KEYWORDS = {w.upper() for w in _DECL_WORDS}
_FIELD_KEYWORDS = {"TITLE", "SUMMARY", "EFFECTIVE", "UNTIL", "SUPERSEDES", "CITE", "DISPUTE", "FOR", "MESSAGE",
                   "SUGGEST", "TAG", "SEVERITY", "CITATION", "DOCUMENT", "PUBLISHED", "URL", "KIND", "NOTE",
                   "PROGRAM", "REPLACED_BY", "FACTS", "AS_OF", "EXPECT", "WHEN", "UNITS", "REASON", "FROM"}
_WORDS_READ_AS_NAMES = {"deny", "warn", "info", "message", "title", "cite", "let", "for", "suggest", "tag",
                        "effective", "until", "summary", "dispute", "expect", "facts", "when", "units", "reason",
                        "code"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _terminal_words() -> dict:
    """Terminal name -> the keywords it matches: a literal word of the grammar (`supersedes`,
    `when`, ...) or a word of the word table that a keyword class matches (SEVERITY:
    deny, warn, info). Read from the grammar and ``keywords`` when this module loads,
    so a new keyword gets its did-you-mean without a change here."""
    words = all_keywords()
    out = {}
    for t in LARK.terminals:
        if t.pattern.type == "str":
            if _WORD.fullmatch(t.pattern.value):
                out[t.name] = (t.pattern.value,)
            continue
        rx = re.compile(t.pattern.to_regexp())
        if rx.fullmatch("zz_any_name"):  # NAME, RULE_ID, ...: a class of names, not keywords
            continue
        matched = tuple(w for w in words if rx.fullmatch(w))
        if matched:
            out[t.name] = matched
    return out


@functools.cache
def _words() -> tuple:
    """(``TERMINAL_WORDS``, every keyword, the keywords of a class longest first), made when
    first needed: reading the grammar's terminals builds the parser, which a run that
    reads a pack from the cache never needs."""
    terminal = _terminal_words()
    every = {w for words in terminal.values() for w in words}
    # Keywords of a class (`deny`, `when`, ...): the lexer can take such a word off the front
    # of a longer one (`whenn` is read as `when` then `n`).
    of_class = sorted({w for t in LARK.terminals if t.pattern.type != "str" for w in terminal.get(t.name, ())},
                      key=len, reverse=True)
    return terminal, every, of_class


def __getattr__(name):
    if name == "TERMINAL_WORDS":  # terminal name -> the keywords it matches (see _terminal_words)
        return _words()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


# Brackets outside strings and comments (a string never spans lines; an unterminated one
# ends at the line's end, as the lexer reports it).
_LEXEMES = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[{}()\[\]]')
_CLOSER = {"{": "}", "(": ")", "[": "]"}


def open_brackets(text: str) -> list:
    """The brackets still open at the end of ``text``, outermost first, as (char, offset).
    A stray closer closes the nearest opener of its kind, or nothing."""
    stack: list = []
    for m in _LEXEMES.finditer(text):
        ch = m.group()
        if ch in _CLOSER:
            stack.append((ch, m.start()))
        elif ch in ")]}":
            for i in range(len(stack) - 1, -1, -1):
                if _CLOSER[stack[i][0]] == ch:
                    del stack[i:]
                    break
    return stack


def declaration_starts(text: str) -> list:
    """Offsets where top-level declarations start: a declaration word at the start of a
    line (the fields inside a declaration are indented; a line that starts a declaration
    also ends one that lacks its `}`)."""
    return [m.start() for m in _DECL_START.finditer(text)]


# The name a declaration's first line gives it: the word after the first one (`let x`,
# `rule a.b`, `code X`), even when the first word is misspelled (`lt x`, `ru}le a.b`).
_DECLARED = re.compile(r"^(?:override\s+)?[^\s#]+[ \t]+([A-Za-z0-9_][A-Za-z0-9_.-]*)", re.M)


def declared_names(text: str) -> set:
    """The names that the declarations in ``text`` would declare, read from every line
    that starts at the margin: what a declaration that does not parse would have
    declared (fields are indented, so they give none). A name cut short by a stray
    character (`let first_}onth`, `rule strea m.days {`) is given as its start and `*`:
    `first_*`."""
    names = set()
    for m in _DECLARED.finditer(text):
        after = text[m.end(): text.find("\n", m.end()) % (len(text) + 1)].lstrip(" \t\r")
        cut = after[:1] not in ("", "=", "{", "(", '"', "#") and len(m.group(1)) >= 3
        names.add(m.group(1) + ("*" if cut else ""))
    return names


def _line_col(text: str, offset: int) -> tuple:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _ends_early(exc, file: str, text: str, line_offset: int, following, label) -> Diagnostic:
    """The text ends (or the next declaration starts) where more was expected: name the
    bracket left open and its line, and put the caret where its closer belongs."""
    expected = _expected_text(getattr(exc, "expected", ()) or ())
    last = text.rstrip().split("\n")  # lines as the lexer counts them: at \n only
    line = len(last) + line_offset
    column = len(last[-1]) + 1
    span = ast.Span(file, line, column, line, column + 1)
    opened = open_brackets(text)
    if not opened:
        what = "the file ends too early" if following is None else \
            f"this declaration is incomplete (`{following[1]}` on line {following[0]} starts the next one)"
        return Diagnostic("E103" if "`}`" in expected else "E100", f"{what}; expected {expected}", span,
                          ("every `{` needs a matching `}`",) if "`}`" in expected else (), label=label)
    ch, off = opened[-1]
    oline, ocol = _line_col(text, off)
    opener_line = text.split("\n")[oline - 1].strip()
    if len(opener_line) > 40:
        opener_line = opener_line[:37] + "..."
    closer = _CLOSER[ch]
    more = f" (and {len(opened) - 1} more bracket(s) before it)" if len(opened) > 1 else ""
    msg = (f"missing `{closer}`: the `{ch}` opened on line {oline + line_offset}, column {ocol} "
           f"(`{opener_line}`) is never closed{more}")
    if following is None:
        hints = (f"close it with `{closer}` where it ends (at the latest after line {line})",)
    else:
        hints = (f"close it with `{closer}` before `{following[1]}` on line {following[0]}",)
    return Diagnostic("E103" if ch == "{" else "E100", msg, span, hints, label=label)


def _keyword_hint(word: str, expected: set) -> tuple:
    """`did you mean `supersedes`?` for a misspelled keyword: the keywords the parser
    would take here, nearest first."""
    if not _WORD.fullmatch(word):
        return ()
    candidates = {w for t in expected for w in _words()[0].get(t, ())}
    if word in candidates:
        return ()
    return did_you_mean(word, candidates)


def _glued_keyword_hint(tok, text: str) -> tuple:
    """`deny whenn x`: the lexer read `when` off the front of `whenn`, and the error comes
    at what follows. (hints, (start, end) offsets of the glued word on the token's line)
    or ((), None)."""
    at = tok.start_pos or 0
    left = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", text[:at])
    glued = (left.start() if left else at, at + len(str(tok)))
    for a, b in (glued, *_pieces_around(tok, text)[0][-1:]):
        piece = text[a:b]
        if not _WORD.fullmatch(piece) or piece in _words()[1]:
            continue
        for w in _words()[2]:
            if piece.startswith(w) and len(piece) > len(w):
                return (f"`{piece}` is read as `{w}` then `{piece[len(w):]}`: did you mean `{w}`?",), (a, b)
    return (), None


def _operator_hint(tok, text: str, expected: set) -> tuple:
    """(shown token, hints, back, width) for an operator written the way another language
    writes it: `=>` for `>=`, `=<` for `<=`, `<>` for `!=`, `=` for `==`, `==` in a `let`."""
    value = str(tok)
    end = tok.end_pos if tok.end_pos is not None else (tok.start_pos or 0) + len(value)
    nxt = text[end: end + 1]
    if value == "=" and nxt in ("<", ">"):
        return f"={nxt}", (f"did you mean `{nxt}=`?",), 0, 2
    if value == ">" and text[max(0, (tok.start_pos or 0) - 1): tok.start_pos or 0] == "<":
        return "<>", ("did you mean `!=`?",), 1, 2
    if value == "=" and "COMP_OP" in expected:
        return "=", ("did you mean `==`? a single `=` only gives a `let` its value",), 0, 1
    if value == "=" and "COMP_OP" not in expected and text[max(0, (tok.start_pos or 0) - 1): tok.start_pos or 0] == "=":
        return "==", ("a `let` takes its value with a single `=`",), 1, 2
    return value, (), 0, None


_PIECE = re.compile(r'"(?:[^"\\\n]|\\.)*"|[^\s"]+')
_REPAIR_LIMIT = 20_000  # characters of one declaration worth re-parsing a few times


def _pieces_around(tok, text: str) -> tuple:
    """(previous pieces, the token, next pieces) on the token's line: a piece is a string
    or a run of non-blanks, as a reader sees the words of a line."""
    a = tok.start_pos or 0
    b = tok.end_pos if tok.end_pos is not None else a + len(str(tok))
    line_start = text.rfind("\n", 0, a) + 1
    line_end = text.find("\n", b)
    line_end = len(text) if line_end < 0 else line_end
    before = [(m.start(), m.end()) for m in _PIECE.finditer(text, line_start, a)]
    after = [(m.start(), m.end()) for m in _PIECE.finditer(text, b, line_end)]
    return before, (a, b), after


def _parses(text: str, start: str) -> bool:
    try:
        LARK.parse(text, start=start)
    except UnexpectedInput:
        return False
    return True


def _reorder_hint(tok, text: str, start: str) -> tuple:
    """A hint for words written in the wrong order (`when deny`, `expect deny line 2`,
    `code "Name" X`): move the offending word (or it and its neighbour) a word or two
    to the right, re-parse, and say the order with which the declaration parses."""
    if len(text) > _REPAIR_LIMIT:
        return ()
    before, tok_span, after = _pieces_around(tok, text)
    pieces = before[-1:] + [tok_span] + after[:3]
    i = len(before[-1:])  # index of the offending token among pieces
    tries = []
    for size in (1, 2):
        for shift in (1, 2, 3):
            for first in (i, i - 1):
                if first >= 0 and first + size <= len(pieces) and first + size + shift <= len(pieces) and \
                        first <= i < first + size:
                    tries.append((first, size, shift))
    for first, size, shift in tries:
        moved = pieces[first: first + size]
        over = pieces[first + size: first + size + shift]
        seg_a, seg_b = moved[0][0], over[-1][1]
        words = [text[x:y] for x, y in over] + [text[x:y] for x, y in moved]
        new_seg = " ".join(words)
        repaired = text[:seg_a] + new_seg + text[seg_b:]
        if _parses(repaired, start):
            return (f"the words go in this order: `{new_seg}`",)
    return ()


def syntax_diagnostic(exc: UnexpectedInput, file: str, text: str, start: str, line_offset: int = 0,
                      following: tuple | None = None) -> Diagnostic:
    """One diagnostic for one syntax error. ``text`` may be one declaration of a file,
    ``line_offset`` lines down from its top; ``following`` is (line, word) of the
    declaration after it, or None when the text runs to the end of the file."""
    line = (getattr(exc, "line", 0) or 0) + line_offset
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
        return _ends_early(exc, file, text, line_offset, following, label)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected_set = set(exc.accepts or exc.expected)
    expected = _expected_text(expected_set)
    shown, op_hints, back, width = _operator_hint(tok, text, expected_set)
    if op_hints:
        hints.extend(op_hints)
        if shown != "=":
            label = None  # the catalogue's `=` note is about a lone `=`
    shown = shown.replace("\n", "\\n")
    if len(shown) > 30:
        shown = shown[:27] + "..."
    if tok.type == "COMP_OP" and label and "chained" in label:
        code = "E109"
    elif tok.type in {"SEVERITY", "WHEN_UNLESS"} or (tok.type.isupper() and tok.type.isalpha() and str(tok).isalpha()
                                                     and "a name" in expected):
        code = "E110" if "a name" in expected else "E100"
    else:
        code = "E100"
    tline = (tok.line or 0) + line_offset if tok.line else line
    tcol = (tok.column or column) - back
    tend_line = (tok.end_line or 0) + line_offset if tok.end_line else tline
    tend_col = tcol + width if width else (tok.end_column or (tcol + 1))
    span = ast.Span(file, tline, tcol, tend_line if not width else tline, tend_col)
    known = False
    if not op_hints:
        # A keyword of the language out of place is more likely misplaced than misspelled.
        known = str(tok) in _words()[1]
        meant = (_reorder_hint(tok, text, start) if known else ()) or _keyword_hint(str(tok), expected_set)
        if meant:
            hints.extend(meant)
            label = None  # a misspelled or misplaced word is the diagnosis; the state's catalogue note is not
    if tok.type == "STRING" and expected_set & {"DATE", "MONTH"} and \
            re.fullmatch(r'"[0-9]{4}-[0-9]{2}(-[0-9]{2})?"', str(tok)):
        hints.append(f"dates are written without quotes: `{str(tok)[1:-1]}`")
    if not hints and tok.type != "$END" and not (not op_hints and known):  # (a known word was tried above)
        hints.extend(_reorder_hint(tok, text, start))
    if not hints:
        glued, where = _glued_keyword_hint(tok, text)
        if glued:  # the caret under the word that was split, not the token after it
            hints.extend(glued)
            col = where[0] - (text.rfind("\n", 0, where[0]) + 1) + 1
            span = ast.Span(file, tline, col, tline, col + where[1] - where[0])
            label = None
            return Diagnostic(code, f"unexpected `{text[where[0]:where[1]]}`", span, tuple(hints), label=label)
    history = [t for t in getattr(exc, "token_history", None) or () if t is not None]
    read_as_name = (not history or history[-1].type in ("NAME", "RULE_ID")) and expected_set != {"WHEN_UNLESS"}
    before = re.search(r"([A-Za-z_]+)\s*$", text[: tok.start_pos or 0])
    if not hints and read_as_name and before and before.group(1) in _WORDS_READ_AS_NAMES and \
            text[: before.start()].rstrip(" \t").endswith("\n"):
        hints.append(f"`{before.group(1)}` was read as a name: the expression on the line above is incomplete")
    if not hints and expected_set == {"WHEN_UNLESS"}:
        word = history[-1] if history else "deny"
        hints.append(f"a verdict reads `{word} when CONDITION` (a finding when it holds) or "
                     f"`{word} unless CONDITION` (a finding when it does not)")
    return Diagnostic(code, f"unexpected `{shown}`; expected {expected}", span, tuple(hints), label=label)


def syntax_errors_by_declaration(text: str, file: str) -> tuple:
    """(diagnostics, broken): one diagnostic per broken declaration, and the (start, end)
    offsets of the declarations that do not parse, so a caller can still read the
    others (see ``parser.parse_partial``)."""
    starts = declaration_starts(text)
    if not starts or starts[0] != 0:
        starts = [0] + starts
    starts.append(len(text))
    diags: list = []
    broken: list = []
    offset_lines = 0
    prev = 0
    for i, (a, b) in enumerate(zip(starts, starts[1:])):
        offset_lines += text.count("\n", prev, a)
        prev = a
        chunk = text[a:b]
        if not chunk.strip():
            continue
        if len(diags) >= MAX_SYNTAX_ERRORS:
            diags.append(Diagnostic("E100", f"more syntax errors follow; only the first {MAX_SYNTAX_ERRORS} "
                                    "are reported", ast.Span(file, offset_lines + 1, 1, offset_lines + 1, 2)))
            broken.append((a, len(text)))
            break
        try:
            LARK.parse(chunk, start="start")
        except UnexpectedInput as e:
            following = None
            if b < len(text):
                following = (offset_lines + text.count("\n", a, b) + 1, _DECL_START.match(text, b).group(1))
            diags.append(syntax_diagnostic(e, file, chunk, "start", offset_lines, following))
            broken.append((a, b))
    if not diags:  # the split hid the error: report it on the whole text
        try:
            LARK.parse(text, start="start")
        except UnexpectedInput as e:
            diags.append(syntax_diagnostic(e, file, text, "start"))
            broken = [(0, len(text))]
    return diags, broken
