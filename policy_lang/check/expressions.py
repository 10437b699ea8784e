"""Typing expressions: every name resolved to a ``model.Ref``, every call typed from the
table of built-ins (``policy_lang.builtins``), every operator checked against the
facts schema's types.

Takes, through the ``Checker`` it is mixed into, what the earlier stages resolved (the
record type, the sets, the derived values); gives ``(expression, Type)`` for each
expression, and adds a diagnostic (``E2xx`` names, ``E3xx`` types) for each problem.
Reads no file.
"""

from __future__ import annotations

from collections import ChainMap

import attrs

from rulecite.policy_lang import builtins as B
from rulecite.policy_lang import types as T
from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import Apply, Concat, Ref
from rulecite.policy_lang.syntax import nodes as ast

RESERVED = frozenset({"and", "or", "not", "in", "true", "false", "where", "for", "if", "then", "else"})
QUANTIFIERS = set(B.QUANTIFIERS)
FOLDS = set(B.AGGREGATES)
# Every name a call may use, sorted: the names of the table of built-ins.
FUNCTION_NAMES = list(B.NAMES)
# name -> (least arguments, most arguments, typing rule) of each plain call, from the table.
FUNCTIONS = {name: (b.arity[0], b.arity[1], b.typing) for name, b in B.CALLS.items()}


def nesting(e, let_depth: dict) -> int:
    """How deep quantifiers and aggregates nest in a checked expression, counting a `let`
    it reads (``let_depth``: name -> nesting inside that let) where it is read."""
    if isinstance(e, Ref):
        return let_depth.get(e.name, 0) if e.kind == "let" else 0
    if isinstance(e, Apply):  # a definition counts its quantifiers where it is called
        return max(e.depth, nesting(e.args, let_depth))
    if isinstance(e, (ast.Quant, ast.Fold)):
        body = [x for x in (e.where, getattr(e, "value", None)) if x is not None]
        return max(nesting(e.source, let_depth), 1 + max((nesting(x, let_depth) for x in body), default=0))
    if isinstance(e, tuple):
        return max((nesting(x, let_depth) for x in e), default=0)
    if not attrs.has(type(e)):
        return 0
    return max((nesting(getattr(e, a.name), let_depth) for a in attrs.fields(type(e))
                if a.name not in ("span", "type")), default=0)


@attrs.define
class Scope:
    names: dict
    depth: int = 0
    line_var: str | None = None

    def child(self, **extra) -> "Scope":
        # A layer over the parent's names, not a copy: a pack with thousands of derived
        # values must not copy them all into every quantifier's scope.
        s = Scope(ChainMap({}, self.names), self.depth, self.line_var)
        for k, v in extra.items():
            setattr(s, k, v)
        return s


