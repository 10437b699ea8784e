"""Compile a checked ``Pack`` into Python source, once, for fast evaluation.

Takes a ``Pack`` (and an optional ``as_of`` publication clock); gives a
``CompiledPack``: one generated Python module holding a function per derived
value, per rule (does it fire?), per message and per evidence list, and a
``_decide(rec, hist)`` function that walks the claim lines and dispatches each line
only to the rules indexed under its code and in force on its service date.

Safety: the generated text is built only from (a) fixed templates, (b) Python
identifiers made from names the grammar restricts to ``[A-Za-z_][A-Za-z0-9_]*``,
re-checked here and always prefixed, and (c) ``repr()`` of every string, number and
date taken from the pack. Rule ids, messages, field names and codes therefore only
ever appear inside Python string literals. The module is executed with a namespace
whose ``__builtins__`` holds only the few pure functions it needs (no ``__import__``,
no ``open``). It is registered in ``linecache`` so tracebacks show the generated
lines, and ``source_map`` maps each generated function back to its policy span.
"""

from __future__ import annotations

import datetime as _dt
import linecache
import re
import threading

import attrs

from rulecite.policy_lang import ast
from rulecite.policy_lang.formatter import format_expr
from rulecite.policy_lang.model import Pack, Ref, Rule
from rulecite.policy_lang.types import Type

from . import runtime

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LO, HI = "0000-00-00", "9999-99-99"
_SAFE_BUILTINS = {"frozenset": frozenset, "dict": dict, "any": any, "all": all, "sum": sum, "len": len, "min": min, "max": max, "bool": bool,
                  "enumerate": enumerate, "tuple": tuple, "list": list, "None": None}


