"""Diagnostics: errors and warnings as values, and their one renderer.

Every stage (parser, checker, pack loader) returns ``Diagnostic`` values instead of
raising or printing. The CLI renders them once, as text (file:line:col, the source
line, a caret, hints) or as JSON. ``CODES`` is the catalogue of stable error codes;
``docs/reference/error-codes.md`` is generated from it and a test keeps both in step.
"""

from __future__ import annotations

import difflib
from typing import Iterable

from attrs import frozen

from rulecite.policy_lang.syntax.nodes import NOWHERE, Span

# code -> (short name, what it means). Codes never change meaning once released.
CODES: dict[str, tuple[str, str]] = {
    # syntax
    "E100": ("syntax-error", "The text does not follow the grammar."),
    "E101": ("unterminated-string", "A string is missing its closing quote."),
    "E102": ("unknown-character", "A character that no token of the language can start with."),
    "E103": ("missing-brace", "A block is missing its closing `}`."),
    "E104": ("bad-string-escape", "A string holds an escape sequence JSON does not allow."),
    "E105": ("bad-date", "A date or month literal is not a real calendar date."),
    "E106": ("bad-placeholder", "A `{...}` placeholder in a message is not a valid expression."),
    "E107": ("duplicate-field", "A declaration gives the same field twice."),
    "E108": ("missing-field", "A declaration lacks a field it must have."),
    "E109": ("chained-comparison", "Comparisons cannot be chained; join them with `and`."),
    "E110": ("reserved-word", "A word of the expression syntax (and, or, not, in, true, false, where, for) used as a name."),
    # names
    "E200": ("unknown-name", "A name that is not a fact field, derived value, set or variable."),
    "E201": ("unknown-field", "A field that the facts schema does not define."),
    "E202": ("unknown-code", "A code that the code catalog does not declare."),
    "E203": ("unknown-set", "A set member that is neither a declared code nor a set."),
    "E204": ("unknown-source", "A citation of a source that no `source` declares."),
    "E205": ("unknown-rule", "A reference to a rule id that no pack declares."),
    "E206": ("unknown-function", "A call of a function the language does not have."),
    "E207": ("duplicate-declaration", "Two declarations of the same kind share a name."),
    "E208": ("override-required", "A rule redefines an inherited rule without `override`."),
    "E209": ("override-nothing", "`override` on a rule that no extended pack declares."),
    "E210": ("cyclic-definition", "Derived values or sets that depend on themselves."),
    "E211": ("shadowed-name", "A variable or derived value hides another name in scope."),
    "E212": ("unknown-lines", "A rule iterates over a list that is not the pack's lines."),
    "E213": ("unknown-source-kind", "A source whose `kind` is not one of the fixed source kinds."),
    "E214": ("no-primary-citation", "A rule with no primary citation, in a pack that requires one."),
    "E215": ("recursive-definition", "A definition (`def`) that calls itself, directly or through others."),
    "E217": ("rule-id-case", "Two rule ids that differ only in upper and lower case."),
    "E216": ("empty-program", "A set member `program NAME` for a program no code of the catalog is in."),
    # types
    "E300": ("type-mismatch", "Operands of incompatible types."),
    "E301": ("not-boolean", "A condition that is not true/false."),
    "E302": ("not-a-list", "A quantifier or `in` over something that is not a list or set."),
    "E303": ("not-a-record", "Field access on a value that has no fields."),
    "E304": ("bad-arguments", "A function called with the wrong number or types of arguments."),
    "E305": ("bad-enum-value", "A string compared with a field that only takes other values."),
    "E306": ("nesting-too-deep", "Quantifiers nest deeper than the configured bound."),
    "E307": ("bad-definition-call", "A definition called with the wrong number or types of arguments."),
    "E308": ("definition-too-large", "A definition that stands for too much work once the definitions it calls "
                                     "are written out."),
    "E309": ("bad-parameter-value", "A dated parameter's value that is not a constant, or not of the type of its "
                                    "other values."),
    # windows and dates
    "E400": ("inverted-window", "An `until` date before the `effective` date."),
    "E401": ("overlapping-versions", "Two versions of a rule are in force on the same day."),
    "E402": ("code-outside-window", "A rule names a code on dates where the code is not in force."),
    "E403": ("supersede-order", "A rule supersedes one that starts on or after it."),
    "E404": ("window-outside-coverage", "A window that lies wholly outside the pack's coverage."),
    "E405": ("parameter-dates", "A dated parameter whose `from` dates are not in increasing order, or lie outside "
                                "the pack's coverage."),
    # packs
    "E500": ("bad-pack-toml", "pack.toml is missing, unreadable, or lacks a required key."),
    "E501": ("bad-facts-schema", "facts.schema.json is missing, not JSON, or not a valid schema."),
    "E502": ("extends-not-found", "`extends` names a pack that cannot be found."),
    "E503": ("circular-extends", "Packs that extend each other in a circle."),
    "E504": ("bad-version", "A version that is not calendar-based (YYYY.N.N)."),
    "E505": ("unreadable-file", "A pack file that was not read: not UTF-8 text, outside the pack folder (a symlink "
                                "pointing out), not a regular file (a FIFO or device), or larger than the limit."),
    "E506": ("language-version", "A pack written for a language version this Rulecite lacks."),
    "E507": ("bad-amounts", "A pack's amounts per code (`[amounts]` and its CSV file) or a `--rates` file has a "
                            "row that cannot be used: an unknown code or source, a bad date or amount, overlapping rows."),
    # tests
    "E600": ("test-unknown-line", "A test expects a claim line its facts do not have."),
    "E601": ("test-unknown-rule", "A test expects a verdict from a rule no pack declares."),
    "E602": ("test-bad-facts", "A test's facts are missing or not a record (or list of records)."),
    "E603": ("test-facts-file", "A test's facts file cannot be read or is outside the pack."),
    "E604": ("unknown-base-record", "A test's `facts from NAME` names no `base` record of the pack."),
    # warnings
    "W701": ("unused-declaration", "A set or derived value that nothing uses."),
    "W702": ("no-primary-citation", "A rule that cites no primary source (statute, regulation, final rule, "
                                    "correction, manual, guidance, code descriptor)."),
    "W703": ("citation-after-rule", "A rule or code in force before a source it cites took effect or was "
                                    "published (cite a restatement as `cite X restates`)."),
    "W704": ("source-without-kind", "A source with no `kind`: it counts as no authority, so it is not primary."),
    "W705": ("program-code-unread", "A code the catalog puts in a program, which no rule, set a rule reads, or "
                                    "condition names: a new code that joined its program but none of its sets."),
}