class Expressions:
    """The expression half of the ``Checker``: a mixin, so stages call ``ck.expr(...)``."""

    def base_scope(self, let_names: dict | None = None) -> Scope:
        """The top-level scope: the record's facts, `history`, the sets, and the derived
        values (``let_names``: name -> Ref; by default every checked `let`). Layered, so
        a scope costs the same however many derived values the pack has."""
        if self._fixed_names is None:
            names: dict = {}
            for fname, ftype in self.record_type.fields:
                names[fname] = Ref("fact", fname, ftype)
            names["history"] = Ref("special", "history", T.Type("list", item=self.record_type, optional=False))
            for sname in self.sets:
                names[sname] = Ref("set", sname, T.SET)
            for pname, p in getattr(self, "params", {}).items():
                names[pname] = Ref("param", pname, p.type)
            self._fixed_names = names
        if let_names is None:
            if self._let_names is None:
                self._let_names = {n: Ref("let", n, dv.type) for n, dv in self.derived.items()}
            let_names = self._let_names
        return Scope(ChainMap({}, let_names, self._fixed_names))

    def check_shadow(self, name, span, top=False):
        if name in RESERVED:
            self.err("E110", f"`{name}` is a word of the expression syntax and cannot name a value", span,
                     ["choose another name"])
            return
        taken = set(self.record_type.field_names) | set(self.sets) | {"history", "service_date"} \
            | set(getattr(self, "params", {})) | set(getattr(self, "defs", {}))
        if not top:
            taken |= set(self.derived)
        if name in taken:
            self.err("E211", f"`{name}` hides a name that is already in scope", span,
                     ["choose another name for the variable or derived value"])

    # ------------------------------------------------------------ expressions
    def expr(self, e, scope: Scope):
        """Check one expression: returns (expression with Refs, Type)."""
        method = getattr(self, "x_" + type(e).__name__)
        return method(e, scope)

    def cond(self, e, scope: Scope, what="condition"):
        x, t = self.expr(e, scope)
        if t.kind not in {"bool", "any"}:
            self.err("E301", f"this {what} is {a_type(t)}, not true/false", e.span,
                     ["compare it with something, e.g. `x > 0`, or use `present(x)`"])
        return x

    def x_Name(self, e: ast.Name, scope):
        ref = scope.names.get(e.name)
        if ref is None:
            if e.name in B.CALLS:
                self.err("E200", f"`{e.name}` is a function; call it as `{e.name}(...)`", e.span)
            else:
                self.err("E200", f"unknown name `{e.name}`", e.span, did_you_mean(e.name, scope.names))
            return e, T.ANY
        if ref.kind in {"let", "set", "param"}:
            self.used.add((ref.kind, e.name))
        if ref.kind == "let":
            self._check_let_depth(e, scope)
        return attrs.evolve(ref, span=e.span), ref.type

    def note_let_depth(self, table: dict, name: str, expr):
        table[name] = nesting(expr, {**self.let_depth, **self.local_depth})
        if table[name] > self.max_depth:
            self._deep_lets.add(name)  # reported inside it; its uses need not say it again

    def _check_let_depth(self, e: ast.Name, scope):
        inside = self.local_depth.get(e.name, self.let_depth.get(e.name, 0))
        total = scope.depth + inside
        if inside and total > self.max_depth and e.name not in self._deep_lets:
            self.err("E306", f"quantifiers nest {total} deep through `{e.name}` ({inside} inside it, used "
                     f"{scope.depth} deep); the limit is {self.max_depth}", e.span,
                     [f"a `let` counts its quantifiers where it is used; `{e.name}` does not depend on the "
                      "quantifiers around this use, so test it outside them"])

    def x_Field(self, e: ast.Field, scope):
        obj, t = self.expr(e.obj, scope)
        out = attrs.evolve(e, obj=obj)
        if t.kind == "any":
            return out, T.ANY
        if t.kind == "list":
            self.err("E303", f"`{text_of(e.obj)}` is a list; `.{e.name}` needs one item of it", e.span,
                     [f"use a quantifier, e.g. `any(x in {text_of(e.obj)} where x.{e.name} ...)`"])
            return out, T.ANY
        if t.kind != "record":
            self.err("E303", f"`{text_of(e.obj)}` is {a_type(t)} and has no field `{e.name}`", e.span)
            return out, T.ANY
        ft = t.field(e.name)
        if ft is None:
            self.err("E201", f"unknown field `{e.name}` of `{text_of(e.obj)}`", e.span,
                     did_you_mean(e.name, t.field_names) or (f"fields: {', '.join(t.field_names)}",))
            return out, T.ANY
        if t.optional and not ft.optional:
            ft = attrs.evolve(ft, optional=ft.kind != "list" and ft.default is None)
        return out, ft

    def x_Literal(self, e: ast.Literal, scope):
        return e, {"int": T.INT, "decimal": T.DECIMAL, "string": T.STRING, "date": T.DATE,
                   "month": T.MONTH, "bool": T.BOOL}[e.kind]

    def x_ListLit(self, e: ast.ListLit, scope):
        items, t = [], None
        for it in e.items:
            x, xt = self.expr(it, scope)
            items.append(x)
            if t is None:
                t = xt
            elif not T.comparable(t, xt):
                self.err("E300", f"a list mixes {t} and {xt}", it.span)
            else:
                t = T.join(t, xt)
        return attrs.evolve(e, items=tuple(items)), T.Type("list", item=t or T.ANY, optional=False)

    def x_Not(self, e: ast.Not, scope):
        return attrs.evolve(e, operand=self.cond(e.operand, scope, "operand of `not`")), T.BOOL

    def x_Neg(self, e: ast.Neg, scope):
        x, t = self.expr(e.operand, scope)
        if not T.is_numeric(t):
            self.err("E300", f"cannot negate {a_type(t)}", e.span)
        return attrs.evolve(e, operand=x), t

    def x_BinOp(self, e: ast.BinOp, scope):
        left, lt = self.expr(e.left, scope)
        right, rt = self.expr(e.right, scope)
        out = attrs.evolve(e, left=left, right=right)
        if e.op == "+" and lt.kind == "list" and rt.kind == "list":
            joined = one_type(lt, rt)
            if joined is None:
                self.err("E300", f"`+` joins two lists of one type of item, got {lt} and {rt}", e.span)
                return out, T.ANY
            return Concat(left, right, span=e.span), joined
        if not (T.is_numeric(lt) and T.is_numeric(rt)):
            hint = []
            if "list" in (lt.kind, rt.kind) and e.op == "+":
                hint = ["`+` joins two lists; to add one item, write it as a list: `xs + [x]`"]
            if {lt.kind, rt.kind} & {"date", "month"}:
                hint = ["use months_between(a, b), days_between(a, b) or add_months(m, n) for dates"]
            self.err("E300", f"`{e.op}` needs numbers, got {lt} and {rt}", e.span, hint)
            return out, T.ANY
        kind = "decimal" if e.op == "/" or "decimal" in (lt.kind, rt.kind) else "int"
        if "any" in (lt.kind, rt.kind):
            kind = "any"
        return out, T.Type(kind, optional=lt.optional or rt.optional or e.op == "/")

    def x_Compare(self, e: ast.Compare, scope):
        left, lt = self.expr(e.left, scope)
        right, rt = self.expr(e.right, scope)
        out = attrs.evolve(e, left=left, right=right)
        if not T.comparable(lt, rt):
            hints = []
            if {lt.kind, rt.kind} == {"string", "date"} or {lt.kind, rt.kind} == {"string", "month"}:
                hints.append("write dates without quotes: 2026-01-01")
            if {lt.kind, rt.kind} == {"date", "month"}:
                hints.append("use month_of(date) to compare a date with a month")
            quoted = quoted_number(e.right if rt.kind == "string" else e.left)
            if quoted is not None and (T.is_numeric(lt) or T.is_numeric(rt)):
                side = e.right if rt.kind == "string" else e.left
                hints.append(f"`{text_of(side)}` is text because of its quotes; to compare numbers, "
                             f"drop the quotes: `{quoted}`")
            self.err("E300", f"cannot compare {lt} with {rt}", e.span, hints)
        elif lt.kind == "bool" and e.op not in {"==", "!="}:
            self.err("E300", f"`{e.op}` does not order true/false", e.span)
        self._check_values(e.left, lt, e.right)
        self._check_values(e.right, rt, e.left)
        return out, T.BOOL

    def _check_values(self, field_expr, ftype, other):
        """A string literal compared with an enum field or a code field must be a known value."""
        values = [other] if isinstance(other, ast.Literal) else (
            list(other.items) if isinstance(other, ast.ListLit) else [])
        for lit in values:
            if not (isinstance(lit, ast.Literal) and lit.kind == "string"):
                continue
            if ftype.enum is not None and lit.value not in ftype.enum:
                self.err("E305", f"`{text_of(field_expr)}` is never \"{lit.value}\"", lit.span,
                         did_you_mean(lit.value, ftype.enum) or
                         (f"its values: {', '.join(map(str, ftype.enum))}",))
            elif (isinstance(field_expr, ast.Field) and field_expr.name == self.cfg.shape.line_code
                  and self.codes and lit.value not in self.codes):
                self.err("E202", f"unknown code \"{lit.value}\"", lit.span,
                         did_you_mean(lit.value, self.codes) or ("declare it with `code`",))

    def x_In(self, e: ast.In, scope):
        left, lt = self.expr(e.left, scope)
        right, rt = self.expr(e.right, scope)
        out = attrs.evolve(e, left=left, right=right)
        if rt.kind not in {"list", "set", "any"}:
            self.err("E302", f"`in` needs a set or a list on its right, got {rt}", e.right.span)
        elif rt.item is not None and not T.comparable(lt, rt.item):
            self.err("E300", f"cannot look for {a_type(lt)} in a {rt}", e.span)
        self._check_values(e.left, lt, e.right)
        return out, T.BOOL

    def x_If(self, e: ast.If, scope):
        cond = self.cond(e.cond, scope, "condition of `if`")
        then, tt = self.expr(e.then, scope)
        else_, et = self.expr(e.else_, scope)
        out = attrs.evolve(e, cond=cond, then=then, else_=else_)
        joined = one_type(tt, et)
        if joined is None:
            self.err("E300", f"the branches of `if` differ: {tt} and {et}", e.span,
                     ["both branches of `if ... then ... else ...` give one type"])
            return out, T.ANY
        return out, joined

    def x_And(self, e: ast.And, scope):
        return attrs.evolve(e, items=tuple(self.cond(i, scope, "operand of `and`") for i in e.items)), T.BOOL

    def x_Or(self, e: ast.Or, scope):
        return attrs.evolve(e, items=tuple(self.cond(i, scope, "operand of `or`") for i in e.items)), T.BOOL

    def x_Call(self, e: ast.Call, scope):
        args, types = [], []
        for a in e.args:
            x, t = self.expr(a, scope)
            args.append(x)
            types.append(t)
        out = attrs.evolve(e, args=tuple(args))
        defn = getattr(self, "defs", {}).get(e.func)
        if defn is not None:
            return self._apply(e, defn, tuple(args), types, scope)
        if e.func in QUANTIFIERS or e.func in FOLDS:
            if e.func in ("min", "max") and len(args) >= 2:
                pass
            else:
                form = f"{e.func}(x in list where ...)" if e.func in QUANTIFIERS else f"{e.func}(value for x in list)"
                self.err("E304", f"`{e.func}` is written `{form}`", e.span)
                return out, T.ANY
        spec = B.CALLS.get(e.func)
        if spec is None:
            self.err("E206", f"unknown function `{e.func}`", e.span,
                     did_you_mean(e.func, FUNCTION_NAMES) or (f"functions: {', '.join(FUNCTION_NAMES)}",))
            return out, T.ANY
        lo, hi = spec.arity
        if not lo <= len(args) <= hi:
            n = f"{lo}" if lo == hi else f"{lo} or more"
            self.err("E304", f"`{e.func}` takes {n} argument(s), got {len(args)}", e.span)
            return out, T.ANY
        result = spec.typing(types)
        if result is None:
            self.err("E304", f"`{e.func}` cannot take {', '.join(str(t) for t in types)}", e.span)
            return out, T.ANY
        return out, result

    def _apply(self, e: ast.Call, defn, args: tuple, types: list, scope):
        """A call of a definition: its arguments checked against its declared parameters."""
        from rulecite.policy_lang.check.definitions import accepts

        self.used.add(("def", defn.name))
        out = Apply(defn.name, args, defn.type, defn.depth, span=e.span)
        if defn.name in getattr(self, "bad_defs", ()):
            return out, T.ANY
        sig = defn.signature or ", ".join(f"{n}: {t}" for n, t in defn.params)
        if len(args) != len(defn.params):
            n = len(defn.params)
            self.err("E307", f"definition `{defn.name}` takes {n} argument{'s' if n != 1 else ''} ({sig}), "
                     f"got {len(args)}", e.span, [f"`{defn.name}` is defined at {defn.span}"])
            return out, defn.type
        for (pname, pt), at, a in zip(defn.params, types, e.args):
            if not accepts(pt, at):
                declared = dict(p.split(": ", 1) for p in sig.split(", ") if ": " in p).get(pname)
                wanted = f"`{declared}`" if declared else a_type(pt)
                self.err("E307", f"definition `{defn.name}` takes {wanted} as `{pname}`, got {self._arg_type(at)} "
                         f"(`{text_of(a)}`)", a.span, [f"`{defn.name}({sig})` is defined at {defn.span}"])
        total = scope.depth + defn.depth
        if defn.depth and total > self.max_depth:
            self.err("E306", f"quantifiers nest {total} deep through definition `{defn.name}` ({defn.depth} "
                     f"inside it, called {scope.depth} deep); the limit is {self.max_depth}", e.span,
                     [f"a definition counts its quantifiers where it is called; call `{defn.name}` outside "
                      "the quantifiers around this call when it does not use their items"])
        return out, defn.type

    def _arg_type(self, t: T.Type) -> str:
        """``a_type``, but a line of the record says so (to the type checker both a line and
        a record are records, and "takes `record`, got a record" names no mistake)."""
        line_t = getattr(self, "line_type", None)
        if t.kind == "record" and line_t is not None and line_t.kind == "record" \
                and t.field_names == line_t.field_names and t.field_names != self.record_type.field_names:
            return f"a line of `{self.cfg.shape.lines}`"
        return a_type(t)

    def _iter_scope(self, var, source, scope, span):
        src, st = self.expr(source, scope)
        if st.kind not in {"list", "any"}:
            self.err("E302", f"`{text_of(source)}` is {a_type(st)}, not a list", source.span)
        if var in RESERVED:
            self.err("E110", f"`{var}` is a word of the expression syntax and cannot name a variable", span,
                     ["choose another variable name"])
        elif var in scope.names and scope.names[var].kind != "fact":
            self.err("E211", f"`{var}` hides a name that is already in scope", span,
                     ["choose another variable name"])
        elif var in scope.names:
            self.err("E211", f"`{var}` hides the fact field `{var}`", span, ["choose another variable name"])
        inner = scope.child(depth=scope.depth + 1)
        if inner.depth > self.max_depth:
            self.err("E306", f"quantifiers nest {inner.depth} deep; the limit is {self.max_depth}", span,
                     ["test the inner part outside the outer quantifier when it does not use its item (a "
                      "`let` counts where it is used)"])
        item = st.item if st.kind == "list" and st.item else T.ANY
        inner.names[var] = Ref("var", var, item)
        return src, inner

    def x_Quant(self, e: ast.Quant, scope):
        if e.func not in QUANTIFIERS:
            hint = did_you_mean(e.func, QUANTIFIERS)
            if e.func in FOLDS:
                hint = (f"write `{e.func}(value for {e.var} in ...)`",)
            self.err("E206", f"`{e.func}(x in list ...)` is not a quantifier", e.span, hint)
        src, inner = self._iter_scope(e.var, e.source, scope, e.span)
        where = self.cond(e.where, inner, "`where` condition") if e.where is not None else None
        return attrs.evolve(e, source=src, where=where), B.QUANTIFIERS.get(e.func, B.QUANTIFIERS["any"]).typing(())

    def x_Fold(self, e: ast.Fold, scope):
        if e.func not in FOLDS:
            self.err("E206", f"`{e.func}(value for x in list)` is not an aggregate", e.span,
                     did_you_mean(e.func, FOLDS) or (f"aggregates: {', '.join(sorted(FOLDS))}",))
        src, inner = self._iter_scope(e.var, e.source, scope, e.span)
        value, vt = self.expr(e.value, inner)
        where = self.cond(e.where, inner, "`where` condition") if e.where is not None else None
        out = attrs.evolve(e, value=value, source=src, where=where)
        if e.func == "sum" and not T.is_numeric(vt):
            self.err("E300", f"`sum` adds numbers, not {vt}", e.value.span)
        # an unknown aggregate (reported above) is typed as `collect`, as it always was
        return out, B.AGGREGATES.get(e.func, B.AGGREGATES["collect"]).typing((vt,))

    def template(self, tpl, scope):
        if tpl is None:
            return None
        parts = []
        for p in tpl.parts:
            parts.append(p if isinstance(p, str) else self.expr(p, scope)[0])
        return attrs.evolve(tpl, parts=tuple(parts))



