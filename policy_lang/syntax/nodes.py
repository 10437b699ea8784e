"""The abstract syntax tree of a ``.policy`` file.

Takes nothing; gives the node classes that ``parser.parse`` builds and every
later stage reads. Nodes are frozen attrs classes. Each carries a ``span``
that takes no part in equality (``field(eq=False)``), so a tree written by
hand in a test equals the parsed one, and ``parse(format(x)) == parse(x)``.

Nothing here knows Lark: no ``Tree`` or ``Token`` ever reaches these nodes.
"""

from __future__ import annotations

import datetime as _dt
from typing import Union

import attrs
from attrs import field, frozen


@frozen(order=True)
class Span:
    """Where a node sits in its file: 1-based line and column, inclusive start."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Span("<builtin>", 0, 0, 0, 0)


def _span():
    return field(default=NOWHERE, eq=False, repr=False, kw_only=True)


# ---------------------------------------------------------------- expressions


@frozen
class Name:
    name: str
    span: Span = _span()


@frozen
class Field:
    obj: "Expr"
    name: str
    span: Span = _span()


@frozen
class Literal:
    """A constant. ``kind`` is one of int, decimal, string, date, month, bool.

    Dates and months keep their ISO text (``"2026-01-01"``, ``"2026-01"``):
    ISO order is date order, so comparisons stay plain string comparisons.
    """

    kind: str
    value: object
    span: Span = _span()


@frozen
class ListLit:
    items: tuple
    span: Span = _span()


@frozen
class Not:
    operand: "Expr"
    span: Span = _span()


@frozen
class Neg:
    operand: "Expr"
    span: Span = _span()


@frozen
class BinOp:
    op: str  # + - * /
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@frozen
class Compare:
    op: str  # == != < <= > >=
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@frozen
class In:
    left: "Expr"
    right: "Expr"
    negated: bool = False
    span: Span = _span()


@frozen
class And:
    items: tuple
    span: Span = _span()


@frozen
class Or:
    items: tuple
    span: Span = _span()


@frozen
class Call:
    """A call of a built-in function; the checker rejects any other name."""

    func: str
    args: tuple
    span: Span = _span()


@frozen
class Quant:
    """``any(x in xs where c)``, ``all(...)``, ``count(...)``."""

    func: str
    var: str
    source: "Expr"
    where: "Expr | None"
    span: Span = _span()


@frozen
class Fold:
    """``sum(e for x in xs where c)``, ``min(...)``, ``max(...)``."""

    func: str
    value: "Expr"
    var: str
    source: "Expr"
    where: "Expr | None"
    span: Span = _span()


@frozen
class If:
    """``if cond then a else b``: both branches of one type."""

    cond: "Expr"
    then: "Expr"
    else_: "Expr"
    span: Span = _span()


Expr = Union[Name, Field, Literal, ListLit, Not, Neg, BinOp, Compare, In, And, Or, Call, Quant, Fold, If]


@frozen
class Template:
    """A message with ``{expr}`` placeholders; ``parts`` alternates text and Expr."""

    text: str
    parts: tuple
    span: Span = _span()


# ---------------------------------------------------------------- declarations


@frozen
class Citation:
    source: str
    section: str | None = None
    page: str | None = None
    page_unverified: bool = False
    quote: str | None = None
    restates: bool = False  # the source restates an older policy: it may postdate the rule
    span: Span = _span()


@frozen
class SourceDecl:
    name: str
    title: str | None = None
    citation: str | None = None
    document: str | None = None
    published: _dt.date | None = None
    effective: _dt.date | None = None
    url: str | None = None
    kind: str | None = None
    note: str | None = None
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class CodeDecl:
    name: str
    description: str
    program: str | None = None
    effective: _dt.date | None = None
    until: _dt.date | None = None
    replaced_by: tuple = ()
    citations: tuple = ()
    note: str | None = None
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class SetMember:
    name: str
    span: Span = _span()
    program: bool = False  # `program NAME`: every code of that program in the catalog


@frozen
class SetDecl:
    name: str
    members: tuple  # of SetMember
    title: str | None = None
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class LetDecl:
    name: str
    expr: Expr
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class TypeRef:
    """A declared type: ``date``, ``line``, ``list of line``... (``item`` for ``list of``)."""

    name: str
    item: "TypeRef | None" = None
    span: Span = _span()


@frozen
class Param:
    name: str
    type: TypeRef
    span: Span = _span()


@frozen
class DefDecl:
    """``def NAME(p: type, ...) = expr``: a named, parameterised, pure expression."""

    name: str
    params: tuple  # of Param
    expr: Expr
    layout: tuple = field(default=(), eq=False, repr=False)
    span: Span = _span()


@frozen
class ParamValue:
    """``from DATE value EXPR cite ...``: one value of a dated parameter."""

    start: _dt.date
    expr: Expr
    citations: tuple = ()
    span: Span = _span()


@frozen
class ParamDecl:
    """``parameter NAME { title ... from DATE value EXPR cite ... }``."""

    name: str
    title: str | None = None
    values: tuple = ()  # of ParamValue, as written
    layout: tuple = field(default=(), eq=False, repr=False)
    span: Span = _span()


@frozen
class LineScope:
    """``for line in claims where c``: the rule looks at each claim line."""

    var: str
    source: str
    where: Expr | None = None
    span: Span = _span()


@frozen
class RecordScope:
    """``for record where c``: the rule looks at the record as a whole."""

    where: Expr | None = None
    span: Span = _span()


@frozen
class Dispute:
    text: str
    source: str | None = None
    span: Span = _span()


@frozen
class RuleDecl:
    id: str
    override: bool = False
    title: str | None = None
    summary: str | None = None
    effective: _dt.date | None = None
    until: _dt.date | None = None
    supersedes: str | None = None
    citations: tuple = ()
    disputes: tuple = ()
    scope: LineScope | RecordScope | None = None
    lets: tuple = ()
    severity: str | None = None
    mode: str | None = None  # "when" | "unless"
    condition: Expr | None = None
    message: Template | None = None
    suggest: Template | None = None
    tags: tuple = ()
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class RetireDecl:
    rule_id: str
    from_date: _dt.date | None = None
    citations: tuple = ()
    reason: str | None = None
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class SuggestDecl:
    id: str
    title: str | None = None
    effective: _dt.date | None = None
    until: _dt.date | None = None
    scope: LineScope | RecordScope | None = None
    when: Expr | None = None
    code: str | None = None
    units: Expr | None = None
    reason: Template | None = None
    citations: tuple = ()  # Citation, ...: where the suggestion comes from (checked like a rule's)
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


@frozen
class Expectation:
    """One ``expect`` line of a test. ``kind``: allow, deny, warn, finding,
    no_finding, suggestion, rejected."""

    kind: str
    line: int | None = None
    rules: tuple = ()
    code: str | None = None
    units: int | None = None
    span: Span = _span()


@frozen
class BaseDecl:
    """``base NAME { ...JSON... }``: a record the pack's tests start from."""

    name: str
    facts: object = None  # a JSON object
    layout: tuple = field(default=(), eq=False, repr=False)
    span: Span = _span()


