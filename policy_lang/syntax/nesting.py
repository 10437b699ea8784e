"""The nesting bound: an expression (or a test's facts JSON) nested deeper than
``MAX_NESTING`` is E306 at parse time, so hostile text cannot exhaust the stack of the
later stages or of the Python compiler that runs a compiled pack. Iterative, so the
check itself cannot overflow."""

from __future__ import annotations

import attrs

from rulecite.policy_lang.errors import Diagnostic
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.grammar import MAX_NESTING

_EXPR_NODES = (ast.Name, ast.Field, ast.Literal, ast.ListLit, ast.Not, ast.Neg, ast.BinOp, ast.Compare, ast.In,
               ast.And, ast.Or, ast.Call, ast.Quant, ast.Fold, ast.If)


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