@frozen
class Diagnostic:
    """One problem found in a pack: a stable ``code``, where, what, and hints."""

    code: str
    message: str
    span: Span = NOWHERE
    hints: tuple = ()
    severity: str = "error"  # "error" | "warning"
    label: str | None = None  # friendly name of a known syntax mistake

    @property
    def sort_key(self):
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "name": CODES.get(self.code, ("", ""))[0],
            "severity": self.severity,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hints": list(self.hints),
            **({"label": self.label} if self.label else {}),
        }


class RuleciteError(Exception):
    """The base of every error Rulecite raises for something its user can fix: a pack
    with errors, a pack that is not a checked one, input that cannot be used, a new
    version that cannot be made. Anything else escaping the library is a bug.

    ``message`` says what is wrong; ``code`` is a stable short name for the kind of error
    (``None`` for a plain one; never changes meaning once released); ``hints`` are
    what may fix it; ``exit_code`` is the command line's exit code for it (2: bad
    input, see ``rulecite --help``). The CLI renders every one of them in one place.
    """

    code: str | None = None
    exit_code: int = 2

    def __init__(self, message: str = "", *, code: str | None = None, hints: Iterable[str] = ()):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.hints = tuple(hints)


class PackError(RuleciteError):
    """Raised by the public API when a pack has errors; ``diagnostics`` holds them all."""

    code = "pack-errors"

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: d.sort_key))
        n = sum(1 for d in self.diagnostics if d.severity == "error")
        # lead with the first error, never a warning that happens to sort before it
        first = next((d for d in self.diagnostics if d.severity == "error"), None) or \
            (self.diagnostics[0] if self.diagnostics else None)
        head = f"{first.span}: {first.code} {first.message}" if first else "pack has errors"
        super().__init__(f"{n} error(s) in pack; first: {head}")


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> tuple:
    """Hints naming the closest candidates, as ``('did you mean `x`?',)``."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    if not close:
        return ()
    return ("did you mean " + " or ".join(f"`{c}`" for c in close) + "?",)


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list:
    out, seen = [], set()
    for d in sorted(diags, key=lambda d: d.sort_key):
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def render_text(diags: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> str:
    """Render diagnostics as text: ``file:line:col: error[E200]: message``, the
    source line, a caret under the span, then hints."""
    sources = sources or {}
    blocks = []
    for d in diags:
        head = f"{d.span.file}:{d.span.line}:{d.span.column}: {d.severity}[{d.code}]: {d.message}"
        lines = [head]
        text = sources.get(d.span.file)
        if text is not None and d.span.line >= 1:
            # Lines as the parser counts them: split at \n only (not at \u2028, \x85, a lone
            # \r, ...), after the byte-order mark the parser drops.
            src_lines = text.removeprefix("\ufeff").split("\n")
            if d.span.line <= len(src_lines):
                src = src_lines[d.span.line - 1].removesuffix("\r").replace("\t", " ")
                gutter = f"{d.span.line:>4} | "
                lines.append(gutter + src)
                width = 1
                if d.span.end_line == d.span.line and d.span.end_column > d.span.column:
                    width = d.span.end_column - d.span.column
                width = max(1, min(width, len(src) - d.span.column + 1 if len(src) >= d.span.column else 1))
                lines.append(" " * (len(gutter) - 2) + "| " + " " * (d.span.column - 1) + "^" * width)
        if d.label:
            lines.append(f"  = note: {d.label}")
        for h in d.hints:
            lines.append(f"  = hint: {h}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")
