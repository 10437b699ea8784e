"""Lark's parse tree -> AST, the expressions and message templates: ``ExpressionBuild``,
a mixin of ``transform.Build`` (one method per expression rule of the grammar; the
helpers ``_span``, ``_tspan`` and ``_err`` are ``Build``'s). A message's placeholders are
parsed as expressions and anchored on the message's span."""

from __future__ import annotations

import json
import math

import attrs
from lark import Token, v_args
from lark.exceptions import UnexpectedInput, VisitError

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.grammar import LARK, MAX_NUMBER_DIGITS
from rulecite.policy_lang.syntax.nesting import too_deep


class ExpressionBuild:
    """The expression and template methods of the Transformer."""

    # ---- expressions
    @v_args(meta=True)
    def name(self, meta, c):
        return ast.Name(str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def field(self, meta, c):
        return ast.Field(c[0], str(c[1]), span=self._span(meta))

    def _number(self, tok: Token):
        text = str(tok)
        digits = sum(ch.isdigit() for ch in text)
        if digits > MAX_NUMBER_DIGITS:
            self._err("E100", f"a number with {digits} digits; numbers have at most {MAX_NUMBER_DIGITS}",
                      self._tspan(tok))
            return 0
        try:
            value = json.loads(text)
        except ValueError:  # the grammar's numbers allow leading zeros; JSON does not
            sign = "-" if text.startswith("-") else ""
            body = text.lstrip("-").lstrip("0")
            plain = sign + ("0" + body if body[:1] in ("", ".", "e", "E") else body)
            self._err("E100", f"`{text}` is not a number: numbers have no leading zeros", self._tspan(tok),
                      [f"write `{plain}`"])
            return 0
        if isinstance(value, float) and not math.isfinite(value):
            self._err("E100", f"the number `{text}` is too large", self._tspan(tok))
            return 0
        return value

    @v_args(meta=True)
    def int_lit(self, meta, c):
        return ast.Literal("int", self._number(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def dec_lit(self, meta, c):
        self._number(c[0])
        return ast.Literal("decimal", str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def str_lit(self, meta, c):
        return ast.Literal("string", str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def date_lit(self, meta, c):
        d = self._date(c[0])
        return ast.Literal("date", d.isoformat(), span=self._span(meta))

    @v_args(meta=True)
    def month_lit(self, meta, c):
        text = str(c[0])
        if not 1 <= int(text[5:7]) <= 12:
            self._err("E105", f"`{text}` is not a month", self._tspan(c[0]), ["months are YYYY-MM, 01 to 12"])
        return ast.Literal("month", text, span=self._span(meta))

    @v_args(meta=True)
    def true_lit(self, meta, c):
        return ast.Literal("bool", True, span=self._span(meta))

    @v_args(meta=True)
    def false_lit(self, meta, c):
        return ast.Literal("bool", False, span=self._span(meta))

    @v_args(meta=True)
    def list_lit(self, meta, c):
        return ast.ListLit(tuple(x for x in c if x is not None), span=self._span(meta))

    @v_args(meta=True)
    def not_(self, meta, c):
        return ast.Not(c[0], span=self._span(meta))

    @v_args(meta=True)
    def neg(self, meta, c):
        return ast.Neg(c[0], span=self._span(meta))

    @v_args(meta=True)
    def arith(self, meta, c):
        return ast.BinOp(str(c[1]), c[0], c[2], span=self._span(meta))

    @v_args(meta=True)
    def compare(self, meta, c):
        return ast.Compare(str(c[1]), c[0], c[2], span=self._span(meta))

    @v_args(meta=True)
    def in_(self, meta, c):
        return ast.In(c[0], c[1], False, span=self._span(meta))

    @v_args(meta=True)
    def not_in(self, meta, c):
        return ast.In(c[0], c[1], True, span=self._span(meta))

    @v_args(meta=True)
    def and_(self, meta, c):
        # `and` is associative: the AST keeps one flat list however the text groups it.
        items = tuple(x for i in c for x in (i.items if isinstance(i, ast.And) else (i,)))
        return ast.And(items, span=self._span(meta))

    @v_args(meta=True)
    def or_(self, meta, c):
        items = tuple(x for i in c for x in (i.items if isinstance(i, ast.Or) else (i,)))
        return ast.Or(items, span=self._span(meta))

    @v_args(meta=True)
    def call(self, meta, c):
        return ast.Call(str(c[0]), tuple(x for x in c[1:] if x is not None), span=self._span(meta))

    @v_args(meta=True)
    def quant(self, meta, c):
        return ast.Quant(str(c[0]), str(c[1]), c[2], c[3], span=self._span(meta))

    @v_args(meta=True)
    def fold(self, meta, c):
        return ast.Fold(str(c[0]), c[1], str(c[2]), c[3], c[4], span=self._span(meta))

    @v_args(meta=True)
    def if_(self, meta, c):
        return ast.If(c[0], c[1], c[2], span=self._span(meta))

    # ---- templates
    def _template(self, tok) -> ast.Template:
        text = str(tok)
        span = self._tspan(tok)
        parts: list = []
        buf = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "{" and text.startswith("{{", i):
                buf.append("{")
                i += 2
            elif ch == "}" and text.startswith("}}", i):
                buf.append("}")
                i += 2
            elif ch == "{":
                j = text.find("}", i)
                if j < 0:
                    self._err("E106", "a `{` in the message has no closing `}`", span,
                              ["write `{{` for a literal brace"])
                    buf.append(text[i:])
                    break
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self._placeholder(text[i + 1:j], span))
                i = j + 1
            elif ch == "}":
                self._err("E106", "a `}` in the message has no opening `{`", span,
                          ["write `}}` for a literal brace"])
                buf.append("}")
                i += 1
            else:
                buf.append(ch)
                i += 1
        if buf:
            parts.append("".join(buf))
        return ast.Template(text, tuple(parts), span=span)

    def _placeholder(self, source: str, span: ast.Span):
        try:
            tree = LARK.parse(source, start="expr")
            sub = type(self)(self.file, source)
            expr = sub.transform(tree)
        except (UnexpectedInput, VisitError):
            self._err("E106", f"`{{{source}}}` is not an expression", span,
                      ["placeholders hold an expression such as `{line.code}`; write `{{` for a literal brace"])
            return ast.Literal("string", "{" + source + "}", span=span)
        deep = too_deep(expr, self.file)
        if deep is not None:
            self._err("E306", deep.message, span, list(deep.hints))
            return ast.Literal("string", "{" + source + "}", span=span)
        # Re-anchor every node of the placeholder on the message's span.
        return respan(expr, span)


def respan(node, span):
    """``node`` and every node below it anchored on ``span`` (a placeholder on its message)."""
    if not attrs.has(type(node)):
        return node
    changes = {}
    for a in attrs.fields(type(node)):
        v = getattr(node, a.name)
        if a.name == "span":
            changes["span"] = span
        elif isinstance(v, tuple):
            changes[a.name] = tuple(respan(x, span) for x in v)
        elif attrs.has(type(v)):
            changes[a.name] = respan(v, span)
    return attrs.evolve(node, **changes)