def one_type(a: T.Type, b: T.Type) -> T.Type | None:
    """The type of a value that is either an ``a`` or a ``b`` (the two branches of an `if`),
    or None when they are not one type."""
    if a.kind == "any":
        return b
    if b.kind == "any":
        return a
    if a.kind == "list" and b.kind == "list":
        item = one_type(a.item or T.ANY, b.item or T.ANY)
        return None if item is None else T.Type("list", item=item, optional=False)
    if a.kind == "record" and b.kind == "record":
        return attrs.evolve(a, optional=a.optional or b.optional) if a.field_names == b.field_names else None
    if a.kind == b.kind or (a.kind in T.NUMERIC and b.kind in T.NUMERIC):
        return T.join(a, b)
    return None


def quoted_number(e) -> str | None:
    """The number a string literal spells (``"10"`` -> ``10``), or None."""
    if not (isinstance(e, ast.Literal) and e.kind == "string"):
        return None
    v = e.value.strip()
    try:
        float(v)
    except ValueError:
        return None
    return v if v and all(ch.isdigit() or ch in ".-" for ch in v) else None


def a_type(t: T.Type) -> str:
    s = str(t)
    return ("an " if s[0] in "aeiou" else "a ") + s


def text_of(e) -> str:
    from rulecite.policy_lang.syntax.formatter import format_expr

    try:
        return format_expr(e)
    except Exception:  # noqa: BLE001 - only for messages
        return "expression"
