"""Check parsed modules into a resolved, typed ``Pack`` model, or report every error.

Takes the pack's parsed modules, its configuration (from ``pack.toml``), its facts
schema and, for an extending pack, the checked parent; gives ``(Pack | None,
[Diagnostic])``. The checker runs as an ordered table of stages (``STAGES``), each
reading what earlier stages resolved and adding diagnostics; it never stops at the
first error. Expressions come out with every name replaced by a ``model.Ref``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import ChainMap
from pathlib import Path

import attrs

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang import types as T
from rulecite.policy_lang.errors import Diagnostic, did_you_mean
from rulecite.policy_lang.model import (
    Citation, Code, CodeSet, Derived, Dispute, Pack, PackTest, RecordShape, Ref, Retirement, Rule,
    Source, Suggestion, Window,
)

BUILTIN_RULES = ("catalog.window", "catalog.unknown-code")
QUANTIFIERS = {"any", "all", "count"}
FOLDS = {"sum", "min", "max", "count_distinct", "collect"}
DEFAULT_MAX_DEPTH = 4
RESERVED = frozenset({"and", "or", "not", "in", "true", "false", "where", "for"})


def _fn_table():
    def numeric(args, ck, span):
        for a in args:
            if not T.is_numeric(a):
                return None
        return T.Type("int" if all(a.kind == "int" for a in args) else "decimal",
                      optional=any(a.optional for a in args))

    def to_int(args, ck, span):
        if not T.is_numeric(args[0]):
            return None
        return T.Type("int", optional=args[0].optional)

    def kinds(*allowed, result):
        def f(args, ck, span):
            for a, ok in zip(args, allowed):
                if a.kind != "any" and a.kind not in ok:
                    return None
            r = result(args) if callable(result) else result
            return attrs.evolve(r, optional=any(a.optional for a in args))
        return f

    def minmax(args, ck, span):
        t = args[0]
        for a in args[1:]:
            if not T.comparable(t, a):
                return None
            t = T.join(t, a)
        return t

    def default(args, ck, span):
        a, b = args
        if not T.comparable(a, b) and a.kind != b.kind:
            return None
        return attrs.evolve(T.join(a, b), optional=b.optional)

    dm = {"date", "month"}
    return {
        "present": (1, 1, lambda args, ck, span: T.BOOL),
        "default": (2, 2, default),
        "len": (1, 1, lambda args, ck, span: T.INT if args[0].kind in {"list", "set", "string", "any"} else None),
        "min": (2, 99, minmax),
        "max": (2, 99, minmax),
        "floor": (1, 1, to_int),
        "ceil": (1, 1, to_int),
        "round": (1, 1, to_int),
        "abs": (1, 1, numeric),
        "month_of": (1, 1, kinds({"date", "month"}, result=T.MONTH)),
        "year_of": (1, 1, kinds(dm, result=T.INT)),
        "months_between": (2, 2, kinds(dm, dm, result=T.INT)),
        "days_between": (2, 2, kinds({"date"}, {"date"}, result=T.INT)),
        "add_months": (2, 2, kinds(dm, {"int"}, result=T.MONTH)),
        "add_days": (2, 2, kinds({"date"}, {"int"}, result=T.DATE)),
        "first_day": (1, 1, kinds({"month", "date"}, result=T.DATE)),
        "last_day": (1, 1, kinds({"month", "date"}, result=T.DATE)),
        "starts_with": (2, 2, kinds({"string"}, {"string"}, result=T.BOOL)),
        "program_of": (1, 1, lambda args, ck, span: T.Type("string") if args[0].kind in {"string", "any"} else None),
        "lower": (1, 1, kinds({"string"}, result=T.STRING)),
        "upper": (1, 1, kinds({"string"}, result=T.STRING)),
    }


FUNCTIONS = _fn_table()
FUNCTION_NAMES = sorted(set(FUNCTIONS) | QUANTIFIERS | FOLDS)


def nesting(e, let_depth: dict) -> int:
    """How deep quantifiers and aggregates nest in a checked expression, counting a `let`
    it reads (``let_depth``: name -> nesting inside that let) where it is read."""
    if isinstance(e, Ref):
        return let_depth.get(e.name, 0) if e.kind == "let" else 0
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
class PackConfig:
    name: str
    version: str
    title: str
    language: str
    coverage: Window
    shape: RecordShape
    unknown_codes: str
    root: str
    explicit: dict = attrs.field(factory=dict)
    # How the checker reads a test facts file: the loader's ``PackFiles.read`` (regular
    # files inside the pack folder, capped), or None to read nothing from disk.
    read_file: object = attrs.field(default=None, eq=False, repr=False)


@attrs.define
class _Scope:
    names: dict
    depth: int = 0
    line_var: str | None = None

    def child(self, **extra) -> "_Scope":
        # A layer over the parent's names, not a copy: a pack with thousands of derived
        # values must not copy them all into every quantifier's scope.
        s = _Scope(ChainMap({}, self.names), self.depth, self.line_var)
        for k, v in extra.items():
            setattr(s, k, v)
        return s


class Checker:
    def __init__(self, modules, config: PackConfig, schema: dict, parent: Pack | None,
                 texts: dict, max_depth: int = DEFAULT_MAX_DEPTH):
        self.modules = modules
        self.cfg = config
        self.schema = schema
        self.parent = parent
        self.texts = texts
        self.max_depth = max_depth
        self.diags: list[Diagnostic] = []
        self.record_type = T.from_schema(schema, required=True)
        lines_t = self.record_type.field(config.shape.lines)
        self.line_type = lines_t.item if lines_t and lines_t.kind == "list" and lines_t.item else T.ANY
        self.used: set = set()
        self._line_cache: dict = {}
        self._fixed_names: dict | None = None  # facts, history and sets: the scope under every let
        self._let_names: dict | None = None  # Refs of self.derived, once the lets are checked
        # How deep quantifiers nest inside each `let` (counting through the lets it reads):
        # a `let` counts where it is used, so nesting cannot hide behind one.
        self.let_depth: dict = {}
        self._local_depth: dict = {}  # the same for the rule-local lets of the rule being checked
        self._deep_lets: set = set()  # lets already past the bound in their own definition

    # ------------------------------------------------------------ helpers
    def _lines(self, file) -> list:
        """The lines of a pack file, split once (a pack may hold thousands of rules)."""
        if file not in self._line_cache:
            # split as the lexer counts lines (at \n only: a string may hold \u2028)
            self._line_cache[file] = [ln.removesuffix("\r") for ln in self.texts.get(file, "").split("\n")]
        return self._line_cache[file]

    def err(self, code, msg, span, hints=(), severity="error"):
        self.diags.append(Diagnostic(code, msg, span, tuple(hints), severity))

    def decls(self, kind):
        for m in self.modules:
            for d in m.decls:
                if isinstance(d, kind):
                    yield m, d

    # ------------------------------------------------------------ stages
    def run(self):
        self.sources = self.stage_sources()
        self.codes = self.stage_codes()
        self.sets = self.stage_sets()
        self.derived = self.stage_lets()
        retirements = self.stage_retirements()
        rules = self.stage_rules(retirements)
        suggestions = self.stage_suggestions()
        tests = self.stage_tests(rules)
        self.stage_unused()
        if any(d.severity == "error" for d in self.diags):
            return None
        p = self.parent
        return Pack(
            name=self.cfg.name, version=self.cfg.version, title=self.cfg.title, language=self.cfg.language,
            extends=((p.name,) + p.extends) if p else (), coverage=self.cfg.coverage, shape=self.cfg.shape,
            unknown_codes=self.cfg.unknown_codes, schema=self.schema, record_type=self.record_type,
            sources=tuple(sorted(self.sources.values(), key=lambda s: s.name)),
            codes=tuple(sorted(self.codes.values(), key=lambda c: c.name)),
            sets=tuple(sorted(self.sets.values(), key=lambda s: s.name)),
            derived=tuple(self.derived.values()),
            rules=tuple(rules), retirements=tuple(retirements),
            suggestions=tuple(suggestions), tests=tuple(tests), root=self.cfg.root,
            warnings=tuple(d for d in self.diags if d.severity == "warning"),
        )

    def _unique(self, kind, items, inherited):
        seen: dict = {}
        for m, d in items:
            name = d.name
            if name in seen or name in inherited:
                where = seen[name].span if name in seen else inherited[name].span
                self.err("E207", f"{kind} `{name}` is declared twice (first at {where})", d.span,
                         [f"rename one {kind}, or remove the duplicate"])
                continue
            seen[name] = d
        return seen

    def stage_sources(self) -> dict:
        out = dict(_by_name(self.parent.sources)) if self.parent else {}
        for name, d in self._unique("source", self.decls(ast.SourceDecl), out).items():
            if not d.title:
                self.err("E108", f"source `{name}` needs a `title`", d.span)
            if not (d.citation or d.url):
                self.err("E108", f"source `{name}` needs a `citation` or a `url`", d.span,
                         ["give the Federal Register citation, e.g. `citation \"90 FR 49266\"`"])
            out[name] = Source(name, d.title or name, d.citation, d.document, d.published, d.effective, d.url,
                               d.kind, d.note, self.cfg.name, d.span)
        return out

    def citations(self, cites, span) -> tuple:
        out = []
        for c in cites:
            src = self.sources.get(c.source)
            if src is None:
                self.err("E204", f"unknown source `{c.source}`", c.span, did_you_mean(c.source, self.sources))
                continue
            self.used.add(("source", src.name))
            out.append(Citation(src, c.section, c.page, c.quote))
        return tuple(out)

    def stage_codes(self) -> dict:
        out = dict(_by_name(self.parent.codes)) if self.parent else {}
        decls = self._unique("code", self.decls(ast.CodeDecl), out)
        for name, d in decls.items():
            w = Window(d.effective, d.until)
            if w.empty:
                self.err("E400", f"code `{name}` ends ({d.until}) before it starts ({d.effective})", d.span)
            out[name] = Code(name, d.description, d.program, w, d.replaced_by, self.citations(d.citations, d.span),
                             d.note, self.cfg.name, d.span)
        for name, d in decls.items():
            for r in d.replaced_by:
                if r not in out:
                    self.err("E202", f"code `{name}` is replaced by unknown code `{r}`", d.span,
                             did_you_mean(r, out))
        return out

    def stage_sets(self) -> dict:
        out = dict(_by_name(self.parent.sets)) if self.parent else {}
        decls = self._unique("set", self.decls(ast.SetDecl), out)
        resolving: set = set()

        def resolve(name) -> tuple:
            if name in out:
                return out[name].members
            d = decls[name]
            if name in resolving:
                self.err("E210", f"set `{name}` includes itself", d.span)
                return ()
            resolving.add(name)
            members: set = set()
            for m in d.members:
                if m.name in decls or m.name in out:
                    self.used.add(("set", m.name))
                    members.update(resolve(m.name))
                elif m.name in self.codes:
                    members.add(m.name)
                else:
                    self.err("E203", f"set `{name}` names unknown code or set `{m.name}`", m.span,
                             did_you_mean(m.name, list(self.codes) + list(decls) + list(out)))
            resolving.discard(name)
            out[name] = CodeSet(name, tuple(sorted(members)), d.title, self.cfg.name, d.span)
            return out[name].members

        for name in decls:
            resolve(name)
        return out

    def stage_lets(self) -> dict:
        inherited = {d.name: d for d in self.parent.derived} if self.parent else {}
        decls = self._unique("derived value", self.decls(ast.LetDecl), inherited)
        out: dict = dict(inherited)
        let_names = {n: Ref("let", n, dv.type) for n, dv in out.items()}  # grows as lets are checked
        for n, dv in inherited.items():  # the parent's lets come in dependency order
            self.let_depth[n] = nesting(dv.expr, self.let_depth)
        state: dict = {}
        order: list = []

        def visit(name):
            if name in out and name not in decls:
                return
            if state.get(name) == "done":
                return
            d = decls[name]
            if state.get(name) == "active":
                self.err("E210", f"derived value `{name}` depends on itself", d.span,
                         ["a `let` cannot use itself, directly or through other lets"])
                out[name] = Derived(name, ast.Literal("int", 0), T.ANY, d.span)
                let_names[name] = Ref("let", name, T.ANY)
                return
            state[name] = "active"
            deps = sorted({n.name for n in ast.walk(d.expr) if isinstance(n, ast.Name) and n.name in decls})
            for dep in deps:
                visit(dep)
            if state.get(name) == "done":
                return
            self._check_shadow(name, d.span, top=True)
            expr, t = self.expr(d.expr, self.base_scope(let_names))
            self._note_let_depth(self.let_depth, name, expr)
            out[name] = Derived(name, expr, t, d.span, tuple(deps))
            let_names[name] = Ref("let", name, t)
            state[name] = "done"
            order.append(name)

        for name in decls:
            visit(name)
        return {**inherited, **{n: out[n] for n in order}}

    def base_scope(self, let_names: dict | None = None) -> _Scope:
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
            self._fixed_names = names
        if let_names is None:
            if self._let_names is None:
                self._let_names = {n: Ref("let", n, dv.type) for n, dv in self.derived.items()}
            let_names = self._let_names
        return _Scope(ChainMap({}, let_names, self._fixed_names))

    def _check_shadow(self, name, span, top=False):
        if name in RESERVED:
            self.err("E110", f"`{name}` is a word of the expression syntax and cannot name a value", span,
                     ["choose another name"])
            return
        taken = set(self.record_type.field_names) | set(self.sets) | {"history", "service_date"}
        if not top:
            taken |= set(self.derived)
        if name in taken:
            self.err("E211", f"`{name}` hides a name that is already in scope", span,
                     ["choose another name for the variable or derived value"])

    # ------------------------------------------------------------ expressions
    def expr(self, e, scope: _Scope):
        """Check one expression: returns (expression with Refs, Type)."""
        method = getattr(self, "x_" + type(e).__name__)
        return method(e, scope)

    def cond(self, e, scope: _Scope, what="condition"):
        x, t = self.expr(e, scope)
        if t.kind not in {"bool", "any"}:
            self.err("E301", f"this {what} is {_a(t)}, not true/false", e.span,
                     ["compare it with something, e.g. `x > 0`, or use `present(x)`"])
        return x

    def x_Name(self, e: ast.Name, scope):
        ref = scope.names.get(e.name)
        if ref is None:
            if e.name in FUNCTIONS:
                self.err("E200", f"`{e.name}` is a function; call it as `{e.name}(...)`", e.span)
            else:
                self.err("E200", f"unknown name `{e.name}`", e.span, did_you_mean(e.name, scope.names))
            return e, T.ANY
        if ref.kind in {"let", "set"}:
            self.used.add((ref.kind, e.name))
        if ref.kind == "let":
            self._check_let_depth(e, scope)
        return attrs.evolve(ref, span=e.span), ref.type

    def _note_let_depth(self, table: dict, name: str, expr):
        table[name] = nesting(expr, {**self.let_depth, **self._local_depth})
        if table[name] > self.max_depth:
            self._deep_lets.add(name)  # reported inside it; its uses need not say it again

    def _check_let_depth(self, e: ast.Name, scope):
        inside = self._local_depth.get(e.name, self.let_depth.get(e.name, 0))
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
            self.err("E303", f"`{_text(e.obj)}` is a list; `.{e.name}` needs one item of it", e.span,
                     [f"use a quantifier, e.g. `any(x in {_text(e.obj)} where x.{e.name} ...)`"])
            return out, T.ANY
        if t.kind != "record":
            self.err("E303", f"`{_text(e.obj)}` is {_a(t)} and has no field `{e.name}`", e.span)
            return out, T.ANY
        ft = t.field(e.name)
        if ft is None:
            self.err("E201", f"unknown field `{e.name}` of `{_text(e.obj)}`", e.span,
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
            self.err("E300", f"cannot negate {_a(t)}", e.span)
        return attrs.evolve(e, operand=x), t

    def x_BinOp(self, e: ast.BinOp, scope):
        left, lt = self.expr(e.left, scope)
        right, rt = self.expr(e.right, scope)
        out = attrs.evolve(e, left=left, right=right)
        if not (T.is_numeric(lt) and T.is_numeric(rt)):
            hint = []
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
                self.err("E305", f"`{_text(field_expr)}` is never \"{lit.value}\"", lit.span,
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
            self.err("E300", f"cannot look for {_a(lt)} in a {rt}", e.span)
        self._check_values(e.left, lt, e.right)
        return out, T.BOOL

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
        if e.func in QUANTIFIERS or e.func in FOLDS:
            if e.func in ("min", "max") and len(args) >= 2:
                pass
            else:
                form = f"{e.func}(x in list where ...)" if e.func in QUANTIFIERS else f"{e.func}(value for x in list)"
                self.err("E304", f"`{e.func}` is written `{form}`", e.span)
                return out, T.ANY
        spec = FUNCTIONS.get(e.func)
        if spec is None:
            self.err("E206", f"unknown function `{e.func}`", e.span,
                     did_you_mean(e.func, FUNCTION_NAMES) or (f"functions: {', '.join(FUNCTION_NAMES)}",))
            return out, T.ANY
        lo, hi, typer = spec
        if not lo <= len(args) <= hi:
            n = f"{lo}" if lo == hi else f"{lo} or more"
            self.err("E304", f"`{e.func}` takes {n} argument(s), got {len(args)}", e.span)
            return out, T.ANY
        result = typer(types, self, e.span)
        if result is None:
            self.err("E304", f"`{e.func}` cannot take {', '.join(str(t) for t in types)}", e.span)
            return out, T.ANY
        return out, result

    def _iter_scope(self, var, source, scope, span):
        src, st = self.expr(source, scope)
        if st.kind not in {"list", "any"}:
            self.err("E302", f"`{_text(source)}` is {_a(st)}, not a list", source.span)
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
        return attrs.evolve(e, source=src, where=where), (T.INT if e.func == "count" else T.BOOL)

    def x_Fold(self, e: ast.Fold, scope):
        if e.func not in FOLDS:
            self.err("E206", f"`{e.func}(value for x in list)` is not an aggregate", e.span,
                     did_you_mean(e.func, FOLDS) or (f"aggregates: {', '.join(sorted(FOLDS))}",))
        src, inner = self._iter_scope(e.var, e.source, scope, e.span)
        value, vt = self.expr(e.value, inner)
        where = self.cond(e.where, inner, "`where` condition") if e.where is not None else None
        out = attrs.evolve(e, value=value, source=src, where=where)
        if e.func == "sum":
            if not T.is_numeric(vt):
                self.err("E300", f"`sum` adds numbers, not {vt}", e.value.span)
            return out, T.Type("decimal" if vt.kind == "decimal" else "int", optional=False)
        if e.func in ("min", "max"):
            return out, attrs.evolve(vt, optional=True)
        if e.func == "count_distinct":
            return out, T.INT
        return out, T.Type("list", item=attrs.evolve(vt, optional=False), optional=False)

    def template(self, tpl, scope):
        if tpl is None:
            return None
        parts = []
        for p in tpl.parts:
            parts.append(p if isinstance(p, str) else self.expr(p, scope)[0])
        return attrs.evolve(tpl, parts=tuple(parts))

    # ------------------------------------------------------------ rules
    def scope_for(self, scope_decl, span, what):
        base = self.base_scope()
        if scope_decl is None:
            self.err("E108", f"{what} needs `for line in {self.cfg.shape.lines} where ...` or `for record`", span)
            return base, "record", None, None
        if isinstance(scope_decl, ast.RecordScope):
            where = self.cond(scope_decl.where, base, "`where` condition") if scope_decl.where else None
            return base, "record", None, where
        if scope_decl.source != self.cfg.shape.lines:
            self.err("E212", f"{what} iterates over `{scope_decl.source}`; verdicts attach to "
                     f"`{self.cfg.shape.lines}`", scope_decl.span,
                     [f"write `for {scope_decl.var} in {self.cfg.shape.lines} where ...`"])
        self._check_shadow(scope_decl.var, scope_decl.span)
        inner = base.child(line_var=scope_decl.var)
        inner.names[scope_decl.var] = Ref("var", scope_decl.var, self.line_type)
        inner.names["service_date"] = Ref("special", "service_date", T.DATE)
        where = self.cond(scope_decl.where, inner, "`where` condition") if scope_decl.where else None
        return inner, "line", scope_decl.var, where

    def codes_of(self, where, var) -> tuple | None:
        """Codes a line must have for ``where`` to hold (None: any code)."""
        code_field = self.cfg.shape.line_code

        def is_code(x):
            return (isinstance(x, ast.Field) and x.name == code_field and isinstance(x.obj, Ref)
                    and x.obj.name == var)

        def go(x):
            if isinstance(x, ast.In) and not x.negated and is_code(x.left):
                if isinstance(x.right, Ref) and x.right.kind == "set":
                    return set(self.sets[x.right.name].members) if x.right.name in self.sets else None
                if isinstance(x.right, ast.ListLit) and all(
                        isinstance(i, ast.Literal) and i.kind == "string" for i in x.right.items):
                    return {i.value for i in x.right.items}
            if isinstance(x, ast.Compare) and x.op == "==":
                for a, b in ((x.left, x.right), (x.right, x.left)):
                    if is_code(a) and isinstance(b, ast.Literal) and b.kind == "string":
                        return {b.value}
            if isinstance(x, ast.And):
                found = [c for c in (go(i) for i in x.items) if c is not None]
                if found:
                    return set.intersection(*found)
            if isinstance(x, ast.Or):
                found = [go(i) for i in x.items]
                if all(c is not None for c in found):
                    return set().union(*found)
            return None

        if var is None or where is None:
            return None
        got = go(where)
        return tuple(sorted(got)) if got is not None else None

    def stage_retirements(self) -> list:
        out = list(self.parent.retirements) if self.parent else []
        for m, d in self.decls(ast.RetireDecl):
            if d.from_date is None:
                self.err("E108", f"retire `{d.rule_id}` needs `from DATE`", d.span)
                continue
            if not d.citations:
                self.err("E108", f"retire `{d.rule_id}` needs a `cite`", d.span,
                         ["say which source ended the rule"])
            out.append(Retirement(d.rule_id, d.from_date, self.citations(d.citations, d.span), d.reason, d.span))
        return out

    def stage_rules(self, retirements) -> list:
        parent_rules = list(self.parent.rules) if self.parent else []
        parent_ids = {r.id for r in parent_rules}
        mine: list = []
        overridden: set = set()
        for m, d in self.decls(ast.RuleDecl):
            if d.id in BUILTIN_RULES:
                self.err("E207", f"`{d.id}` is a built-in rule id", d.span)
            if d.id in parent_ids and not d.override:
                self.err("E208", f"rule `{d.id}` is inherited from `{self.parent.name}`", d.span,
                         [f"write `override rule {d.id} {{ ... }}` to replace it, or choose a new id"])
            if d.override:
                if d.id not in parent_ids:
                    self.err("E209", f"`override rule {d.id}`, but no extended pack has rule `{d.id}`", d.span,
                             did_you_mean(d.id, parent_ids) or ("remove `override`",))
                overridden.add(d.id)
            mine.append((m, d))
        rules = [r for r in parent_rules if r.id not in overridden]
        built = [self.rule(m, d) for m, d in mine]
        all_ids = {r.id for r in rules} | {r.id for r in built if r}
        by_id: dict = {}
        for r in rules + [r for r in built if r]:
            by_id.setdefault(r.id, []).append(r)
        # supersede: the old rule ends the day before the new one starts
        for r in [r for r in built if r and r.supersedes]:
            if r.supersedes not in all_ids:
                self.err("E205", f"rule `{r.id}` supersedes unknown rule `{r.supersedes}`", r.span,
                         did_you_mean(r.supersedes, all_ids))
                continue
            start = r.window.start
            if start is None:
                self.err("E108", f"rule `{r.id}` supersedes `{r.supersedes}` and needs an `effective` date",
                         r.span)
                continue
            by_id[r.supersedes] = [self._clip(o, start, r.span, superseded_by=r.id)
                                   for o in by_id[r.supersedes]]
        for ret in retirements:
            if ret.rule_id not in by_id:
                self.err("E205", f"retire of unknown rule `{ret.rule_id}`", ret.span,
                         did_you_mean(ret.rule_id, all_ids))
                continue
            by_id[ret.rule_id] = [self._clip(o, ret.from_date, ret.span, retired=ret) for o in by_id[ret.rule_id]]
        out = []
        for rid in sorted(by_id):
            versions = sorted(by_id[rid], key=lambda r: (r.window.start or _dt.date.min))
            for a, b in zip(versions, versions[1:]):
                if a.window.overlaps(b.window):
                    self.err("E401", f"two versions of rule `{rid}` are both in force "
                             f"({a.window} and {b.window})", b.span,
                             ["give the earlier version an `until` date, or use `supersedes`"])
            out.extend(attrs.evolve(r, version=i + 1) for i, r in enumerate(versions))
        return out

    def _clip(self, rule: Rule, start: _dt.date, span, superseded_by=None, retired=None) -> Rule:
        end = start - _dt.timedelta(days=1)
        if rule.window.end is not None and rule.window.end <= end:
            return rule
        if rule.window.start is not None and rule.window.start > end:
            self.err("E403", f"rule `{rule.id}` starts {rule.window.start}, on or after the date that ends it "
                     f"({start})", span, ["the ending date must come after the rule's `effective` date"])
            return rule
        changes = {"window": Window(rule.window.start, end)}
        if superseded_by:
            changes["superseded_by"] = superseded_by
        if retired:
            changes["retired"] = retired
        return attrs.evolve(rule, **changes)

    def rule(self, m, d: ast.RuleDecl) -> Rule | None:
        what = f"rule `{d.id}`"
        for key in ("title", "message"):
            if getattr(d, key) is None:
                self.err("E108", f"{what} needs a `{key}`", d.span)
        if d.condition is None:
            self.err("E108", f"{what} needs a verdict: `deny when ...`, `deny unless ...`, `warn ...` or `info ...`",
                     d.span)
        if not d.citations:
            self.err("E108", f"{what} needs at least one `cite`", d.span,
                     ["every rule cites a declared source: `cite SOURCE section \"...\"`"])
        w = Window(d.effective, d.until)
        if w.empty:
            self.err("E400", f"{what} ends ({d.until}) before it starts ({d.effective})", d.span)
        elif not w.overlaps(self.cfg.coverage):
            self.err("E404", f"{what} is in force {w}, wholly outside the pack's coverage {self.cfg.coverage}",
                     d.span)
        scope, kind, var, where = self.scope_for(d.scope, d.span, what)
        lets = []
        self._local_depth = {}
        for lt in d.lets:
            self._check_shadow(lt.name, lt.span)
            if lt.name in scope.names and scope.names[lt.name].kind in {"let", "var"}:
                self.err("E211", f"`{lt.name}` hides a name that is already in scope", lt.span)
            x, t = self.expr(lt.expr, scope)
            self._note_let_depth(self._local_depth, lt.name, x)
            scope.names[lt.name] = Ref("let", lt.name, t)
            lets.append(Derived(lt.name, x, t, lt.span))
        condition = self.cond(d.condition, scope) if d.condition is not None else None
        message = self.template(d.message, scope)
        suggest = self.template(d.suggest, scope)
        codes = self.codes_of(where, var)
        self._check_code_windows(codes, w, d)
        cites = self.citations(d.citations, d.span)
        disputes = []
        for dp in d.disputes:
            src = None
            if dp.source:
                src = self.sources.get(dp.source)
                if src is None:
                    self.err("E204", f"unknown source `{dp.source}`", dp.span, did_you_mean(dp.source, self.sources))
            disputes.append(Dispute(dp.text, src))
        src_lines = self._lines(m.file)[d.span.line - 1: d.span.end_line] if d.span.line else []
        return Rule(
            id=d.id, version=1, title=d.title or d.id, summary=d.summary, severity=d.severity or "deny",
            window=w, declared_window=w, supersedes=d.supersedes, superseded_by=None, retired=None,
            citations=cites, disputes=tuple(disputes), scope=kind, var=var, where=where, lets=tuple(lets),
            mode=d.mode or "when", condition=condition, message=message, suggest=suggest, tags=d.tags,
            codes=codes, pack=self.cfg.name, file=m.file, source_text="\n".join(src_lines), span=d.span,
        )

    def _check_code_windows(self, codes, window: Window, d):
        if not codes:
            return
        known = [self.codes[c] for c in codes if c in self.codes]
        if known and not any(c.window.overlaps(window) for c in known):
            names = ", ".join(c.name for c in known)
            self.err("E402", f"rule `{d.id}` ({window}) applies to {names}, which {'is' if len(known) == 1 else 'are'}"
                     f" never in force in that window", d.span,
                     [f"{c.name} is in force {c.window}" for c in known[:3]])

    # ------------------------------------------------------------ suggestions
    def stage_suggestions(self) -> list:
        out = list(self.parent.suggestions) if self.parent else []
        seen = {s.id for s in out}
        for m, d in self.decls(ast.SuggestDecl):
            what = f"suggestion `{d.id}`"
            if d.id in seen:
                self.err("E207", f"{what} is declared twice", d.span)
            seen.add(d.id)
            if d.code is None or d.reason is None:
                self.err("E108", f"{what} needs `code` and `reason`", d.span)
            elif self.codes and d.code not in self.codes:
                self.err("E202", f"{what} suggests unknown code `{d.code}`", d.span, did_you_mean(d.code, self.codes))
            w = Window(d.effective, d.until)
            if w.empty:
                self.err("E400", f"{what} ends before it starts", d.span)
            scope, kind, var, where = self.scope_for(d.scope, d.span, what)
            when = self.cond(d.when, scope, "`when` condition") if d.when is not None else None
            units = None
            if d.units is not None:
                units, ut = self.expr(d.units, scope)
                if not T.is_numeric(ut):
                    self.err("E300", f"{what}: `units` must be a number, got {ut}", d.units.span)
            out.append(Suggestion(d.id, d.title, w, kind, var, where, when, d.code or "", units,
                                  self.template(d.reason, scope), self.codes_of(where, var), self.cfg.name, d.span))
        return out

    # ------------------------------------------------------------ tests
    def stage_tests(self, rules) -> list:
        rule_ids = {r.id for r in rules} | set(BUILTIN_RULES)
        out = list(self.parent.tests) if self.parent else []  # each keeps the name of its pack
        seen: dict = {}
        for m, d in self.decls(ast.TestDecl):
            if d.name in seen:
                self.err("E207", f"test \"{d.name}\" is declared twice (first at {seen[d.name]})", d.span)
            seen[d.name] = d.span
            facts = d.facts
            if d.facts_file is not None:
                facts = self._read_facts_file(d)
                if facts is None:
                    continue
            if facts is None:
                self.err("E602", f"test \"{d.name}\" has no `facts`", d.span)
                continue
            records = facts if isinstance(facts, list) else [facts]
            if not records or not all(isinstance(r, dict) for r in records):
                self.err("E602", f"test \"{d.name}\": facts must be a record or a list of records", d.span)
                continue
            lines = records[-1].get(self.cfg.shape.lines)
            line_ids = {ln.get(self.cfg.shape.line_id) for ln in lines if isinstance(ln, dict)} \
                if isinstance(lines, list) else set()
            for x in d.expectations:
                if x.line is not None and x.line not in line_ids:
                    self.err("E600", f"test \"{d.name}\" expects line {x.line}, but its facts have "
                             f"{'lines ' + ', '.join(map(str, sorted(i for i in line_ids if isinstance(i, int)))) if line_ids else 'no lines'}",
                             x.span)
                for rid in x.rules:
                    if rid not in rule_ids:
                        self.err("E601", f"test \"{d.name}\" expects unknown rule `{rid}`", x.span,
                                 did_you_mean(rid, rule_ids))
                if x.code is not None and self.codes and x.code not in self.codes:
                    self.err("E202", f"test \"{d.name}\" expects a suggestion of unknown code `{x.code}`", x.span,
                             did_you_mean(x.code, self.codes))
            out.append(PackTest(d.name, tuple(records), d.as_of, d.expectations, self.cfg.name, m.file, d.span))
        return out

    def _read_facts_file(self, d):
        root = Path(self.cfg.root).resolve()
        path = (root / d.facts_file).resolve()
        if root not in path.parents:
            self.err("E603", f"facts file `{d.facts_file}` is outside the pack folder", d.span)
            return None
        if self.cfg.read_file is None:
            self.err("E603", f"facts file `{d.facts_file}` cannot be read here (no pack folder)", d.span)
            return None
        try:
            text = self.cfg.read_file(path).decode("utf-8")
        except UnicodeDecodeError as e:
            self.err("E603", f"cannot read facts file `{d.facts_file}`: {e.__class__.__name__}", d.span)
            return None
        except OSError as e:  # files.UnsafeFile says why: outside the folder, not a regular file, too large
            self.err("E603", f"facts file `{d.facts_file}` was not read: {e}", d.span)
            return None
        try:
            if path.suffix == ".jsonl":
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            return json.loads(text)
        except ValueError as e:
            self.err("E603", f"facts file `{d.facts_file}` is not JSON: {e}", d.span)
            return None

    def stage_unused(self):
        for m, d in self.decls(ast.SetDecl):
            if ("set", d.name) not in self.used:
                self.err("W701", f"set `{d.name}` is never used", d.span, ["remove it, or use it in a rule"],
                         severity="warning")
        for m, d in self.decls(ast.LetDecl):
            if ("let", d.name) not in self.used:
                self.err("W701", f"derived value `{d.name}` is never used", d.span, severity="warning")


def _by_name(items):
    return {x.name: x for x in items}


def _a(t: T.Type) -> str:
    s = str(t)
    return ("an " if s[0] in "aeiou" else "a ") + s


def _text(e) -> str:
    from rulecite.policy_lang.syntax.formatter import format_expr

    try:
        return format_expr(e)
    except Exception:  # noqa: BLE001 - only for messages
        return "expression"


def check(modules, config: PackConfig, schema: dict, parent: Pack | None = None, texts=None,
          max_depth: int = DEFAULT_MAX_DEPTH):
    """Check modules into a Pack. Returns (pack or None, diagnostics)."""
    ck = Checker(modules, config, schema, parent, texts or {}, max_depth)
    pack = ck.run()
    return pack, ck.diags