def _ident(prefix: str, name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not an identifier: {name!r}")
    return prefix + name


def _lit(value) -> str:
    """A Python literal for a pack constant (str, int, float, bool, None, tuples)."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        r = repr(value)
        if r in ("inf", "-inf", "nan"):
            raise ValueError("non-finite number in pack")
        return r
    if isinstance(value, tuple):
        return "(" + "".join(_lit(v) + ", " for v in value) + ")"
    raise TypeError(f"cannot embed {type(value).__name__}")


def _day(d: _dt.date | None, default: str) -> str:
    return d.isoformat() if d else default


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
        return getattr(self, "x_" + type(e).__name__)(e, env)

    def x_Ref(self, e: Ref, env):
        if e.kind == "var" or (e.kind == "let" and e.name in env):
            return env[e.name]
        if e.kind == "let":
            return f"{_ident('_let_', e.name)}(rec, hist)"
        if e.kind == "set":
            return self.const("frozenset(" + _lit(self.pack.set(e.name).members) + ")")
        if e.kind == "special":
            return {"history": "hist", "service_date": "sd"}[e.name]
        # a top-level fact field
        t = e.type
        if t.kind == "list":
            return f"(rec.get({e.name!r}) or ())"
        if t.default is not None:
            return f"rec.get({e.name!r}, {_lit(t.default)})"
        if not t.optional:
            return f"rec[{e.name!r}]"
        return f"rec.get({e.name!r})"

    def x_Field(self, e: ast.Field, env):
        obj = self.x(e.obj, env)
        ot = self.typeof(e.obj)
        ft = self.typeof(e)
        if ot is None or ot.kind != "record":
            # Untyped by the schema: any JSON value may come, and a field of a non-object is absent.
            return f"_rt.field({obj}, {e.name!r})"
        base = f"({obj} or _E)" if ot.optional else obj
        if ft is not None and ft.kind == "list":
            return f"({base}.get({e.name!r}) or ())"
        if ft is not None and ft.default is not None:
            return f"{base}.get({e.name!r}, {_lit(ft.default)})"
        return f"{base}.get({e.name!r})"

    def x_Literal(self, e: ast.Literal, env):
        if e.kind == "decimal":
            return _lit(float(e.value))
        return _lit(e.value)

    def x_ListLit(self, e: ast.ListLit, env):
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
        a, b = self.x(e.left, env), self.x(e.right, env)
        if e.op == "/":
            return f"_rt.div({a}, {b})"
        if not self.optional(e.left) and not self.optional(e.right):
            return f"({a} {e.op} {b})"
        ta, tb = self.fresh(), self.fresh()
        return f"(None if ({ta} := {a}) is None or ({tb} := {b}) is None else {ta} {e.op} {tb})"

    def x_Compare(self, e: ast.Compare, env):
        a, b = self.x(e.left, env), self.x(e.right, env)
        oa, ob = self.optional(e.left), self.optional(e.right)
        if not oa and not ob:
            return f"({a} {e.op} {b})"
        if oa and not ob:
            t = self.fresh()
            return f"(({t} := {a}) is not None and {t} {e.op} {b})"
        if ob and not oa:
            t = self.fresh()
            return f"(({t} := {b}) is not None and {a} {e.op} {t})"
        ta, tb = self.fresh(), self.fresh()
        return f"(({ta} := {a}) is not None and ({tb} := {b}) is not None and {ta} {e.op} {tb})"

    def x_In(self, e: ast.In, env):
        a, b = self.x(e.left, env), self.x(e.right, env)
        if isinstance(e.right, ast.ListLit) and all(isinstance(i, ast.Literal) for i in e.right.items):
            b = self.const("frozenset(" + "(" + "".join(self.x(i, env) + ", " for i in e.right.items) + "))")
        if not e.negated:
            if self.optional(e.left):
                t = self.fresh()
                return f"(({t} := {a}) is not None and {t} in {b})"
            return f"({a} in {b})"
        t = self.fresh()
        return f"(({t} := {a}) is not None and {t} not in {b})"

    def x_And(self, e: ast.And, env):
        return "(" + " and ".join(self.x(i, env) for i in e.items) + ")"

    def x_Or(self, e: ast.Or, env):
        return "(" + " or ".join(self.x(i, env) for i in e.items) + ")"

    def x_Call(self, e: ast.Call, env):
        args = [self.x(a, env) for a in e.args]
        if e.func == "present":
            return f"({args[0]} is not None)"
        if e.func == "program_of":
            table = {c.name: c.program for c in self.pack.codes if c.program is not None}
            const = self.const("{" + "".join(f"{k!r}: {v!r}, " for k, v in sorted(table.items())) + "}")
            return f"{const}.get({args[0]})"
        if e.func == "default":
            t = self.fresh()
            return f"({t} if ({t} := {args[0]}) is not None else {args[1]})"
        if e.func not in runtime.FUNCTIONS:
            raise ValueError(f"unknown function {e.func!r}")
        return f"_rt.FUNCTIONS[{e.func!r}](" + ", ".join(args) + ")"

    def _loop_fn(self, var, source, env, body) -> str:
        """A module-level function with a plain ``for`` loop over ``source``: cheaper than a
        generator expression, and it returns as soon as the answer is known. ``body``
        gets (item variable, inner env) and returns the loop's statements; the call
        passes the variables in scope (rule lets, enclosing items) as arguments."""
        name = f"_q{self.fresh()[2:]}"
        outer = [py for py in dict.fromkeys(env.values()) if py not in ("ln", "sd")]
        inner = dict(env)
        py = _ident("v_", var) + f"_{self.fresh()[2:]}"
        inner[var] = py
        src = self.x(source, env)
        params = ", ".join(["rec", "hist", "ln", "sd"] + outer)
        head, loop, tail = body(py, inner)
        lines = [f"def {name}({params}):"] + ["    " + h for h in head]
        lines.append(f"    for {py} in {src}:")
        lines += ["        " + x for x in loop]
        lines += ["    " + t for t in tail]
        self.aux.extend(lines)
        return f"{name}(" + ", ".join(["rec", "hist", "ln", "sd"] + outer) + ")"

    def x_Quant(self, e: ast.Quant, env):
        if e.where is None:
            src = self.x(e.source, env)
            return {"any": f"(len({src}) > 0)", "all": "True", "count": f"len({src})"}[e.func]

        def body(py, inner):
            cond = self.x(e.where, inner)
            if e.func == "any":
                return [], [f"if {cond}:", "    return True"], ["return False"]
            if e.func == "all":
                return [], [f"if not ({cond}):", "    return False"], ["return True"]
            return ["n = 0"], [f"if {cond}:", "    n += 1"], ["return n"]

        return self._loop_fn(e.var, e.source, env, body)

    def x_Fold(self, e: ast.Fold, env):
        def body(py, inner):
            val = self.x(e.value, inner)
            guard = [f"if {self.x(e.where, inner)}:"] if e.where is not None else []
            ind = "    " if guard else ""
            if e.func == "sum":
                if not self.optional(e.value):
                    return ["s = 0"], guard + [f"{ind}s += {val}"], ["return s"]
                return ["s = 0"], guard + [f"{ind}x = {val}", f"{ind}if x is not None:", f"{ind}    s += x"], \
                    ["return s"]
            helper = {"min": "_rt.min_opt", "max": "_rt.max_opt", "count_distinct": "_rt.count_distinct",
                      "collect": "_rt.collect"}[e.func]
            return ["out = []"], guard + [f"{ind}out.append({val})"], [f"return {helper}(out)"]

        return self._loop_fn(e.var, e.source, env, body)


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
        self.rules = [r for r in pack.rules if _known(r.citations, as_of)]
        known_codes = {c.name: c for c in pack.codes if _known(c.citations, as_of)}
        self.codes = known_codes
        self.suggestions = [s for s in pack.suggestions]
        self._build()

    # ------------------------------------------------------------ code generation
    def _build(self):
        pack = self.pack
        em = _Emitter(pack)
        shape = pack.shape
        self.infos: list = []
        em.emit("# generated by rulecite from a checked pack; every pack constant is a repr() literal")
        for dv in pack.derived:
            fn = _ident("_let_", dv.name)
            em.source_map[fn] = dv.span
            em.emit(f"def {fn}(rec, hist, ln=None, sd=None):")
            em.emit(f"    return {em.x(dv.expr, {})}")
        self.line_blocks: dict = {}  # rule index -> statements that append it to `fired`
        for i, r in enumerate(self.rules):
            env = {r.var: "ln"} if r.var else {}
            lets = []
            for lt in r.lets:
                py = _ident("l_", lt.name)
                lets.append(f"{py} = {em.x(lt.expr, dict(env))}")
                env[lt.name] = py
            where = em.x(r.where, env) if r.where is not None else "True"
            cond = em.x(r.condition, env)
            fires = f"bool({cond})" if r.mode == "when" else f"not ({cond})"
            em.source_map[f"_rule{i}"] = r.span
            em.emit(f"def _rule{i}(rec, hist, ln, sd):")
            em.emit(f"    if not ({where}):")
            em.emit("        return False")
            for line in lets:
                em.emit("    " + line)
            em.emit(f"    return {fires}")
            if r.scope == "line":
                self.line_blocks[i] = self._line_block(i, r, lets, where, cond)
            # what a finding shows: the message (or the error that stopped it), evidence, fix
            em.source_map[f"_find{i}"] = r.span
            em.emit(f"def _find{i}(rec, hist, ln, sd):")
            for line in lets:
                em.emit("    " + line)
            parts = [_lit(p) if isinstance(p, str) else f"_fmt({em.x(p, env)})" for p in r.message.parts]
            em.emit("    try:")
            em.emit("        m = ''.join((" + "".join(p + ", " for p in parts) + "))")
            em.emit("    except _Exception as e:  # a message must never lose the verdict")
            em.emit("        m = e")
            fix = "None"
            if r.suggest is not None:
                parts = [_lit(p) if isinstance(p, str) else f"_fmt({em.x(p, env)})" for p in r.suggest.parts]
                fix = "''.join((" + "".join(p + ", " for p in parts) + "))"
            items = _evidence_items(r.condition)
            em.emit("    return m, (" + "".join(f"{em.x(it, env)}, " for it in items) + f"), {fix}")
            self.infos.append(RuleInfo(
                index=i, rule=r, lo=_day(r.window.start, LO), hi=_day(r.window.end, HI),
                citations=tuple(c.to_dict() for c in r.citations),
                evidence_paths=tuple((format_expr(it), evidence_path(it, r.var, shape.lines)) for it in items),
            ))
        self.sugg_infos = []
        for j, s in enumerate(self.suggestions):
            env = {s.var: "ln"} if s.var else {}
            where = em.x(s.where, env) if s.where is not None else "True"
            when = em.x(s.when, env) if s.when is not None else "True"
            units = em.x(s.units, env) if s.units is not None else "None"
            em.source_map[f"_sug{j}"] = s.span
            em.emit(f"def _sug{j}(rec, hist, ln, sd):")
            em.emit(f"    if not ({where} and {when}):")
            em.emit("        return None")
            parts = [_lit(p) if isinstance(p, str) else f"_fmt({em.x(p, env)})" for p in s.reason.parts]
            em.emit(f"    return ({units}, ''.join((" + "".join(p + ", " for p in parts) + ")))")
            self.sugg_infos.append(SuggestionInfo(j, s, _day(s.window.start, LO), _day(s.window.end, HI)))
        self._emit_decide(em)
        consts = [f"{name} = {text}" for text, name in em.consts.items()]
        header = ["from math import inf as _inf"] if False else []
        src = "\n".join(header + consts + em.aux + em.lines) + "\n"
        self.source = src
        self.filename = f"<rulecite {pack.name}@{pack.version} {pack.lock[:12]} as_of={self.as_of}>"
        linecache.cache[self.filename] = (len(src), None, src.splitlines(True), self.filename)
        self.source_map = em.source_map
        ns = {"__builtins__": dict(_SAFE_BUILTINS), "_rt": runtime, "_E": runtime.EMPTY, "_fmt": fmt_value,
              "_Exception": Exception}
        exec(compile(src, self.filename, "exec"), ns)  # noqa: S102 - text built from escaped constants only
        self._ns = ns
        self.decide = ns["_decide"]
        self.rule_fns = [ns[f"_rule{i}"] for i in range(len(self.rules))]
        self.find_fns = [ns[f"_find{i}"] for i in range(len(self.rules))]
        self.sugg_fns = [ns[f"_sug{j}"] for j in range(len(self.suggestions))]
        self.let_fns = {dv.name: ns[_ident("_let_", dv.name)] for dv in self.pack.derived}

    def _line_block(self, i: int, r: Rule, lets: list, where: str, cond: str) -> list:
        """Statements that append rule ``i`` to ``fired`` when it fires on line ``ln``.

        The `where` test is left out when it only says which codes the rule is for: the
        dispatch by code already guarantees it."""
        out, ind = [], ""
        if r.window.start and r.window.end:
            out, ind = [f"if {r.window.start.isoformat()!r} <= sd <= {r.window.end.isoformat()!r}:"], "    "
        elif r.window.start:
            out, ind = [f"if sd >= {r.window.start.isoformat()!r}:"], "    "
        elif r.window.end:
            out, ind = [f"if sd <= {r.window.end.isoformat()!r}:"], "    "
        if not (r.codes is not None and _codes_only(r.where, r.var, self.pack.shape.line_code)):
            out.append(f"{ind}if {where}:")
            ind += "    "
        out += [ind + line for line in lets]
        test = f"({cond})" if r.mode == "when" else f"not ({cond})"
        out += [f"{ind}if {test}:", f"{ind}    fired.append({i})"]
        return out

    def _emit_decide(self, em: _Emitter):
        """``_decide(rec, hist)`` -> (record-level fired, [(line fired, code state, service date)],
        suggestions); code state: 0 not in the catalog, 1 in its window, 2 outside it."""
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
        all_codes = sorted(set(by_code) | set(self.codes))

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
            em.emit(f"def {fn}(rec, hist, ln, sd):")
            em.emit("    fired = []")
            for k in key:
                for line in self.line_blocks[k]:
                    em.emit("    " + line)
            em.emit("    return fired")
        em.emit(f"_LINE_GENERIC = {generic_fn}")
        em.emit("_LINE = {")
        for c in all_codes:
            em.emit(f"    {c!r}: {line_fn[c]},")
        em.emit("}")
        em.emit("_WINDOWS = {")
        for name in sorted(self.codes):
            w = self.codes[name].window
            em.emit(f"    {name!r}: ({_day(w.start, LO)!r}, {_day(w.end, HI)!r}),")
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
            em.emit(f"    {c!r}: {sentries(sug_by_code[c] + sug_generic)},")
        em.emit("}")
        em.emit("_SRECORD = " + sentries(sug_record))
        em.emit("def _decide(rec, hist):")
        if shape.default_day == "last":
            em.emit(f"    d0 = _rt.last_day(rec[{shape.period!r}])")
        else:
            em.emit(f"    d0 = rec[{shape.period!r}] + '-01'")
        em.emit("    rfired = []")
        for x in record_rules:
            em.emit(f"    if {x.lo!r} <= d0 <= {x.hi!r} and _rule{x.index}(rec, hist, None, d0):")
            em.emit(f"        rfired.append({x.index})")
        em.emit("    out = []")
        em.emit("    sugs = []")
        em.emit(f"    for ln in (rec.get({shape.lines!r}) or ()):")
        em.emit(f"        code = ln.get({shape.line_code!r})")
        em.emit(f"        sd = ln.get({shape.line_date!r}) or d0")
        em.emit("        fired = _LINE.get(code, _LINE_GENERIC)(rec, hist, ln, sd)")
        em.emit("        w = _WINDOWS.get(code)")
        em.emit("        out.append((fired, 0 if w is None else (1 if w[0] <= sd <= w[1] else 2), sd))")
        if self.sugg_infos:
            em.emit("        for k, lo, hi, fn in _SDISPATCH.get(code, _SGENERIC):")
            em.emit("            if lo <= sd <= hi:")
            em.emit("                s = fn(rec, hist, ln, sd)")
            em.emit("                if s is not None:")
            em.emit("                    sugs.append((k, ln, s))")
            em.emit("    for k, lo, hi, fn in _SRECORD:")
            em.emit("        if lo <= d0 <= hi:")
            em.emit("            s = fn(rec, hist, None, d0)")
            em.emit("            if s is not None:")
            em.emit("                sugs.append((k, None, s))")
        em.emit("    return rfired, out, sugs")


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
