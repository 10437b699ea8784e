"""The declaration stages: sources, codes, sets and derived values (``let``), and the
closing ``unused`` stage.

Each stage takes the ``Checker`` (``checker.py``), resolves one kind of declaration
(the extended pack's first, then this pack's, each name once), stores it on the
checker (``ck.sources``, ``ck.codes``, ``ck.sets``, ``ck.derived``) and adds a
diagnostic for each problem. Reads no file.
"""

from __future__ import annotations

from rulecite.policy_lang import types as T
from rulecite.policy_lang.check.expressions import nesting
from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import Code, CodeSet, Derived, Ref, Source, Window
from rulecite.policy_lang.syntax import nodes as ast


def unique(ck, kind, items, inherited):
    seen: dict = {}
    for m, d in items:
        name = d.name
        if name in seen or name in inherited:
            where = seen[name].span if name in seen else inherited[name].span
            ck.err("E207", f"{kind} `{name}` is declared twice (first at {where})", d.span,
                   [f"rename one {kind}, or remove the duplicate"])
            continue
        seen[name] = d
    return seen


def sources(ck) -> None:
    out = dict(by_name(ck.parent.sources)) if ck.parent else {}
    for name, d in unique(ck, "source", ck.decls(ast.SourceDecl), out).items():
        if not d.title:
            ck.err("E108", f"source `{name}` needs a `title`", d.span)
        if not (d.citation or d.url):
            ck.err("E108", f"source `{name}` needs a `citation` or a `url`", d.span,
                   ["give the Federal Register citation, e.g. `citation \"90 FR 49266\"`"])
        out[name] = Source(name, d.title or name, d.citation, d.document, d.published, d.effective, d.url,
                           d.kind, d.note, ck.cfg.name, d.span)
    ck.sources = out


def codes(ck) -> None:
    out = dict(by_name(ck.parent.codes)) if ck.parent else {}
    decls = unique(ck, "code", ck.decls(ast.CodeDecl), out)
    for name, d in decls.items():
        w = Window(d.effective, d.until)
        if w.empty:
            ck.inverted_window(f"code `{name}`", d)
        out[name] = Code(name, d.description, d.program, w, d.replaced_by, ck.citations(d.citations, d.span),
                         d.note, ck.cfg.name, d.span)
    for name, d in decls.items():
        for r in d.replaced_by:
            if r not in out:
                ck.err("E202", f"code `{name}` is replaced by unknown code `{r}`", d.span,
                       did_you_mean(r, out))
    ck.codes = out


def sets(ck) -> None:
    out = dict(by_name(ck.parent.sets)) if ck.parent else {}
    decls = unique(ck, "set", ck.decls(ast.SetDecl), out)
    resolving: set = set()

    def resolve(name) -> tuple:
        if name in out:
            return out[name].members
        d = decls[name]
        if name in resolving:
            ck.err("E210", f"set `{name}` includes itself", d.span)
            return ()
        resolving.add(name)
        members: set = set()
        for m in d.members:
            if m.program:
                of_program = [c.name for c in ck.codes.values() if c.program == m.name]
                if not of_program:
                    programs = sorted({c.program for c in ck.codes.values() if c.program})
                    ck.err("E216", f"set `{name}` names program `{m.name}`, and no code is in it", m.span,
                           did_you_mean(m.name, programs) or
                           ["a code joins a program with `program NAME` in its `code` declaration"])
                members.update(of_program)
            elif m.name in decls or m.name in out:
                ck.used.add(("set", m.name))
                members.update(resolve(m.name))
            elif m.name in ck.codes:
                members.add(m.name)
            else:
                ck.err("E203", f"set `{name}` names unknown code or set `{m.name}`", m.span,
                       did_you_mean(m.name, list(ck.codes) + list(decls) + list(out)))
        resolving.discard(name)
        out[name] = CodeSet(name, tuple(sorted(members)), d.title, ck.cfg.name, d.span)
        return out[name].members

    for name in decls:
        resolve(name)
    ck.sets = out


