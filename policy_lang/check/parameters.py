"""The parameters stage: each dated parameter's values typed, ordered and cited.

Takes the ``Checker`` (``checker.py``) after the sources and sets; gives ``ck.params``
(name -> ``model.Parameter``) and a diagnostic for each problem: a name taken twice or
hiding a fact, a set or a special name (E207, E211), a parameter without values or a value
without a citation (E108), a value that is not a constant or not of the type of the others
(E309), `from` dates not in increasing order or outside the pack's coverage (E405), a
citation of an unknown source (E204), and, as for rules and codes, a value in force before
a source it cites took effect or was published (W703, unless the citation says
`restates`). Rules, `let`s, definitions and suggestions then read a parameter as a name
(``Ref("param", ...)``). Reads no file.
"""

from __future__ import annotations

import datetime as _dt

from rulecite.policy_lang import types as T
from rulecite.policy_lang.check.citations import RULE_KINDS
from rulecite.policy_lang.check.expressions import a_type, one_type, quoted_number
from rulecite.policy_lang.model import Parameter, ParamValue
from rulecite.policy_lang.syntax import nodes as ast

_LITERAL_TYPES = {"int": T.INT, "decimal": T.DECIMAL, "string": T.STRING, "date": T.DATE, "month": T.MONTH,
                  "bool": T.BOOL}


def constant(e) -> tuple | None:
    """(Python value, Type) of a constant expression: a literal, a negative number, or a list of
    those; None for anything else."""
    if isinstance(e, ast.Literal):
        value = float(e.value) if e.kind == "decimal" else e.value
        return value, _LITERAL_TYPES[e.kind]
    if isinstance(e, ast.Neg) and isinstance(e.operand, ast.Literal) and e.operand.kind in ("int", "decimal"):
        value, t = constant(e.operand)
        return -value, t
    if isinstance(e, ast.ListLit):
        values, item = [], T.ANY
        for i in e.items:
            got = constant(i)
            if got is None or isinstance(got[0], tuple):
                return None
            joined = one_type(item, got[1])
            if joined is None:
                return None
            values.append(got[0])
            item = joined
        return tuple(values), T.Type("list", item=item, optional=False)
    return None


def too_early(start: _dt.date, c) -> str | None:
    """Why a value from ``start`` predates its cited source, as rules are checked; or None."""
    s = c.source
    if c.restates:
        return None
    if s.kind in RULE_KINDS and s.effective and start < s.effective:
        return f"before `{s.name}` took effect ({s.effective.isoformat()})"
    if s.published and start < s.published:
        return f"before `{s.name}` was published ({s.published.isoformat()})"
    return None


def parameters(ck) -> None:
    out: dict = {p.name: p for p in ck.parent.parameters} if ck.parent else {}
    taken = set(ck.record_type.field_names) | set(ck.sets) | {"history", "service_date"}
    cov = ck.cfg.coverage
    for m, d in ck.decls(ast.ParamDecl):
        what = f"parameter `{d.name}`"
        if d.name in out:
            ck.err("E207", f"{what} is declared twice (first at {out[d.name].span})", d.span,
                   ["rename one parameter, or remove the duplicate"])
            continue
        ck.check_shadow(d.name, d.span, top=True)
        if d.name in taken:
            continue  # E211 above
        if not d.values:
            ck.err("E108", f"{what} needs at least one `from DATE value ...`", d.span)
            continue
        values, t = [], None
        for i, v in enumerate(d.values):
            got = constant(v.expr)
            if got is None:
                ck.err("E309", f"{what}: a value is a constant (a number, text, date, month, true/false, or a "
                       "list of those)", v.expr.span, ["compute with it in the rules that read the parameter"])
                continue
            value, vt = got
            if t is not None and one_type(t, vt) is None:
                hints = ["every value of a parameter is of one type"]
                quoted = quoted_number(v.expr)
                if quoted is not None and t.kind in T.NUMERIC:
                    hints.append(f"`{v.expr.value!r}` is text because of its quotes; drop them: `{quoted}`"
                                 .replace("'", '"'))
                ck.err("E309", f"{what}: the value from {v.start.isoformat()} is {a_type(vt)}, but the value "
                       f"before it is {a_type(t)}", v.expr.span, hints)
                continue
            t = vt if t is None else one_type(t, vt)
            if i and v.start <= d.values[i - 1].start:
                ck.err("E405", f"{what}: the value from {v.start.isoformat()} comes after the value from "
                       f"{d.values[i - 1].start.isoformat()}; write the values in date order, each from a "
                       "later date", v.span)
            if not cov.contains(v.start):
                ck.err("E405", f"{what}: the value from {v.start.isoformat()} starts outside the pack's "
                       f"coverage {cov}", v.span, ["extend the coverage in pack.toml, or drop the value"])
            if not v.citations:
                ck.err("E108", f"{what}: the value from {v.start.isoformat()} needs a `cite`", v.span,
                       ["each value cites the source that set it: `from DATE value X cite SOURCE ...`"])
            cites = ck.citations(v.citations, v.span)
            for c in cites:
                why = too_early(v.start, c)
                if why:
                    ck.err("W703", f"{what}: the value from {v.start.isoformat()} is in force {why}", v.span,
                           [f"cite the source in force on {v.start.isoformat()}, or start later; if "
                            f"`{c.source.name}` restates an older policy, write `cite {c.source.name} restates`"],
                           severity="warning")
            values.append(ParamValue(v.start, value, cites, v.span))
        # absent before its first value (an absent list is empty, as everywhere)
        ptype = T.Type(t.kind, item=t.item, optional=t.kind != "list") if t is not None else T.ANY
        out[d.name] = Parameter(d.name, d.title, ptype, tuple(sorted(values, key=lambda x: x.start)),
                                ck.cfg.name, d.span)
    ck.params = out
