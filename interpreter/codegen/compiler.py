"""Compile a checked ``Pack`` into Python source, once, for fast evaluation.

Takes a ``Pack`` (and an optional ``as_of`` publication clock); gives a
``CompiledPack``: one generated Python module holding a function per derived
value, per rule (does it fire?), per message and per evidence list, and a
``_decide(rec, hist)`` function that walks the claim lines and dispatches each line
only to the rules indexed under its code and in force on its service date.

Safety: the generated text is built only from (a) fixed templates and tokens taken
from the compiler's own tables (operators, quantifiers, aggregates, functions, modes),
never from the model, (b) Python identifiers made from names the grammar restricts to
``[A-Za-z_][A-Za-z0-9_]*``, re-checked here and always prefixed, and (c) ``repr()`` of
every string, number and date taken from the pack, each checked to be exactly a
``str``, ``int``, ``float``, ``bool`` or ``datetime.date`` first (a subclass could carry
its own ``repr``). Whatever the model holds (it may come from a cache entry someone
forged), anything else is a :class:`CompileError` before any source is executed. Rule
ids, messages, field names and codes therefore only ever appear inside Python string
literals. The module is executed with a namespace whose ``__builtins__`` holds only the
few pure functions it needs (no ``__import__``, no ``open``), which alone would be no
sandbox: the checks above are what keep pack data out of the code.

Bounded work: each record's evaluation carries a state list ``_m`` (``_m[0]``: steps
left; then one slot per top-level ``let``). A top-level ``let`` is computed at most once
per record (its slot remembers it), a loop of a quantifier or aggregate charges the
length of what it walks before it starts, ``in`` over a computed list charges its
length, and every ``+``, ``-``, ``*``, ``/`` and ``sum`` result must stay within
+-2**63. Past a bound, ``runtime.EvaluationLimit`` is raised; the engine turns it into
a rejection that names the rule (or suggestion) whose generated code was running, found
from the traceback's generated line numbers at no cost until then (``limit_reason``).

It is registered in ``linecache`` so tracebacks show the generated lines, and
``source_map`` maps each generated function back to its policy span.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import linecache
import os
import re
import threading

import attrs

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.check.checker import FUNCTIONS as _SIGNATURES
from rulecite.policy_lang.syntax.formatter import format_expr
from rulecite.policy_lang.model import CodeSet, Pack, Ref, Rule
from rulecite.policy_lang.types import Type

from rulecite.interpreter.codegen import runtime

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LO, HI = "0000-00-00", "9999-99-99"
_SAFE_BUILTINS = {"frozenset": frozenset, "dict": dict, "any": any, "all": all, "sum": sum, "len": len, "min": min, "max": max, "bool": bool,
                  "enumerate": enumerate, "tuple": tuple, "list": list, "None": None}

# The only tokens the generated source ever takes from a model's operator and function
# fields: the model's value selects an entry; the entry's own text is what is written.
_BINOPS = {"+": "+", "-": "-", "*": "*", "/": "/"}
_CMPOPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_QUANTS = {"any": "any", "all": "all", "count": "count"}
_FOLDS = {"sum": "sum", "min": "_rt.min_opt", "max": "_rt.max_opt", "count_distinct": "_rt.count_distinct",
          "collect": "_rt.collect"}
_SPECIALS = {"history": "hist", "service_date": "sd"}
_MODES = {"when": "when", "unless": "unless"}
_SCOPES = {"line": "line", "record": "record"}
_DAYS = {"first": "first", "last": "last"}
_SEVERITIES = {"deny": "deny", "warn": "warn", "info": "info"}
_LITERALS = {"int": int, "decimal": str, "string": str, "date": str, "month": str, "bool": bool}
_SPECIAL_CALLS = {"present": 1, "default": 2, "program_of": 1}


class CompileError(ValueError):
    """The model holds something the checker never gives (a forged or corrupt cache entry):
    an operator, function, mode or name outside the compiler's tables, or a value of
    another type than text, number, date or node where one is expected."""


def _show(value) -> str:
    """A short, safe description of a model value for an error message (never its own repr)."""
    if isinstance(value, str):
        return str.__repr__(str(value)[:60])
    return f"a {type(value).__name__}"


def _pick(table: dict, key, what: str) -> str:
    if type(key) is not str or key not in table:
        raise CompileError(f"{what} {_show(key)} is not one the language has")
    return table[key]


def _text(value, what: str) -> str:
    if type(value) is not str:
        raise CompileError(f"{what} must be text, not {_show(value)}")
    return value


def _ident(prefix: str, name) -> str:
    if type(name) is not str or not _IDENT.match(name):
        raise CompileError(f"not an identifier: {_show(name)}")
    return prefix + name


def _lit(value) -> str:
    """A Python literal for a pack constant (str, int, float, bool, None, tuples), of
    exactly those types: a subclass could bring its own ``repr``."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return repr(value)
    if t is float:
        r = repr(value)
        if r in ("inf", "-inf", "nan"):
            raise CompileError("non-finite number in pack")
        return r
    if t is tuple:
        return "(" + "".join(_lit(v) + ", " for v in value) + ")"
    raise CompileError(f"cannot embed {_show(value)}")


