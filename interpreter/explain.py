"""Explain one record: a tracing evaluator over the checked pack model.

Takes a ``CompiledPack`` (for its rule list and clock) and one record; gives a plain
dict (JSON-ready) with, for every rule considered, whether its window and
applicability matched, the value of each condition and sub-expression, the outcome,
and for each failing rule the smallest change to the facts its condition asks for.

This evaluator walks the expressions directly, apart from the compiled code, with
the same semantics; tests compare the two on generated records, so each checks the
other. It keeps the same bounds: a derived value is computed once per record, the items
quantifiers, aggregates and ``in`` walk are charged to a step budget, and arithmetic
stays within +-2**63 (see ``compiler``).
"""

from __future__ import annotations

from rulecite.policy_lang import builtins
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.formatter import format_expr
from rulecite.policy_lang.model import Apply, Concat, Ref, known

from rulecite.interpreter.codegen import runtime
from rulecite.interpreter.codegen.compiler import default_service_date, fmt_value
from rulecite.interpreter.codegen.reads import expression_type

_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


class Tracer:
    def __init__(self, cp, rec, hist, steps: int = runtime.DEFAULT_MAX_STEPS):
        self.cp = cp
        self.pack = cp.pack
        self.rec = rec
        self.hist = hist
        self.let_cache: dict = {}
        self.param_values: dict = {}  # parameter name -> ((start day, value), ...) the clock knows
        self.absent: list = []
        self.budget = [steps]  # steps left for the whole explanation

    # ------------------------------------------------------------ evaluation
    def ev(self, e, env):
        return getattr(self, "e_" + type(e).__name__)(e, env)

    def e_Ref(self, e: Ref, env):
        if e.kind == "var" or (e.kind == "let" and e.name in env):
            return env[e.name]
        if e.kind == "let":
            if e.name not in self.let_cache:
                dv = next(d for d in self.pack.derived if d.name == e.name)
                self.let_cache[e.name] = self.ev(dv.expr, {})
            return self.let_cache[e.name]
        if e.kind == "set":
            return frozenset(self.pack.set(e.name).members)
        if e.kind == "param":
            return self.param(e.name, env.get("__sd__"))
        if e.kind == "special":
            return self.hist if e.name == "history" else env["__sd__"]
        t = e.type
        if t.kind == "list":
            return self.rec.get(e.name) or []
        if t.default is not None:
            return self.rec.get(e.name, t.default)
        v = self.rec.get(e.name)
        if v is None:
            self.absent.append(e.name)
        return v

    def e_Field(self, e: ast.Field, env):
        obj = self.ev(e.obj, env)
        t = expression_type(e)
        if not isinstance(obj, dict):
            obj = {}
        if t is not None and t.kind == "list":
            return obj.get(e.name) or []
        if t is not None and t.default is not None:
            return obj.get(e.name, t.default)
        v = obj.get(e.name)
        if v is None:
            self.absent.append(format_expr(e))
        return v

    def e_Literal(self, e, env):
        return float(e.value) if e.kind == "decimal" else e.value

    def e_ListLit(self, e, env):
        return [self.ev(i, env) for i in e.items]

    def e_Not(self, e, env):
        return not self.ev(e.operand, env)

    def e_Neg(self, e, env):
        v = self.ev(e.operand, env)
        return None if v is None else -v

    def e_BinOp(self, e, env):
        a, b = self.ev(e.left, env), self.ev(e.right, env)
        if e.op == "/":
            return runtime.div(a, b)
        if a is None or b is None:
            return None
        a, b = runtime.number(a), runtime.number(b)  # text or a list: stop before `*` repeats it
        if e.op == "+":
            return runtime.num(a + b)
        if e.op == "-":
            return runtime.num(a - b)
        return runtime.num(a * b)

    def e_Compare(self, e, env):
        a, b = self.ev(e.left, env), self.ev(e.right, env)
        if a is None or b is None:
            return False
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[e.op]

    def e_In(self, e, env):
        a, b = self.ev(e.left, env), self.ev(e.right, env)
        if a is None:
            return False
        found = runtime.isin(a, b, self.budget)
        return not found if e.negated else found

    def e_And(self, e, env):
        v = True
        for i in e.items:
            v = self.ev(i, env)
            if not v:
                return v
        return v

    def e_Or(self, e, env):
        v = False
        for i in e.items:
            v = self.ev(i, env)
            if v:
                return v
        return v

    def e_Call(self, e, env):
        args = [self.ev(a, env) for a in e.args]
        return builtins.call(e.func, args, self.pack)

    def e_If(self, e, env):
        return self.ev(e.then, env) if self.ev(e.cond, env) else self.ev(e.else_, env)

    def e_Concat(self, e, env):
        return runtime.concat(self.ev(e.left, env), self.ev(e.right, env), self.budget)

    def _bind(self, e: Apply, env) -> tuple:
        """(the definition, the environment of its body: its parameters bound to the arguments)."""
        d = self.pack.definition(e.name)
        inner = {"__sd__": env.get("__sd__")}
        for (name, _), a in zip(d.params, e.args):
            inner[name] = self.ev(a, env)
        return d, inner

    def e_Apply(self, e: Apply, env):
        runtime.call_step(self.budget)
        d, inner = self._bind(e, env)
        return self.ev(d.expr, inner)

    def param(self, name, sd):
        """The value of a dated parameter in force on ``sd`` (a top-level `let` reads it on the
        record's day), among the values the publication clock knows; as the compiled code."""
        p = self.pack.parameter(name)
        day = sd if sd is not None else default_service_date(self.pack.shape, self.rec)
        values = self.param_values.get(name)
        if values is None:  # the values the clock knows, found once: a read never walks them
            values = self.param_values[name] = tuple((v.start.isoformat(), v.value) for v in p.values
                                         if known(v.citations, self.cp.as_of))
        found = runtime.in_force(values, day, None, None)
        if p.type.kind == "list":
            return list(found or ())
        return found

    def _items(self, e, env):
        items = self.ev(e.source, env) or []
        self.budget[0] -= len(items)
        if self.budget[0] < 0:
            runtime.over_budget(self.budget)
        return items

    def e_Quant(self, e, env):
        items = self._items(e, env)
        if e.where is None:
            return {"any": len(items) > 0, "all": True, "count": len(items)}[e.func]
        vals = [self.ev(e.where, {**env, e.var: it}) for it in items]
        if e.func == "any":
            return any(vals)
        if e.func == "all":
            return all(vals)
        return sum(1 for v in vals if v)

    def e_Fold(self, e, env):
        out = []
        for it in self._items(e, env):
            inner = {**env, e.var: it}
            if e.where is None or self.ev(e.where, inner):
                out.append(self.ev(e.value, inner))
        if e.func == "sum":
            return runtime.num(sum(v for v in out if v is not None))
        if e.func == "min":
            return runtime.min_opt(out)
        if e.func == "max":
            return runtime.max_opt(out)
        if e.func == "count_distinct":
            return runtime.count_distinct(out)
        return runtime.collect(out)

    # ------------------------------------------------------------ traces
    def trace(self, e, env, depth=0) -> dict:
        """Value of ``e`` and of its sub-expressions (quantifier bodies are summarised)."""
        value = self.ev(e, env)
        node = {"expr": format_expr(e), "value": _plain(value)}
        if value is None:
            node["absent"] = True
        kids = []
        if depth < 6:
            if isinstance(e, (ast.And, ast.Or)):
                kids = [self.trace(i, env, depth + 1) for i in e.items]
            elif isinstance(e, (ast.Not, ast.Neg)):
                kids = [self.trace(e.operand, env, depth + 1)]
            elif isinstance(e, (ast.Compare, ast.In, ast.BinOp)):
                kids = [self.trace(x, env, depth + 1) for x in (e.left, e.right)
                        if not isinstance(x, ast.Literal) and not (isinstance(x, Ref) and x.kind == "set")]
            elif isinstance(e, ast.Call):
                kids = [self.trace(a, env, depth + 1) for a in e.args if not isinstance(a, ast.Literal)]
            elif isinstance(e, ast.If):
                taken = e.then if self.ev(e.cond, env) else e.else_  # the branch the value comes from
                kids = [self.trace(e.cond, env, depth + 1), self.trace(taken, env, depth + 1)]
            elif isinstance(e, Concat):
                kids = [self.trace(x, env, depth + 1) for x in (e.left, e.right)]
            elif isinstance(e, Apply):
                # the call's arguments, then its definition's body with the parameters bound
                kids = [self.trace(a, env, depth + 1) for a in e.args if not isinstance(a, ast.Literal)]
                d, inner = self._bind(e, env)
                node["definition"] = self.trace(d.expr, inner, depth + 1)
                node["parameters"] = {name: _plain(inner[name]) for name, _ in d.params}
            elif isinstance(e, (ast.Quant, ast.Fold)):
                node["items"] = len(self._items(e, env))
        if kids:
            node["children"] = kids
        return node

    def fixes(self, e, want: bool, env) -> list:
        """What would make ``e`` evaluate to ``want``: a list of readable needs."""
        have = self.ev(e, env)
        if bool(have) == want:
            return []
        if isinstance(e, ast.Not):
            return self.fixes(e.operand, not want, env)
        if isinstance(e, ast.And):
            if want:
                return [f for i in e.items for f in self.fixes(i, True, env)]
            return self._one_of([self.fixes(i, False, env) for i in e.items])
        if isinstance(e, ast.Or):
            if not want:
                return [f for i in e.items for f in self.fixes(i, False, env)]
            return self._one_of([self.fixes(i, True, env) for i in e.items])
        if isinstance(e, ast.Compare):
            op = e.op if want else _NEGATE[e.op]
            return [self._need(e.left, op, e.right, env)]
        if isinstance(e, ast.In):
            neg = e.negated if want else not e.negated
            return [self._need(e.left, "not in" if neg else "in", e.right, env)]
        if isinstance(e, ast.Quant) and e.func == "any":
            where = f" where {format_expr(e.where)}" if e.where is not None else ""
            if want:
                return [f"needs some {e.var} in {format_expr(e.source)}{where}; none found"]
            return [f"needs no {e.var} in {format_expr(e.source)}{where}; found {self._count(e, env)}"]
        if isinstance(e, ast.Quant) and e.func == "all":
            return [f"needs every {e.var} in {format_expr(e.source)} to satisfy {format_expr(e.where)}"
                    if want else f"needs some {e.var} in {format_expr(e.source)} to fail {format_expr(e.where)}"]
        return [f"needs {format_expr(e)} to be {'true' if want else 'false'}; it is {fmt_value(have)}"]

    def _count(self, e, env):
        return sum(1 for it in self._items(e, env) if e.where is None or self.ev(e.where, {**env, e.var: it}))

    @staticmethod
    def _one_of(options):
        options = [o for o in options if o]
        if len(options) == 1:
            return options[0]
        flat = [" and ".join(o) for o in options]
        return ["one of: " + " | ".join(flat)] if flat else []

    def _need(self, left, op, right, env) -> str:
        lv = self.ev(left, env)
        rv = self.ev(right, env)
        rtext = format_expr(right)
        rshown = rtext if isinstance(right, ast.Literal) or (isinstance(right, Ref) and right.kind == "set") \
            else f"{rtext} ({fmt_value(rv)})"
        has = "is absent" if lv is None else f"has {fmt_value(lv)}"
        return f"needs {format_expr(left)} {op} {rshown}; {has}"