def lets(ck) -> None:
    inherited = {d.name: d for d in ck.parent.derived} if ck.parent else {}
    decls = unique(ck, "derived value", ck.decls(ast.LetDecl), inherited)
    out: dict = dict(inherited)
    let_names = {n: Ref("let", n, dv.type) for n, dv in out.items()}  # grows as lets are checked
    for n, dv in inherited.items():  # the parent's lets come in dependency order
        ck.let_depth[n] = nesting(dv.expr, ck.let_depth)
    state: dict = {}
    order: list = []

    def visit(name):
        if name in out and name not in decls:
            return
        if state.get(name) == "done":
            return
        d = decls[name]
        if state.get(name) == "active":
            ck.err("E210", f"derived value `{name}` depends on itself", d.span,
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
        ck.check_shadow(name, d.span, top=True)
        expr, t = ck.expr(d.expr, ck.base_scope(let_names))
        ck.note_let_depth(ck.let_depth, name, expr)
        out[name] = Derived(name, expr, t, d.span, tuple(deps))
        let_names[name] = Ref("let", name, t)
        state[name] = "done"
        order.append(name)

    for name in decls:
        visit(name)
    ck.derived = {**inherited, **{n: out[n] for n in order}}


def unused(ck) -> None:
    for m, d in ck.decls(ast.SetDecl):
        if ("set", d.name) not in ck.used:
            ck.err("W701", f"set `{d.name}` is never used", d.span, ["remove it, or use it in a rule"],
                   severity="warning")
    for m, d in ck.decls(ast.LetDecl):
        if ("let", d.name) not in ck.used:
            ck.err("W701", f"derived value `{d.name}` is never used", d.span, severity="warning")
    for m, d in ck.decls(ast.ParamDecl):
        if ("param", d.name) not in ck.used:
            ck.err("W701", f"parameter `{d.name}` is never used", d.span, severity="warning")
    for m, d in ck.decls(ast.DefDecl):
        if ("def", d.name) not in ck.used:
            ck.err("W701", f"definition `{d.name}` is never used", d.span, severity="warning")


def programs(ck) -> None:
    """A code of a program whose other codes rules read, which no rule can reach: a new
    code that joined its program in the catalog but none of the sets its rules read (W705).
    A program no rule reads at all is a catalogue entry, and a code whose window misses the
    coverage is history; neither is warned about."""
    reached: set = set()
    for kind, name in ck.used:
        if kind == "set" and name in ck.sets:
            reached.update(ck.sets[name].members)
    exprs = [d.expr for d in ck.derived.values()] + [d.expr for d in ck.defs.values()]
    for rule in ck.rules:
        reached.update(rule.codes or ())
        exprs += [rule.where, rule.condition, *(x.expr for x in rule.lets)]
    for e in exprs:
        reached.update(_strings(e))
    own = {d.name for _, d in ck.decls(ast.CodeDecl)}
    ruled = {c.program for c in ck.codes.values() if c.program and c.name in reached}
    for name in sorted(own):
        code = ck.codes.get(name)
        if code is None or code.program not in ruled or name in reached:
            continue
        if not code.window.overlaps(ck.cfg.coverage):
            continue  # a historical code: the catalog's window check is all it needs
        ck.err("W705", f"code `{name}` is in program `{code.program}`, whose rules never read it", code.span,
               [f"define the sets of `{code.program}` by program (`set NAME = {{program {code.program}}}`), "
                "or add the code to a set a rule reads"], severity="warning")


def _strings(expr) -> set:
    """The string literals of a checked expression (codes named in a condition)."""
    if expr is None:
        return set()
    return {n.value for n in ast.walk(expr) if isinstance(n, ast.Literal) and n.kind == "string"}


def by_name(items) -> dict:
    return {x.name: x for x in items}