def _day(d, default: str) -> str:
    if d is None:
        return default
    if type(d) is not _dt.date:
        raise CompileError(f"a window bound must be a date, not {_show(d)}")
    return d.isoformat()


def _codes(codes, what: str):
    if codes is None:
        return None
    if type(codes) is not tuple:
        raise CompileError(f"{what} must be a tuple of codes")
    return tuple(_text(c, what) for c in codes)


def _parts(tpl, what: str) -> tuple:
    parts = getattr(tpl, "parts", None)
    if type(parts) is not tuple:
        raise CompileError(f"{what} has no parts")
    return parts


@attrs.frozen
class RuleInfo:
    """What the runtime needs of one compiled rule version."""

    index: int
    rule: Rule
    lo: str
    hi: str
    citations: tuple  # dicts, ready for results
    evidence_paths: tuple  # per evidence item: path template or None


class _Emitter:
    def __init__(self, pack: Pack):
        self.pack = pack
        self.lines: list = []
        self.consts: dict = {}  # python literal text -> const name
        self.aux: list = []  # module-level loop functions of quantifiers and aggregates
        self.tmp = 0
        self.source_map: dict = {}
        self.let_slots: dict = {}  # top-level let name -> its slot in the state list `_m`
        self.blocks: list = []  # (index in lines, rule index or None): where each rule's inlined block starts

    def const(self, text: str) -> str:
        name = self.consts.get(text)
        if name is None:
            name = f"_K{len(self.consts)}"
            self.consts[text] = name
        return name

    def fresh(self) -> str:
        self.tmp += 1
        return f"_t{self.tmp}"

    def emit(self, line: str = ""):
        self.lines.append(line)

    # ------------------------------------------------------------ typing for optionality
    def typeof(self, e) -> Type | None:
        if isinstance(e, Ref):
            return e.type
        if isinstance(e, ast.Field):
            t = self.typeof(e.obj)
            if t is None or t.kind != "record":
                return None
            ft = t.field(e.name)
            if ft is not None and t.optional and ft.kind != "list" and ft.default is None:
                return attrs.evolve(ft, optional=True)
            return ft
        return None

    def optional(self, e) -> bool:
        if isinstance(e, (ast.Literal, ast.ListLit, ast.Compare, ast.In, ast.And, ast.Or, ast.Not, ast.Quant)):
            return False
        if isinstance(e, ast.Fold):
            return e.func in ("min", "max")
        if isinstance(e, ast.Call):
            return e.func not in ("present", "len")
        if isinstance(e, ast.BinOp):
            return e.op == "/" or self.optional(e.left) or self.optional(e.right)
        if isinstance(e, ast.Neg):
            return self.optional(e.operand)
        if isinstance(e, Ref):
            if e.kind in ("set",) or e.name in ("history", "service_date") and e.kind == "special":
                return False
            return e.type.optional
        t = self.typeof(e)
        return True if t is None else t.optional

    # ------------------------------------------------------------ expressions
    def x(self, e, env: dict) -> str:
        method = _EXPRESSIONS.get(type(e))
        if method is None:
            raise CompileError(f"not an expression: {_show(e)}")
        return method(self, e, env)

    def x_Ref(self, e: Ref, env):
        kind = _pick({"fact": "fact", "let": "let", "var": "var", "set": "set", "special": "special"}, e.kind,
                     "name kind")
        name = e.name
        if kind == "special":
            return _pick(_SPECIALS, name, "special name")
        _ident("", name)
        if kind == "var" or (kind == "let" and name in env):
            if name not in env:
                raise CompileError(f"`{name}` is not in scope here")
            return env[name]
        if kind == "let":
            if name not in self.let_slots:
                raise CompileError(f"`{name}` is not a derived value defined before this use")
            return f"{_ident('_let_', name)}(rec, hist, _m)"
        if kind == "set":
            cs = self.pack.set(name)
            if type(cs) is not CodeSet or type(cs.members) is not tuple:
                raise CompileError(f"`{name}` is not a set of the pack")
            return self.const("frozenset(" + _lit(tuple(_text(m, "a set member") for m in cs.members)) + ")")
        # a top-level fact field
        t = e.type
        if type(t) is not Type:
            raise CompileError(f"the type of `{name}` is not a type")
        if t.kind == "list":
            return f"(rec.get({name!r}) or ())"
        if t.default is not None:
            return f"rec.get({name!r}, {_lit(t.default)})"
        if not t.optional:
            return f"rec[{name!r}]"
        return f"rec.get({name!r})"

    def x_Field(self, e: ast.Field, env):
        name = _ident("", e.name)
        obj = self.x(e.obj, env)
        ot = self.typeof(e.obj)
        ft = self.typeof(e)
        if type(ot) is not Type or ot.kind != "record":
            # Untyped by the schema: any JSON value may come, and a field of a non-object is absent.
            return f"_rt.field({obj}, {name!r})"
        if ft is not None and type(ft) is not Type:
            raise CompileError(f"the type of `{name}` is not a type")
        base = f"({obj} or _E)" if ot.optional else obj
        if ft is not None and ft.kind == "list":
            return f"({base}.get({name!r}) or ())"
        if ft is not None and ft.default is not None:
            return f"{base}.get({name!r}, {_lit(ft.default)})"
        return f"{base}.get({name!r})"

    def x_Literal(self, e: ast.Literal, env):
        kind = _pick({k: k for k in _LITERALS}, e.kind, "literal kind")
        if type(e.value) is not _LITERALS[kind]:
            raise CompileError(f"the {kind} literal holds {_show(e.value)}")
        if kind == "decimal":
            try:
                return _lit(float(e.value))
            except ValueError:
                raise CompileError(f"a decimal literal holds {_show(e.value)}") from None
        return _lit(e.value)

    def x_ListLit(self, e: ast.ListLit, env):
        if type(e.items) is not tuple:
            raise CompileError("a list literal's items must be a tuple")
        if all(isinstance(i, ast.Literal) for i in e.items):
            return self.const("(" + "".join(self.x(i, env) + ", " for i in e.items) + ")")
        return "[" + ", ".join(self.x(i, env) for i in e.items) + "]"

    def x_Not(self, e, env):
        return f"(not {self.x(e.operand, env)})"

    def x_Neg(self, e, env):
        v = self.x(e.operand, env)
        if not self.optional(e.operand):
            return f"(-{v})"
        t = self.fresh()
        return f"(None if ({t} := {v}) is None else -{t})"

    def x_BinOp(self, e: ast.BinOp, env):
        op = _pick(_BINOPS, e.op, "arithmetic operator")
        a, b = self.x(e.left, env), self.x(e.right, env)
        if op == "/":
            return f"_rt.div({a}, {b})"
        if not self.optional(e.left) and not self.optional(e.right):
            return f"_num({a} {op} {b})"
        ta, tb = self.fresh(), self.fresh()
        return f"(None if ({ta} := {a}) is None or ({tb} := {b}) is None else _num({ta} {op} {tb}))"

    def x_Compare(self, e: ast.Compare, env):
        op = _pick(_CMPOPS, e.op, "comparison operator")
        a, b = self.x(e.left, env), self.x(e.right, env)
        oa, ob = self.optional(e.left), self.optional(e.right)
        if not oa and not ob:
            return f"({a} {op} {b})"
        if oa and not ob:
            t = self.fresh()
            return f"(({t} := {a}) is not None and {t} {op} {b})"
        if ob and not oa:
            t = self.fresh()
            return f"(({t} := {b}) is not None and {a} {op} {t})"
        ta, tb = self.fresh(), self.fresh()
        return f"(({ta} := {a}) is not None and ({tb} := {b}) is not None and {ta} {op} {tb})"

    def x_In(self, e: ast.In, env):
        if type(e.negated) is not bool:
            raise CompileError("`in` must be negated or not")
        a, b = self.x(e.left, env), self.x(e.right, env)
        fixed = isinstance(e.right, ast.ListLit) and all(isinstance(i, ast.Literal) for i in e.right.items)
        if fixed:
            b = self.const("frozenset(" + "(" + "".join(self.x(i, env) + ", " for i in e.right.items) + "))")
        elif not (isinstance(e.right, Ref) and e.right.kind == "set"):
            # A list computed at run time is walked by `in`: that costs its length in steps.
            if not e.negated:
                t = self.fresh()
                return f"(({t} := {a}) is not None and _rt.isin({t}, {b}, _m))"
            t = self.fresh()
            return f"(({t} := {a}) is not None and not _rt.isin({t}, {b}, _m))"
        if not e.negated:
            if self.optional(e.left):
                t = self.fresh()
                return f"(({t} := {a}) is not None and {t} in {b})"
            return f"({a} in {b})"
        t = self.fresh()
        return f"(({t} := {a}) is not None and {t} not in {b})"

    def x_And(self, e: ast.And, env):
        if type(e.items) is not tuple or not e.items:
            raise CompileError("`and` needs operands")
        return "(" + " and ".join(self.x(i, env) for i in e.items) + ")"

    def x_Or(self, e: ast.Or, env):
        if type(e.items) is not tuple or not e.items:
            raise CompileError("`or` needs operands")
        return "(" + " or ".join(self.x(i, env) for i in e.items) + ")"

    def x_Call(self, e: ast.Call, env):
        func = e.func
        if type(func) is not str or (func not in _SPECIAL_CALLS and func not in runtime.FUNCTIONS):
            raise CompileError(f"function {_show(func)} is not one the language has")
        if type(e.args) is not tuple:
            raise CompileError(f"the arguments of `{func}` must be a tuple")
        lo, hi = (_SPECIAL_CALLS[func],) * 2 if func in _SPECIAL_CALLS else _SIGNATURES[func][:2]
        if not lo <= len(e.args) <= hi:
            raise CompileError(f"`{func}` takes {lo}..{hi} argument(s), not {len(e.args)}")
        args = [self.x(a, env) for a in e.args]
        if func == "present":
            return f"({args[0]} is not None)"
        if func == "program_of":
            table = {_text(c.name, "a code"): _text(c.program, "a program")
                     for c in self.pack.codes if c.program is not None}
            const = self.const("{" + "".join(f"{_lit(k)}: {_lit(v)}, " for k, v in sorted(table.items())) + "}")
            return f"{const}.get({args[0]})"
        if func == "default":
            t = self.fresh()
            return f"({t} if ({t} := {args[0]}) is not None else {args[1]})"
        return f"_rt.FUNCTIONS[{func!r}](" + ", ".join(args) + ")"

    def _loop_fn(self, var, source, env, body) -> str:
        """A module-level function with a plain ``for`` loop over ``source``: cheaper than a
        generator expression, and it returns as soon as the answer is known. ``body``
        gets (item variable, inner env) and returns the loop's statements; the call
        passes the variables in scope (rule lets, enclosing items) as arguments. Before
        the loop starts, the record's step budget pays for every item it may visit."""
        name = f"_q{self.fresh()[2:]}"
        outer = [py for py in dict.fromkeys(env.values()) if py not in ("ln", "sd")]
        inner = dict(env)
        py = _ident("v_", var) + f"_{self.fresh()[2:]}"
        inner[var] = py
        src = self.x(source, env)
        params = ", ".join(["rec", "hist", "ln", "sd", "_m"] + outer)
        head, loop, tail = body(py, inner)
        lines = [f"def {name}({params}):"] + ["    " + h for h in head]
        lines += [f"    _m[0] -= len(_s := {src})", "    if _m[0] < 0: _rt.over_budget(_m)"]
        lines.append(f"    for {py} in _s:")
        lines += ["        " + x for x in loop]
        lines += ["    " + t for t in tail]
        self.aux.extend(lines)
        return f"{name}(" + ", ".join(["rec", "hist", "ln", "sd", "_m"] + outer) + ")"

    def x_Quant(self, e: ast.Quant, env):
        func = _pick(_QUANTS, e.func, "quantifier")
        if e.where is None:
            src = self.x(e.source, env)
            return {"any": f"(len({src}) > 0)", "all": "True", "count": f"len({src})"}[func]

        def body(py, inner):
            cond = self.x(e.where, inner)
            if func == "any":
                return [], [f"if {cond}:", "    return True"], ["return False"]
            if func == "all":
                return [], [f"if not ({cond}):", "    return False"], ["return True"]
            return ["n = 0"], [f"if {cond}:", "    n += 1"], ["return n"]

        return self._loop_fn(e.var, e.source, env, body)

    def x_Fold(self, e: ast.Fold, env):
        helper = _pick(_FOLDS, e.func, "aggregate")

        def body(py, inner):
            val = self.x(e.value, inner)
            guard = [f"if {self.x(e.where, inner)}:"] if e.where is not None else []
            ind = "    " if guard else ""
            if helper == "sum":
                if not self.optional(e.value):
                    return ["s = 0"], guard + [f"{ind}s += {val}"], ["return _num(s)"]
                return ["s = 0"], guard + [f"{ind}x = {val}", f"{ind}if x is not None:", f"{ind}    s += x"], \
                    ["return _num(s)"]
            return ["out = []"], guard + [f"{ind}out.append({val})"], [f"return {helper}(out)"]

        return self._loop_fn(e.var, e.source, env, body)


