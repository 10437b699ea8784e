"""Parse ``.policy`` text into an AST ``Module``.

Takes source text and a file name; gives ``(Module | None, [Diagnostic])``. The stage
is four small modules: ``grammar`` (the Lark parser of ``policy.lark``: the only place
that knows Lark's rule names, trees and tokens, with ``transform``), ``transform`` (the
Transformer that builds the frozen nodes of ``nodes``), ``syntax_errors`` (friendly
diagnostics, labelled against a catalogue of known mistakes) and this entry point.

When a file has a syntax error, the parser re-parses it one top-level declaration at a
time so that it can report every broken declaration at once.
"""

from __future__ import annotations

from lark.exceptions import UnexpectedInput, VisitError

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.grammar import COMMENTS, LARK, LOCK, MAX_NESTING, MAX_SYNTAX_ERRORS
from rulecite.policy_lang.syntax.syntax_errors import MISTAKES, all_syntax_errors, syntax_diagnostic, too_deep
from rulecite.policy_lang.syntax.transform import Build, finish

__all__ = ["MAX_NESTING", "MAX_SYNTAX_ERRORS", "MISTAKES", "parse", "parse_expr"]


def parse(text: str, file: str = "<string>") -> tuple["ast.Module | None", list]:
    """Parse one ``.policy`` file. Returns the module (None when the syntax is
    broken) and every diagnostic found."""
    if text.startswith("\ufeff"):
        text = text[1:]
    with LOCK:
        COMMENTS.clear()
        try:
            tree = LARK.parse(text, start="start")
            comment_toks = list(COMMENTS)
        except UnexpectedInput:
            return None, all_syntax_errors(text, file)
    build = Build(file, text)
    try:
        decls = build.transform(tree)
    except VisitError as e:  # a bug in the transformer, never the user's fault
        raise e.orig_exc from None
    deep = too_deep(tuple(decls), file)
    if deep is not None:
        return None, build.errors + [deep]
    lines = text.split("\n")  # as the lexer counts lines: at \n only (a string may hold \u2028)
    comments = []
    for t in comment_toks:
        prefix = lines[t.line - 1][: t.column - 1] if t.line - 1 < len(lines) else ""
        comments.append(ast.Comment(str(t), t.line, t.column, own_line=not prefix.strip()))
    decls = [finish(d) for d in decls]
    nlines = max(1, len(lines) - text.endswith("\n"))
    module = ast.Module(file, tuple(decls), tuple(comments), span=ast.Span(file, 1, 1, nlines, 1))
    return module, build.errors


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
