"""The module parts expressions call, for the ``Emitter`` of ``expressions`` (a mixin).

Takes the emitter's state (its table of names and constants, its units, the item being
compiled); gives, each written once and only when first used: named sets
(``set_CCM_CODES = frozenset(...)``), other constants (``_K3``), dated parameter tables
and their reads, derived values (``let_chronic_count``, computed at most once a record),
definitions (``def_same_practitioner``, a step a call) and the loop functions of
quantifiers and aggregates (``any_ccm_99439_minutes``: a plain ``for`` over the source,
its steps paid before it walks, not called on a source that is surely an empty list).
Each part is a unit: a list of (source line, ``Origin``) pairs.

Every token written comes from ``tokens``; see the module docstring of ``compiler`` for
the safety and the bounds.
"""

from __future__ import annotations

import datetime as _dt

from rulecite.policy_lang.model import CodeSet, Definition
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.types import Type

from rulecite.interpreter.codegen import runtime
from rulecite.interpreter.codegen.origins import origin_of
from rulecite.interpreter.codegen.reads import is_optional
from rulecite.interpreter.codegen.tokens import DAYS, FOLDS, QUANTS, CompileError, ident, lit, pick, show, text


class ModuleParts:
    """The part of the ``Emitter`` that writes module-level parts (see the module doc)."""

    def const(self, literal: str, fixed: str | None = None) -> str:
        """The module constant holding ``literal`` (``fixed``: its name, else ``_K<n>``)."""
        name = self.consts.get(literal)
        if name is None:
            name = self.names.reserve(fixed or f"_K{len(self.consts)}")
            self.consts[literal] = name
            self.const_lines.append((f"{name} = {literal}", self.owner))
        return name

    def set_const(self, name: str) -> str:
        """The module constant holding set ``name`` (``set_NAME = frozenset((...))``)."""
        found = self.sets.get(name)
        if found is not None:
            return found
        cs = self.pack.set(name)
        if type(cs) is not CodeSet or type(cs.members) is not tuple:
            raise CompileError(f"`{name}` is not a set of the pack")
        members = lit(tuple(text(m, "a set member") for m in cs.members))
        const = self.names.take("set", name)
        origin = origin_of(self.pack, "set", name, cs)
        self.const_lines += [(origin.comment(), origin), (f"{const} = frozenset({members})", origin)]
        self.sets[name] = const
        return const

    def param_values(self, name: str) -> tuple:
        """The values of dated parameter ``name`` the publication clock knows, in date order."""
        p = self.pack.parameter(text(name, "a parameter's name"))
        if p is None or type(p.values) is not tuple:
            raise CompileError(f"`{name}` is not a parameter of the pack")
        return tuple(v for v in p.values if self.known is None or self.known(v.citations))

    def param_read(self, name: str) -> str:
        """The value of dated parameter ``name`` in force on the service date ``sd`` (the record's
        day where ``sd`` is None: a top-level `let`, computed once per record)."""
        const = self.params.get(name)
        if const is None:
            shape = self.pack.shape
            rd = self.const(lit((text(shape.period, "the record's period"), pick(DAYS, shape.default_day, "day"))),
                            "_RECORD_DAY")
            values = self.param_values(name)
            for v in values:
                if type(v.start) is not _dt.date:
                    raise CompileError(f"a value of `{name}` starts on {show(v.start)}")
            table = lit(tuple((v.start.isoformat(), v.value) for v in values))
            const = self.names.take("param", name)
            origin = origin_of(self.pack, "param", name, self.pack.parameter(name))
            self.const_lines += [(origin.comment(), origin), (f"{const} = {table}", origin)]
            self.params[name] = (const, rd)
            const = self.params[name]
        read = f"_rt.in_force({const[0]}, sd, rec, {const[1]})"
        p = self.pack.parameter(name)
        return f"({read} or ())" if type(p.type) is Type and p.type.kind == "list" else read

    def unit(self, lines: list):
        """A module-level function of the item being compiled (the module opens each run of
        one item's functions with its ``# kind NAME file:line`` comment)."""
        self.units.append([(line, self.owner) for line in lines])

    def let_call(self, name: str) -> str:
        """The call of top-level derived value ``name``; compiled on its first use."""
        if name not in self.let_fns:
            k = self.let_index.get(name)
            if k is None or (self.let_limit is not None and not 0 <= k < self.let_limit):
                raise CompileError(f"`{name}` is not a derived value defined before this use")
            dv = self.pack.derived[k]
            saved = self.owner, self.let_limit, self.hoisted, self.hoist_names, self.avail
            self.owner, self.let_limit, self.hoisted, self.hoist_names = origin_of(self.pack, "let", name, dv), k, None, None
            self.avail = {}
            fn = self.names.take("let", name)
            expr = self.x(dv.expr, {})  # reads only the lets before it: no cycle can be compiled
            slot = len(self.let_slots) + 1
            # Computed at most once per record: the slot of the state list remembers it.
            self.unit([f"def {fn}(rec, hist, _m, ln=None, sd=None):", f"    v = _m[{slot}]", "    if v is _U:",
                       f"        v = _m[{slot}] = {expr}", "    return v"])
            self.let_slots[name], self.let_fns[name] = slot, fn
            self.owner, self.let_limit, self.hoisted, self.hoist_names, self.avail = saved
        # its slot is read in place: the function is called only while the value is unset
        t = self.fresh()
        return f"({t} if ({t} := _m[{self.let_slots[name]}]) is not _U else {self.let_fns[name]}(rec, hist, _m))"

    def def_fn(self, name) -> tuple:
        """(function name, parameter count) of definition ``name``; compiled on its first call
        as ``def def_NAME(rec, hist, ln, sd, _m, p_a, ...)``, which charges one step a call."""
        d = self.pack.definition(text(name, "a definition's name"))
        if type(d) is not Definition or type(d.params) is not tuple:
            raise CompileError(f"`{name}` is not a definition of the pack")
        if name in self.def_active:
            raise CompileError(f"definition `{name}` calls itself")
        if name not in self.def_fns:
            self.def_active.add(name)
            saved = self.owner, self.let_limit, self.hoisted, self.hoist_names, self.avail
            self.owner, self.let_limit, self.hoisted, self.hoist_names = (origin_of(self.pack, "def", name, d), -1,
                                                                          None, None)  # no `let`
            self.avail = {}
            fn = self.names.take("def", name)
            env = {}
            for pname, _ in d.params:
                env[pname] = ident("p_", pname)
            if len(set(env.values())) != len(d.params):
                raise CompileError(f"definition `{name}` names a parameter twice")
            body = self.x(d.expr, dict(env))
            params = "".join(", " + py for py in env.values())
            # the step charge of ``runtime.call_step``, written in place (a call costs more than it)
            self.unit([f"def {fn}(rec, hist, ln, sd, _m{params}):", "    _m[0] -= 1",
                       "    if _m[0] < 0: _rt.over_budget(_m)", f"    return {body}"])
            self.def_fns[name] = (fn, len(d.params))
            self.owner, self.let_limit, self.hoisted, self.hoist_names, self.avail = saved
            self.def_active.discard(name)
        return self.def_fns[name]

    # ------------------------------------------------------------ loops
    def loop_fn(self, node, kind: str, var, source, env, body, empty: str | None = None) -> str:
        """A module-level function with a plain ``for`` loop over ``source``: cheaper than a
        generator expression, and it returns as soon as the answer is known. ``body``
        gets (item variable, inner env) and returns the loop's statements; the call
        passes the variables in scope (rule lets, enclosing items) and the source as
        arguments. Before the loop starts, the record's step budget pays for every item it
        may visit. ``empty``: the loop's value over no items; when the source is surely a
        list (``surely_list``: empty exactly when falsy), the call site gives it without
        calling the function for an empty source (no item to walk, no step to pay)."""
        key = (id(node), tuple(sorted(env.items())))
        found = self.loop_calls.get(key)
        if found is not None and found[0] is node:
            return found[1]
        name = self.names.take(kind, self.owner.name if self.owner is not None else "x")
        outer = [py for py in dict.fromkeys(env.values()) if py not in ("ln", "sd")]
        inner = dict(env)
        py = ident("v_", var) + f"_{self.fresh()[2:]}"
        inner[var] = py
        saved, self.avail = self.avail, None  # the call may be written again elsewhere: it shares no read
        try:
            src = self.x(source, env)  # read at the call, before the loop (the caller's hoisting applies)
        finally:
            self.avail = saved
        if src in self.paths:
            self.paths[py] = self.paths[src] + "[{" + py + "}]"
        self.loops[py] = name
        params = ", ".join(["rec", "hist", "ln", "sd", "_m"] + outer + ["_s"])
        saved = self.hoisted, self.hoist_names, self.avail
        self.hoisted, self.hoist_names, self.avail = {}, None, {}  # one item's code shares its reads
        try:
            head, loop, tail = body(py, inner)
            hoisted = self.hoisted
        finally:
            self.hoisted, self.hoist_names, self.avail = saved
        lines = [f"def {name}({params}):"] + ["    " + h for h in head]
        lines += ["    _m[0] -= len(_s)", "    if _m[0] < 0: _rt.over_budget(_m)"]
        lines += [f"    {local} = {read}" for read, local in hoisted.items()]
        lines.append(f"    for {py} in _s:")
        lines += ["        " + x for x in loop]
        lines += ["    " + t for t in tail]
        self.unit(lines)
        args = ", ".join(["rec", "hist", "ln", "sd", "_m"] + outer)
        if empty is not None and self.surely_list(source, env):
            if src.isidentifier():  # a variable (a hoisted read, a `let`): read twice, cheaper than a store
                call = f"({name}({args}, {src}) if {src} else {empty})"
            else:
                t = self.temp(src)
                call = f"({name}({args}, {t}) if ({t} := {src}) else {empty})"
        else:
            call = f"{name}({args}, {src})"
        self.loop_calls[key] = (node, call)
        return call

    def x_Quant(self, e: ast.Quant, env):
        func = pick(QUANTS, e.func, "quantifier")
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

        return self.loop_fn(e, func, e.var, e.source, env, body, {"any": "False", "all": "True", "count": "0"}[func])

    def x_Fold(self, e: ast.Fold, env):
        helper = pick(FOLDS, e.func, "aggregate")

        def body(py, inner):
            guard = [f"if {self.x(e.where, inner)}:"] if e.where is not None else []  # runs first
            val = self.x(e.value, inner)
            ind = "    " if guard else ""
            if helper == "sum":
                if not is_optional(e.value):
                    return ["s = 0"], guard + [f"{ind}s += {val}"], ["return _num(s)"]
                return ["s = 0"], guard + [f"{ind}x = {val}", f"{ind}if x is not None:", f"{ind}    s += x"], \
                    ["return _num(s)"]
            if helper == "_rt.collect":  # runtime.collect's dropping of absent values, in place
                return ["out = []"], guard + [f"{ind}x = {val}", f"{ind}if x is not None:",
                                              f"{ind}    out.append(x)"], ["return out"]
            return ["out = []"], guard + [f"{ind}out.append({val})"], [f"return {helper}(out)"]

        return self.loop_fn(e, e.func, e.var, e.source, env, body, _EMPTY_FOLDS.get(e.func))


# The value of an aggregate over no items, written at a call site whose source is empty
# (``Emitter.loop_fn``): each is what its loop function gives for an empty source.
_EMPTY_FOLDS = {"sum": "0", "collect": "[]", "min": lit(runtime.min_opt(())), "max": lit(runtime.max_opt(())),
                "count_distinct": lit(runtime.count_distinct(()))}