_EXPRESSIONS = {
    Ref: _Emitter.x_Ref, ast.Field: _Emitter.x_Field, ast.Literal: _Emitter.x_Literal,
    ast.ListLit: _Emitter.x_ListLit, ast.Not: _Emitter.x_Not, ast.Neg: _Emitter.x_Neg,
    ast.BinOp: _Emitter.x_BinOp, ast.Compare: _Emitter.x_Compare, ast.In: _Emitter.x_In,
    ast.And: _Emitter.x_And, ast.Or: _Emitter.x_Or, ast.Call: _Emitter.x_Call,
    ast.Quant: _Emitter.x_Quant, ast.Fold: _Emitter.x_Fold,
}


def _evidence_items(cond) -> list:
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
    elif x.kind == "special" and x.name == "service_date":
        return None
    else:
        return None
    return root + "".join("." + n if _IDENT.match(n) else f"[{n!r}]" for n in names)


@attrs.frozen
class SuggestionInfo:
    index: int
    suggestion: object
    lo: str
    hi: str


class CompiledPack:
    """A pack compiled for one publication clock (``as_of``); immutable and thread-safe."""

    def __init__(self, pack: Pack, as_of: _dt.date | None = None):
        self.pack = pack
        self.as_of = as_of
        try:
            self.rules = [r for r in pack.rules if _known(r.citations, as_of)]
            known_codes = {c.name: c for c in pack.codes if _known(c.citations, as_of)}
            self.codes = known_codes
            self.suggestions = [s for s in pack.suggestions]
            src, em = self._generate()
        except CompileError:
            raise
        except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as e:
            # Not a model the checker gives: refuse it here, before any source is executed.
            raise CompileError(f"not a checked pack ({e.__class__.__name__}: {str(e)[:200]})") from None
        self._load(src, em)

    # ------------------------------------------------------------ code generation
    def _generate(self):
        pack = self.pack
        em = _Emitter(pack)
        shape = pack.shape
        for key in ("id", "period", "lines", "line_id", "line_code", "line_date"):
            _text(getattr(shape, key), f"the record shape's `{key}`")
        _pick(_DAYS, shape.default_day, "default service day")
        self.infos: list = []
        self.blame: list = []  # ("rule", Rule) per rule index, then ("suggestion", Suggestion)
        em.emit("# generated by rulecite from a checked pack; every pack constant is a repr() literal")
        for dv in pack.derived:
            fn = _ident("_let_", dv.name)
            if dv.name in em.let_slots:
                raise CompileError(f"derived value `{dv.name}` is defined twice")
            expr = em.x(dv.expr, {})  # reads only the lets before it: no cycle can be compiled
            slot = len(em.let_slots) + 1
            em.let_slots[dv.name] = slot
            em.source_map[fn] = dv.span
            # Computed at most once per record: the slot of the state list remembers it.
            em.emit(f"def {fn}(rec, hist, _m, ln=None, sd=None):")
            em.emit(f"    v = _m[{slot}]")
            em.emit("    if v is _U:")
            em.emit(f"        v = _m[{slot}] = {expr}")
            em.emit("    return v")
        self.line_blocks: dict = {}  # rule index -> statements that append it to `fired`
        for i, r in enumerate(self.rules):
            _text(r.id, "a rule id")
            _pick(_SEVERITIES, r.severity, "severity")
            scope = _pick(_SCOPES, r.scope, "rule scope")
            mode = _pick(_MODES, r.mode, "rule mode")
            lo, hi = _day(r.window.start, LO), _day(r.window.end, HI)
            codes = _codes(r.codes, "a rule's codes")
            self.blame.append(("rule", r))
            env = {_ident("", r.var): "ln"} if r.var is not None else {}
            lets = []
            for lt in r.lets:
                py = _ident("l_", lt.name)
                lets.append(f"{py} = {em.x(lt.expr, dict(env))}")
                env[lt.name] = py
            where = em.x(r.where, env) if r.where is not None else "True"
            cond = em.x(r.condition, env)
            fires = f"bool({cond})" if mode == "when" else f"not ({cond})"
            em.source_map[f"_rule{i}"] = r.span
            em.emit(f"def _rule{i}(rec, hist, ln, sd, _m=None):")
            em.emit("    if _m is None:")
            em.emit("        _m = _state()")
            em.emit(f"    if not ({where}):")
            em.emit("        return False")
            for line in lets:
                em.emit("    " + line)
            em.emit(f"    return {fires}")
            if scope == "line":
                self.line_blocks[i] = self._line_block(i, r, lets, where, cond, mode, lo, hi, codes)
            # what a finding shows: the message (or the error that stopped it), evidence, fix
            em.source_map[f"_find{i}"] = r.span
            em.emit(f"def _find{i}(rec, hist, ln, sd, _m=None):")
            em.emit("    if _m is None:")
            em.emit("        _m = _state()")
            for line in lets:
                em.emit("    " + line)
            parts = [_lit(p) if type(p) is str else f"_fmt({em.x(p, env)})" for p in _parts(r.message, "a message")]
            em.emit("    try:")
            em.emit("        m = ''.join((" + "".join(p + ", " for p in parts) + "))")
            em.emit("    except _Exception as e:  # a message must never lose the verdict")
            em.emit("        m = e")
            fix = "None"
            if r.suggest is not None:
                parts = [_lit(p) if type(p) is str else f"_fmt({em.x(p, env)})" for p in _parts(r.suggest, "a fix")]
                fix = "''.join((" + "".join(p + ", " for p in parts) + "))"
            items = _evidence_items(r.condition)
            em.emit("    return m, (" + "".join(f"{em.x(it, env)}, " for it in items) + f"), {fix}")
            self.infos.append(RuleInfo(
                index=i, rule=r, lo=lo, hi=hi,
                citations=tuple(c.to_dict() for c in r.citations),
                evidence_paths=tuple((format_expr(it), evidence_path(it, r.var, shape.lines)) for it in items),
            ))
        self.sugg_infos = []
        for j, s in enumerate(self.suggestions):
            _text(s.id, "a suggestion id")
            _text(s.code, "a suggested code")
            _pick(_SCOPES, s.scope, "suggestion scope")
            _codes(s.codes, "a suggestion's codes")
            lo, hi = _day(s.window.start, LO), _day(s.window.end, HI)
            self.blame.append(("suggestion", s))
            env = {_ident("", s.var): "ln"} if s.var is not None else {}
            where = em.x(s.where, env) if s.where is not None else "True"
            when = em.x(s.when, env) if s.when is not None else "True"
            units = em.x(s.units, env) if s.units is not None else "None"
            em.source_map[f"_sug{j}"] = s.span
            em.emit(f"def _sug{j}(rec, hist, ln, sd, _m=None):")
            em.emit("    if _m is None:")
            em.emit("        _m = _state()")
            em.emit(f"    if not ({where} and {when}):")
            em.emit("        return None")
            parts = [_lit(p) if type(p) is str else f"_fmt({em.x(p, env)})" for p in _parts(s.reason, "a reason")]
            em.emit(f"    return ({units}, ''.join((" + "".join(p + ", " for p in parts) + ")))")
            self.sugg_infos.append(SuggestionInfo(j, s, lo, hi))
        self._emit_decide(em)
        consts = [f"{name} = {text}" for text, name in em.consts.items()]
        # Which rule each generated line of a `_line` function belongs to (numbered as in
        # the module): how an evaluation limit reached there is told which rule ran.
        first = len(consts) + len(em.aux) + 1
        self._block_starts = [first + start for start, _ in em.blocks]
        self._block_owners = [owner for _, owner in em.blocks]
        src = "\n".join(consts + em.aux + em.lines) + "\n"
        return src, em

    def _load(self, src: str, em: _Emitter):
        pack = self.pack
        self.source = src
        self.filename = f"<rulecite {pack.name}@{pack.version} {pack.lock[:12]} as_of={self.as_of}>"
        linecache.cache[self.filename] = (len(src), None, src.splitlines(True), self.filename)
        self.source_map = em.source_map
        self.n_lets = len(em.let_slots)
        fresh = [runtime.UNSET] * self.n_lets

        def state(steps: int = runtime.DEFAULT_MAX_STEPS) -> list:
            return [steps, *fresh]

        self.state = state
        ns = {"__builtins__": dict(_SAFE_BUILTINS), "_rt": runtime, "_E": runtime.EMPTY, "_fmt": fmt_value,
              "_Exception": Exception, "_num": runtime.num, "_U": runtime.UNSET,
              "_state": state}
        exec(compile(src, self.filename, "exec"), ns)  # noqa: S102 - only table tokens, checked names, repr()s
        self._ns = ns
        self.decide = ns["_decide"]
        self.rule_fns = [ns[f"_rule{i}"] for i in range(len(self.rules))]
        self.find_fns = [ns[f"_find{i}"] for i in range(len(self.rules))]
        self.sugg_fns = [ns[f"_sug{j}"] for j in range(len(self.suggestions))]
        let_fns = {dv.name: ns[_ident("_let_", dv.name)] for dv in self.pack.derived}
        # One derived value on its own (a fresh state each call), for callers outside `_decide`.
        self.let_fns = {name: (lambda rec, hist, *_, _f=fn: _f(rec, hist, state())) for name, fn in let_fns.items()}

    def _blame_of(self, e: BaseException):
        """The rule or suggestion whose code was running when ``e`` was raised: the
        outermost generated frame that belongs to one (a `let` or loop it called is deeper)."""
        tb = e.__traceback__
        nrules = len(self.rules)
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename == self.filename:
                name = code.co_name
                if name.startswith("_line"):
                    k = bisect.bisect_right(self._block_starts, tb.tb_lineno) - 1
                    if k >= 0 and self._block_owners[k] is not None:
                        return self._block_owners[k]
                for prefix, base in (("_rule", 0), ("_find", 0), ("_sug", nrules)):
                    if name.startswith(prefix) and name[len(prefix):].isdigit():
                        return base + int(name[len(prefix):])
            tb = tb.tb_next
        return None

    def limit_reason(self, e: runtime.EvaluationLimit, steps: int) -> str:
        """The rejection reason for an evaluation that went past a bound: names the rule."""
        what = "the evaluation"
        blame = self._blame_of(e)
        if blame is not None and 0 <= blame < len(self.blame):
            kind, x = self.blame[blame]
            where = _where(self.pack, x)
            what = f"{kind} {x.id}" + (f" ({where})" if where else "")
        if isinstance(e, runtime.StepLimitExceeded):
            return (f"{what} went past the budget of {steps} evaluation steps for one record (items walked by "
                    "quantifiers, aggregates and `in`); the record was not judged")
        return (f"{what}: an arithmetic result went past +-2**63 (or is not a finite number); the record was "
                "not judged")

    def _line_block(self, i: int, r: Rule, lets: list, where: str, cond: str, mode: str, lo: str, hi: str,
                    codes) -> list:
        """Statements that append rule ``i`` to ``fired`` when it fires on line ``ln``.

        The `where` test is left out when it only says which codes the rule is for: the
        dispatch by code already guarantees it."""
        out, ind = [], ""
        if lo != LO and hi != HI:
            out, ind = [f"if {lo!r} <= sd <= {hi!r}:"], "    "
        elif lo != LO:
            out, ind = [f"if sd >= {lo!r}:"], "    "
        elif hi != HI:
            out, ind = [f"if sd <= {hi!r}:"], "    "
        if not (codes is not None and _codes_only(r.where, r.var, self.pack.shape.line_code)):
            out.append(f"{ind}if {where}:")
            ind += "    "
        out += [ind + line for line in lets]
        test = f"({cond})" if mode == "when" else f"not ({cond})"
        out += [f"{ind}if {test}:", f"{ind}    fired.append({i})"]
        return out

    def _emit_decide(self, em: _Emitter):
        """``_decide(rec, hist, steps)`` -> (record-level fired, [(line fired, code state, service
        date)], suggestions); code state: 0 not in the catalog, 1 in its window, 2 outside it.
        ``steps`` is the record's budget (see the module docstring)."""
        shape = self.pack.shape
        by_code: dict = {}
        generic, record_rules = [], []
        for info in self.infos:
            r = info.rule
            if r.scope == "record":
                record_rules.append(info)
            elif r.codes is None:
                generic.append(info)
            else:
                for c in r.codes:
                    by_code.setdefault(c, []).append(info)
        all_codes = sorted(set(by_code) | set(_text(c, "a code") for c in self.codes))

        # One function per distinct list of line rules: the rules a line with that code can
        # meet, inlined in index order, each behind its service-date window.
        groups: dict = {}
        line_fn = {}
        for c in all_codes:
            key = tuple(sorted({x.index for x in by_code.get(c, []) + generic}))
            line_fn[c] = groups.setdefault(key, f"_line{len(groups)}")
        generic_key = tuple(sorted(x.index for x in generic))
        generic_fn = groups.setdefault(generic_key, f"_line{len(groups)}")
        for key, fn in sorted(groups.items(), key=lambda kv: kv[1]):
            em.emit(f"def {fn}(rec, hist, ln, sd, _m):")
            em.emit("    fired = []")
            for k in key:
                em.blocks.append((len(em.lines), k))  # rule k's block starts here (blame index k)
                for line in self.line_blocks[k]:
                    em.emit("    " + line)
                em.blocks.append((len(em.lines), None))
            em.emit("    return fired")
        em.emit(f"_LINE_GENERIC = {generic_fn}")
        em.emit("_LINE = {")
        for c in all_codes:
            em.emit(f"    {_lit(c)}: {line_fn[c]},")
        em.emit("}")
        em.emit("_WINDOWS = {")
        for name in sorted(self.codes):
            w = self.codes[name].window
            em.emit(f"    {_lit(name)}: ({_day(w.start, LO)!r}, {_day(w.end, HI)!r}),")
        em.emit("}")
        sug_by_code: dict = {}
        sug_generic, sug_record = [], []
        for s in self.sugg_infos:
            if s.suggestion.scope == "record":
                sug_record.append(s)
            elif s.suggestion.codes is None:
                sug_generic.append(s)
            else:
                for c in s.suggestion.codes:
                    sug_by_code.setdefault(c, []).append(s)

        def sentries(items):
            return "(" + "".join(f"({x.index}, {x.lo!r}, {x.hi!r}, _sug{x.index}), " for x in items) + ")"

        em.emit("_SGENERIC = " + sentries(sug_generic))
        em.emit("_SDISPATCH = {")
        for c in sorted(sug_by_code):
            em.emit(f"    {_lit(c)}: {sentries(sug_by_code[c] + sug_generic)},")
        em.emit("}")
        em.emit("_SRECORD = " + sentries(sug_record))
        em.emit(f"def _decide(rec, hist, steps={runtime.DEFAULT_MAX_STEPS!r}):")
        em.emit("    _m = _state(steps)")
        if shape.default_day == "last":
            em.emit(f"    d0 = _rt.last_day(rec[{_lit(shape.period)}])")
        else:
            em.emit(f"    d0 = rec[{_lit(shape.period)}] + '-01'")
        em.emit("    rfired = []")
        for x in record_rules:
            em.emit(f"    if {x.lo!r} <= d0 <= {x.hi!r} and _rule{x.index}(rec, hist, None, d0, _m):")
            em.emit(f"        rfired.append({x.index})")
        em.emit("    out = []")
        em.emit("    sugs = []")
        em.emit(f"    for ln in (rec.get({_lit(shape.lines)}) or ()):")
        em.emit(f"        code = ln.get({_lit(shape.line_code)})")
        em.emit(f"        sd = ln.get({_lit(shape.line_date)}) or d0")
        em.emit("        fired = _LINE.get(code, _LINE_GENERIC)(rec, hist, ln, sd, _m)")
        em.emit("        w = _WINDOWS.get(code)")
        em.emit("        out.append((fired, 0 if w is None else (1 if w[0] <= sd <= w[1] else 2), sd))")
        if self.sugg_infos:
            em.emit("        for k, lo, hi, fn in _SDISPATCH.get(code, _SGENERIC):")
            em.emit("            if lo <= sd <= hi:")
            em.emit("                s = fn(rec, hist, ln, sd, _m)")
            em.emit("                if s is not None:")
            em.emit("                    sugs.append((k, ln, s))")
            em.emit("    for k, lo, hi, fn in _SRECORD:")
            em.emit("        if lo <= d0 <= hi:")
            em.emit("            s = fn(rec, hist, None, d0, _m)")
            em.emit("            if s is not None:")
            em.emit("                sugs.append((k, None, s))")
        em.emit("    return rfired, out, sugs")


