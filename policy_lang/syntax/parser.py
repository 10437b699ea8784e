"""Parse ``.policy`` text into an AST ``Module``.

Takes source text and a file name; gives ``(Module | None, [Diagnostic])``. The stage
is four small modules: ``grammar`` (the Lark parser of ``policy.lark``: the only place
that knows Lark's rule names, trees and tokens, with ``transform``), ``transform`` (the
Transformer that builds the frozen nodes of ``nodes``), ``syntax_errors`` (friendly
diagnostics, labelled against a catalogue of known mistakes) and this entry point.

When a file has a syntax error, the parser re-parses it one top-level declaration at a
time so that it can report every broken declaration at once; ``parse_partial`` also
gives the declarations that do parse, for the loader to check with the rest of the pack.
"""

from __future__ import annotations

import re

import attrs
from lark.exceptions import UnexpectedInput, VisitError

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.grammar import COMMENTS, LARK, LOCK, MAX_NESTING, MAX_SYNTAX_ERRORS
from rulecite.policy_lang.syntax.nesting import too_deep
from rulecite.policy_lang.syntax.syntax_errors import (MISTAKES, declared_names, syntax_diagnostic,
                                                       syntax_errors_by_declaration)
from rulecite.policy_lang.syntax.transform import Build, finish

_BLANK = re.compile(r"[^\n]")  # what blanks out a declaration that does not parse, keeping its lines

__all__ = ["MAX_NESTING", "MAX_SYNTAX_ERRORS", "MISTAKES", "parse", "parse_expr", "parse_partial"]


def parse(text: str, file: str = "<string>") -> tuple["ast.Module | None", list]:
    """Parse one ``.policy`` file. Returns the module (None when the syntax is
    broken) and every diagnostic found."""
    module, diags, _ = _parse(text, file)
    return module, diags


def parse_partial(text: str, file: str = "<string>") -> tuple:
    """Parse one file for checking: ``(module, diagnostics, unparsed)``. Like ``parse``,
    but a file with syntax errors still gives a module of the declarations that do
    parse (the broken ones blanked out, so every line keeps its number), and
    ``unparsed`` is a frozenset of the names the broken ones declare (None when the
    whole file parsed). The loader checks such a module with the rest of the pack, so
    one broken declaration hides no error elsewhere; never format or compile it."""
    module, diags, broken = _parse(text, file)
    if module is not None:
        return _without_broken(module, diags)
    body = text[1:] if text.startswith("\ufeff") else text
    if not broken:  # refused whole (nested too deep): none of its names is known
        return None, diags, frozenset(declared_names(body))
    names = set()
    parts, at = [], 0
    for a, b in broken:
        names.update(declared_names(body[a:b]))
        parts += [body[at:a], _BLANK.sub(" ", body[a:b])]
        at = b
    partial, more, _ = _parse("".join(parts) + body[at:], file)
    if partial is None:  # nothing of the file is checked: none of its names is known
        return None, diags, frozenset(names | declared_names(body))
    partial, more, also = _without_broken(partial, more)
    return partial, diags + more, frozenset(names) | (also or frozenset())


def _without_broken(module, diags) -> tuple:
    """The module less the declarations that hold an error the parser found (a date that
    is not a date, a field given twice, ...), and their names (None when there are
    none): checked as written they would echo the same mistake."""
    errors = [d.span.line for d in diags if d.severity == "error"]
    if not errors:
        return module, diags, None
    keep, names = [], set()
    for decl in module.decls:
        if any(decl.span.line <= line <= decl.span.end_line for line in errors):
            names.add(str(getattr(decl, "id", None) or getattr(decl, "name", None) or ""))
        else:
            keep.append(decl)
    return attrs.evolve(module, decls=tuple(keep)), diags, frozenset(names - {""})


def _parse(text: str, file: str) -> tuple:
    """(module or None, diagnostics, the (start, end) offsets of declarations that do not parse)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    with LOCK:
        COMMENTS.clear()
        try:
            tree = LARK.parse(text, start="start")
            comment_toks = list(COMMENTS)
        except UnexpectedInput:
            diags, broken = syntax_errors_by_declaration(text, file)
            return None, diags, broken
    build = Build(file, text)
    try:
        decls = build.transform(tree)
    except VisitError as e:  # a bug in the transformer, never the user's fault
        raise e.orig_exc from None
    deep = too_deep(tuple(decls), file)
    if deep is not None:
        return None, build.errors + [deep], []
    lines = text.split("\n")  # as the lexer counts lines: at \n only (a string may hold \u2028)
    comments = []
    for t in comment_toks:
        prefix = lines[t.line - 1][: t.column - 1] if t.line - 1 < len(lines) else ""
        comments.append(ast.Comment(str(t), t.line, t.column, own_line=not prefix.strip()))
    decls = [finish(d) for d in decls]
    nlines = max(1, len(lines) - text.endswith("\n"))
    module = ast.Module(file, tuple(decls), tuple(comments), span=ast.Span(file, 1, 1, nlines, 1))
    return module, build.errors, []


def parse_expr(text: str, file: str = "<expr>"):
    """Parse one expression (used by placeholders, the REPL-like ``explain`` and tests)."""
    try:
        tree = LARK.parse(text, start="expr")
    except UnexpectedInput as e:
        return None, [syntax_diagnostic(e, file, text, "expr")]
    build = Build(file, text)
    expr = build.transform(tree)
    deep = too_deep(expr, file)
    if deep is not None:
        return None, build.errors + [deep]
    return expr, build.errors