def _plain(v):
    if isinstance(v, (frozenset, set)):
        return sorted(v)
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, list) and len(v) > 20:
        return f"[{len(v)} items]"
    return v


def _with_pack(rejection, ev):
    return rejection.with_pack(ev.packref) if rejection.pack is None else rejection


def explain_record(cp, record, line=None, history=None) -> dict:
    """See :func:`rulecite.interpreter.explain`."""
    from rulecite.interpreter.engine.evaluator import Evaluator

    history = history or []
    ev = Evaluator(cp)
    prepared = ev.prepare(record, 1)
    shape = cp.pack.shape
    if not isinstance(prepared, dict):  # named with its pack, as evaluate names it
        return {"rejected": _with_pack(prepared, ev).to_dict()}
    rec = prepared
    result = ev.judge(rec, sorted(history, key=lambda r: r.get(shape.period, "")), 1)
    if not hasattr(result, "lines"):  # the record cannot be evaluated: a rejection
        return {"rejected": _with_pack(result, ev).to_dict()}
    tr = Tracer(cp, rec, sorted(history, key=lambda r: r.get(shape.period, "")))
    d0 = default_service_date(shape, rec)
    out_rules = []
    lines = rec.get(shape.lines) or []
    for info in cp.infos:
        r = info.rule
        if r.scope == "record":  # a record-level rule judges every line, so it is always shown
            out_rules.append(_rule_trace(tr, info, None, d0, None))
            continue
        for ln in lines:
            lid = ln.get(shape.line_id)
            if line is not None and lid != line:
                continue
            sd = ln.get(shape.line_date) or d0
            out_rules.append(_rule_trace(tr, info, ln, sd, lid))
    verdicts = [v.to_dict() for v in result.lines if line is None or v.line == line]
    return {
        shape.id: rec.get(shape.id), shape.period: rec.get(shape.period),
        "pack": result.pack.to_dict(), "as_of": result.as_of,
        "lines": verdicts,
        "rules": out_rules,
        "findings": [f.to_dict() for f in result.findings if line is None or f.line in (line, None)],
        "suggestions": [s.to_dict() for s in result.suggestions],
    }