@frozen
class TestDecl:
    name: str
    facts: object = None  # a JSON value (dict, or list of dicts: earlier months first)
    facts_file: str | None = None
    base: str | None = None  # `facts from NAME {...}`: ``facts`` holds what differs from base NAME
    as_of: _dt.date | None = None
    expectations: tuple = ()
    layout: tuple = field(default=(), eq=False, repr=False)  # ((key, line, end_line), ...) in source order
    span: Span = _span()


Decl = Union[SourceDecl, CodeDecl, SetDecl, LetDecl, DefDecl, ParamDecl, RuleDecl, RetireDecl, SuggestDecl, TestDecl,
             BaseDecl]


@frozen
class Comment:
    text: str
    line: int
    column: int
    own_line: bool  # True when nothing but whitespace precedes it on its line


@frozen
class Module:
    """One parsed ``.policy`` file."""

    file: str
    decls: tuple
    comments: tuple = field(default=(), eq=False)
    span: Span = _span()


def walk(node):
    """Yield ``node`` and every AST node below it, depth first, in source order."""
    yield node
    if not attrs.has(type(node)):
        return
    for a in attrs.fields(type(node)):
        if a.name == "span":
            continue
        value = getattr(node, a.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if attrs.has(type(v)):
                yield from walk(v)
