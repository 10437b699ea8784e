"""The definitions stage: each ``def`` typed once, in call order, with no recursion.

Takes the ``Checker`` (``checker.py``) after the sets (and the dated parameters); gives
``ck.defs`` (name -> ``model.Definition``, callees before callers) and a diagnostic for
each problem: a parameter type the language does not have (E300), a name taken twice
(E207), recursion, direct or through other definitions (E215, naming the cycle), a
definition that stands for too much work once the definitions it calls are written out
(E308). Calls of a definition are typed where they are written (``Expressions.x_Call``:
E307 for a wrong number or type of arguments).

A definition's body reads its parameters, the facts, ``history``, the sets, the dated
parameters and the definitions before it; not derived values (``let``): pass one as an
argument. Its parameters are typed as declared; its result type is its body's.

Why a size bound: a definition is compiled once, as one function, so the generated code
stays linear in the pack's text; but ``def f2(x: int) = f1(x) + f1(x)``, ``f3`` calling
``f2`` twice, and so on, would double the work of each call. ``size`` counts the nodes a
definition stands for with every call written out; past ``MAX_SIZE`` it is an error, and
at run time every call also charges one step of the record's budget.
"""

from __future__ import annotations

import attrs

from rulecite.policy_lang import builtins as B
from rulecite.policy_lang import types as T
from rulecite.policy_lang.check.expressions import nesting
from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import Apply, Definition, Ref
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.formatter import type_text

MAX_SIZE = 10_000  # expression nodes one definition may stand for, calls written out

SCALARS = {"int": T.INT, "number": T.DECIMAL, "bool": T.BOOL, "string": T.STRING, "date": T.DATE,
           "month": T.MONTH, "set": T.SET}
TYPE_NAMES = sorted([*SCALARS, "line", "record", "list"])


def declared_type(ck, t: ast.TypeRef) -> T.Type:
    """The language type of a parameter's declared type; ANY (after an error) when unknown.
    A parameter other than a list may be absent (an absent field passed on), so it is optional."""
    if t.name == "list":
        if t.item is None:
            ck.err("E300", "`list` needs the type of its items: `list of line`, `list of date`", t.span)
            return T.Type("list", item=T.ANY, optional=False)
        return T.Type("list", item=attrs.evolve(declared_type(ck, t.item), optional=False), optional=False)
    if t.item is not None:
        ck.err("E300", f"`{t.name} of ...`: only `list` takes `of`", t.span, [f"write `list of {t.name}`"])
    if t.name in SCALARS:
        return attrs.evolve(SCALARS[t.name], optional=t.name != "set")
    if t.name == "line":
        return attrs.evolve(ck.line_type, optional=True)
    if t.name == "record":
        return attrs.evolve(ck.record_type, optional=True)
    ck.err("E300", f"unknown type `{t.name}`", t.span,
           did_you_mean(t.name, TYPE_NAMES) or (f"types: {', '.join(TYPE_NAMES)}",))
    return T.ANY


def accepts(param: T.Type, arg: T.Type) -> bool:
    """Whether a value of type ``arg`` may be passed where ``param`` is declared."""
    if param.kind == "any" or arg.kind == "any":
        return True
    if param.kind == "decimal":
        return arg.kind in T.NUMERIC
    if param.kind == "list":
        return arg.kind == "list" and (param.item is None or arg.item is None or accepts(param.item, arg.item))
    if param.kind == "record":
        return arg.kind == "record" and arg.field_names == param.field_names
    return param.kind == arg.kind


def size(e, defs: dict) -> int:
    """How many expression nodes ``e`` stands for, each call of a definition written out."""
    total, stack = 0, [e]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(x)
            continue
        if isinstance(x, Ref) or not attrs.has(type(x)):
            total += isinstance(x, Ref)
            continue
        total += 1
        if isinstance(x, Apply):
            d = defs.get(x.name)
            total += d.size if d is not None else 0
            stack.extend(x.args)
            continue
        stack.extend(getattr(x, a.name) for a in attrs.fields(type(x)) if a.name not in ("span", "type"))
    return total


def definitions(ck) -> None:
    inherited = {d.name: d for d in ck.parent.definitions} if ck.parent else {}
    decls: dict = {}
    for m, d in ck.decls(ast.DefDecl):
        first = decls.get(d.name) or inherited.get(d.name)
        if first is not None:
            ck.err("E207", f"definition `{d.name}` is declared twice (first at {first.span})", d.span,
                   ["rename one definition, or remove the duplicate"])
            continue
        if d.name in B.NAMES:
            ck.err("E207", f"`{d.name}` is a built-in function; a definition cannot take its name", d.span,
                   ["choose another name"])
            continue
        if d.name in ck.sets or d.name in getattr(ck, "params", {}):
            kind = "set" if d.name in ck.sets else "dated parameter"
            ck.err("E211", f"definition `{d.name}` has the name of a {kind}", d.span,
                   ["choose another name: a name stands for one thing in a pack"])
        decls[d.name] = d
    ck.defs = dict(inherited)
    ck.bad_defs = set()
    ck.large_defs = set()
    state: dict = {}
    path: list = []

    def visit(name):
        if state.get(name) == "done":
            return
        d = decls[name]
        if state.get(name) == "active":
            cycle = path[path.index(name):] + [name]
            ck.err("E215", f"definition `{name}` calls itself: {' -> '.join(cycle)}", d.span,
                   ["a definition cannot be recursive, directly or through other definitions; "
                    "write the repeated part out, or bound it with a quantifier over a list"])
            ck.defs[name] = Definition(name, (), ast.Literal("int", 0), T.ANY, d.span)
            ck.bad_defs.add(name)  # its calls are not checked against this stand-in
            return
        state[name] = "active"
        path.append(name)
        calls = sorted({n.func for n in ast.walk(d.expr) if isinstance(n, ast.Call) and n.func in decls})
        for dep in calls:
            visit(dep)
        path.pop()
        if state.get(name) == "done":  # reached again through a cycle, and stubbed there
            return
        ck.defs[name] = check_one(ck, d, tuple(calls))
        state[name] = "done"

    for name in decls:
        visit(name)


def check_one(ck, d: ast.DefDecl, calls: tuple) -> Definition:
    scope = ck.base_scope({}).child()
    params = []
    for p in d.params:
        ck.check_shadow(p.name, p.span)
        if any(p.name == q for q, _ in params):
            ck.err("E207", f"definition `{d.name}` has two parameters named `{p.name}`", p.span)
        t = declared_type(ck, p.type)
        params.append((p.name, t))
        scope.names[p.name] = Ref("var", p.name, t)
    expr, t = ck.expr(d.expr, scope)
    depth = nesting(expr, {})
    n = size(expr, ck.defs)
    if n > MAX_SIZE and any(c in ck.large_defs for c in calls):
        ck.large_defs.add(d.name)  # told once, at the first definition of the chain past the bound
    elif n > MAX_SIZE and not any(c in ck.large_defs for c in calls):
        ck.large_defs.add(d.name)
        ck.err("E308", f"definition `{d.name}` stands for {n:,} expression nodes once the definitions it calls "
               f"are written out; the limit is {MAX_SIZE:,}", d.span,
               ["a definition that calls another several times multiplies its work; compute the repeated "
                "value once (a `let`, or a parameter) and pass it on"])
    signature = ", ".join(f"{p.name}: {type_text(p.type)}" for p in d.params)
    return Definition(d.name, tuple(params), expr, t, d.span, depth, n, calls, signature)