def _where(pack, x) -> str:
    """``file:line`` of a rule or suggestion, the file relative to the pack's folder."""
    span = getattr(x, "span", None)
    if span is None or not getattr(span, "line", 0):
        return ""
    f = str(span.file)
    root = str(pack.root or "")
    if root and os.path.isabs(f):
        try:
            f = os.path.relpath(f, root)
        except ValueError:
            pass
    return f"{f}:{span.line}"


def _codes_only(where, var, code_field) -> bool:
    """Whether ``where`` tests nothing but the line's code against codes or sets."""
    def is_code(x):
        return isinstance(x, ast.Field) and x.name == code_field and isinstance(x.obj, Ref) and x.obj.name == var

    if isinstance(where, ast.Or):
        return all(_codes_only(i, var, code_field) for i in where.items)
    if isinstance(where, ast.In) and not where.negated and is_code(where.left):
        return (isinstance(where.right, Ref) and where.right.kind == "set") or (
            isinstance(where.right, ast.ListLit)
            and all(isinstance(i, ast.Literal) and i.kind == "string" for i in where.right.items))
    if isinstance(where, ast.Compare) and where.op == "==":
        return any(is_code(a) and isinstance(b, ast.Literal) and b.kind == "string"
                   for a, b in ((where.left, where.right), (where.right, where.left)))
    return False


def default_service_date(shape, rec) -> str:
    """The service date of a line without a date: the first or last day of the record's period."""
    period = rec[shape.period]
    return runtime.last_day(period) if shape.default_day == "last" else period[:7] + "-01"


def fmt_value(v) -> str:
    """How a value reads inside a message: whole numbers without '.0', absent as 'none'."""
    if v is None:
        return "(none)"
    if v is True:
        return "yes"
    if v is False:
        return "no"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v)
    return str(v)


def _known(citations, as_of) -> bool:
    """A rule or code is knowable on ``as_of`` when some citation was published by then."""
    if as_of is None or not citations:
        return True
    return any(c.source.published is None or c.source.published <= as_of for c in citations)


_CACHE_LOCK = threading.Lock()