def _rule_trace(tr: Tracer, info, ln, sd, lid) -> dict:
    try:
        return _rule_trace_unsafe(tr, info, ln, sd, lid)
    except (ArithmeticError, TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as e:
        # The trace evaluates sub-expressions the compiled code short-circuits past;
        # a value of an unexpected type there must not lose the whole explanation.
        return {"rule": info.rule.id, "version": info.rule.version, "line": lid, "service_date": sd,
                "outcome": "not traced", "why": f"{e.__class__.__name__}: {str(e)[:200]}"}


def _rule_trace_unsafe(tr: Tracer, info, ln, sd, lid) -> dict:
    r = info.rule
    node = {"rule": r.id, "version": r.version, "title": r.title, "severity": r.severity, "line": lid,
            "service_date": sd, "window": str(r.window)}
    cov = tr.pack.coverage
    if ln is not None and not ((cov.start is None or cov.start.isoformat() <= sd)
                               and (cov.end is None or sd <= cov.end.isoformat())):
        # as the compiled dispatch: a line the pack does not cover meets no rule
        node["in_window"] = False
        node["outcome"] = "not in force"
        node["why"] = f"service date {sd} is outside the dates the pack covers ({cov}): coverage.outside denies it"
        return node
    in_window = info.lo <= sd <= info.hi
    node["in_window"] = in_window
    if not in_window:
        node["outcome"] = "not in force"
        node["why"] = f"in force {r.window}; service date {sd}"
        return node
    env = {"__sd__": sd}
    if r.var:
        env[r.var] = ln
    if r.codes is not None and ln is not None and ln.get(tr.pack.shape.line_code) not in r.codes:
        node["applies"] = False
        node["outcome"] = "not applicable"
        node["why"] = f"applies to {', '.join(r.codes)}"
        return node
    if r.where is not None:
        node["where"] = tr.trace(r.where, env)
        if not tr.ev(r.where, env):
            node["applies"] = False
            node["outcome"] = "not applicable"
            node["why"] = f"`{format_expr(r.where)}` is false"
            return node
    node["applies"] = True
    lets = {}
    for lt in r.lets:
        env[lt.name] = tr.ev(lt.expr, env)
        lets[lt.name] = _plain(env[lt.name])
    if lets:
        node["lets"] = lets
    node["condition"] = tr.trace(r.condition, env)
    cond = bool(tr.ev(r.condition, env))
    fires = cond if r.mode == "when" else not cond
    node["fires"] = fires
    node["outcome"] = r.severity if fires else "pass"
    if fires:
        want = r.mode != "when"
        node["fix"] = tr.fixes(r.condition, want, env)
    return node
