"""What an expression of a checked pack reads, known at compile time: the schema type of a
name or field read (``expression_type``), whether a value may be absent (``is_optional``),
whether it is surely a number (``surely_number``: arithmetic may take it unchecked), the
operands a finding shows (``evidence_items``) and the JSON path each was read at
(``evidence_path``). Used by the code generator (``expressions``, ``compiler``), the
tracing evaluator (``interpreter/explain.py``) and the evidence tools."""

from __future__ import annotations

import attrs

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.model import Apply, Concat, Ref
from rulecite.policy_lang.types import Type

from rulecite.interpreter.codegen.tokens import IDENT


def expression_type(e) -> Type | None:
    """The schema type of a name or field read (``None`` when the schema leaves it untyped,
    or for any other expression). A field of an optional object is optional."""
    if isinstance(e, Ref):
        return e.type
    if isinstance(e, ast.Field):
        t = expression_type(e.obj)
        if t is None or t.kind != "record":
            return None
        ft = t.field(e.name)
        if ft is not None and t.optional and ft.kind != "list" and ft.default is None:
            return attrs.evolve(ft, optional=True)
        return ft
    return None


def is_optional(e) -> bool:
    """Whether ``e`` may be absent (``None``) at run time."""
    if isinstance(e, (ast.Literal, ast.ListLit, ast.Compare, ast.In, ast.And, ast.Or, ast.Not, ast.Quant)):
        return False
    if isinstance(e, ast.Fold):
        return e.func in ("min", "max")
    if isinstance(e, Concat):
        return False
    if isinstance(e, ast.If):
        return is_optional(e.then) or is_optional(e.else_)
    if isinstance(e, Apply):
        return type(e.type) is not Type or e.type.optional
    if isinstance(e, ast.Call):
        return e.func not in ("present", "len")
    if isinstance(e, ast.BinOp):
        return e.op == "/" or is_optional(e.left) or is_optional(e.right)
    if isinstance(e, ast.Neg):
        return is_optional(e.operand)
    if isinstance(e, Ref):
        if e.kind in ("set",) or e.name in ("history", "service_date") and e.kind == "special":
            return False
        return e.type.optional
    t = expression_type(e)
    return True if t is None else t.optional


_NUMBER_CALLS = frozenset({"abs", "floor", "ceil", "round", "len", "months_between", "days_between", "year_of"})


def surely_number(e, op: str) -> bool:
    """Whether ``e`` is a number (or absent) at run time whatever the record holds, so an
    arithmetic operator ``op`` may take it unchecked: literals, arithmetic, counts and sums,
    numeric built-ins and dated parameters (constants the checker typed); for ``+`` and
    ``-``, also a name or field the checker types as a number. A value of `*` must be
    proven by its form: a definition's parameter or a `let` passed an untyped value keeps
    its declared type in the model but may hold text."""
    if isinstance(e, ast.Literal):
        return e.kind in ("int", "decimal")
    if isinstance(e, (ast.BinOp, ast.Neg)):
        return True
    if isinstance(e, ast.Quant):
        return e.func == "count"
    if isinstance(e, ast.Fold):
        return e.func in ("sum", "count_distinct") or (e.func in ("min", "max") and surely_number(e.value, op))
    if isinstance(e, ast.Call):
        return e.func in _NUMBER_CALLS
    if isinstance(e, ast.If):
        return surely_number(e.then, op) and surely_number(e.else_, op)
    if isinstance(e, Ref) and e.kind == "param":
        return type(e.type) is Type and e.type.kind in ("int", "decimal")
    if op == "*":
        return False
    t = e.type if isinstance(e, (Ref, Apply)) else expression_type(e)
    return type(t) is Type and t.kind in ("int", "decimal")


def evidence_items(cond) -> list:
    """The operands a condition reads, outermost first: what a finding shows."""
    out: list = []

    def leaf(x):
        if isinstance(x, (ast.Literal, ast.ListLit)) or (isinstance(x, Ref) and x.kind == "set"):
            return
        if x not in out:
            out.append(x)

    def go(x):
        if isinstance(x, (ast.And, ast.Or)):
            for i in x.items:
                go(i)
        elif isinstance(x, ast.Not):
            go(x.operand)
        elif isinstance(x, (ast.Compare, ast.In)):
            leaf(x.left)
            leaf(x.right)
        else:
            leaf(x)

    if cond is not None:
        go(cond)
    return out


def evidence_path(e, rule_var: str | None, lines_field: str) -> str | None:
    """A JSON path template for an evidence expression (``{i}`` is the line index)."""
    names = []
    x = e
    while isinstance(x, ast.Field):
        names.append(x.name)
        x = x.obj
    if not isinstance(x, Ref):
        return None
    names.reverse()
    if x.kind == "fact":
        root = "$." + x.name
    elif x.kind == "var" and x.name == rule_var:
        root = "$." + lines_field + "[{i}]"
    else:
        return None
    return root + "".join("." + n if IDENT.match(n) else f"[{n!r}]" for n in names)
