"""The rule stages: each rule's id, applicability, condition and texts, and the suggestions.

``rules`` takes the ``Checker`` (``checker.py``) after the declaration stages: it checks
rule ids against the extended pack's (``override``), types each rule's scope, local
``let``s, condition, message and suggestion, and stores every version on the checker
(``ck.inherited_rules``, ``ck.own_rules``) for the ``timeline`` stage to make their
windows final. ``suggestions`` does the same for ``suggest`` declarations. Reads no
file.
"""

from __future__ import annotations

from rulecite.policy_lang import types as T
from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import Derived, Dispute, Ref, Rule, Suggestion, Window
from rulecite.policy_lang.syntax import nodes as ast

BUILTIN_RULES = ("catalog.window", "catalog.unknown-code", "coverage.outside")


def rules(ck) -> None:
    parent_rules = list(ck.parent.rules) if ck.parent else []
    parent_ids = {r.id for r in parent_rules}
    mine: list = []
    overridden: set = set()
    folded: dict = {r.id.casefold(): r.id for r in parent_rules}  # an id's pages and anchors ignore case
    for m, d in ck.decls(ast.RuleDecl):
        other = folded.setdefault(d.id.casefold(), d.id)
        if other != d.id:
            ck.err("E217", f"rule `{d.id}` differs from rule `{other}` only in upper and lower case", d.span,
                   [f"use `{other}` for another version of that rule, or choose an id that differs in more "
                    "than case (their reference pages would be one file on many disks)"])
        if d.id in BUILTIN_RULES:
            ck.err("E207", f"`{d.id}` is a built-in rule id", d.span)
        if d.id in parent_ids and not d.override:
            ck.err("E208", f"rule `{d.id}` is inherited from `{ck.parent.name}`", d.span,
                   [f"write `override rule {d.id} {{ ... }}` to replace it, or choose a new id"])
        if d.override:
            if d.id not in parent_ids:
                ck.err("E209", f"`override rule {d.id}`, but no extended pack has rule `{d.id}`", d.span,
                       did_you_mean(d.id, parent_ids) or ("remove `override`",))
            overridden.add(d.id)
        mine.append((m, d))
    ck.inherited_rules = [r for r in parent_rules if r.id not in overridden]
    ck.own_rules = [rule(ck, m, d) for m, d in mine]


def rule(ck, m, d: ast.RuleDecl) -> Rule:
    what = f"rule `{d.id}`"
    for key in ("title", "message"):
        if getattr(d, key) is None:
            ck.err("E108", f"{what} needs a `{key}`", d.span)
    if d.condition is None:
        ck.err("E108", f"{what} needs a verdict: `deny when ...`, `deny unless ...`, `warn ...` or `info ...`",
               d.span)
    if not d.citations:
        ck.err("E108", f"{what} needs at least one `cite`", d.span,
               ["every rule cites a declared source: `cite SOURCE section \"...\"`"])
    w = Window(d.effective, d.until)
    if w.empty:
        ck.inverted_window(what, d)
    elif not w.overlaps(ck.cfg.coverage):
        ck.err("E404", f"{what} is in force {w}, wholly outside the pack's coverage {ck.cfg.coverage}",
               d.span)
    scope, kind, var, where = scope_for(ck, d.scope, d.span, what)
    lets = []
    ck.local_depth = {}
    for lt in d.lets:
        ck.check_shadow(lt.name, lt.span)
        if lt.name in scope.names and scope.names[lt.name].kind in {"let", "var"}:
            ck.err("E211", f"`{lt.name}` hides a name that is already in scope", lt.span)
        x, t = ck.expr(lt.expr, scope)
        ck.note_let_depth(ck.local_depth, lt.name, x)
        scope.names[lt.name] = Ref("let", lt.name, t)
        lets.append(Derived(lt.name, x, t, lt.span))
    condition = ck.cond(d.condition, scope) if d.condition is not None else None
    message = ck.template(d.message, scope)
    suggest = ck.template(d.suggest, scope)
    codes = codes_of(ck, where, var)
    check_code_windows(ck, codes, w, d)
    cites = ck.citations(d.citations, d.span)
    disputes = []
    for dp in d.disputes:
        src = None
        if dp.source:
            src = ck.sources.get(dp.source)
            if src is None:
                ck.err("E204", f"unknown source `{dp.source}`", dp.span, did_you_mean(dp.source, ck.sources))
        disputes.append(Dispute(dp.text, src))
    src_lines = ck.lines(m.file)[d.span.line - 1: d.span.end_line] if d.span.line else []
    return Rule(
        id=d.id, version=1, title=d.title or d.id, summary=d.summary, severity=d.severity or "deny",
        window=w, declared_window=w, supersedes=d.supersedes, superseded_by=None, retired=None,
        citations=cites, disputes=tuple(disputes), scope=kind, var=var, where=where, lets=tuple(lets),
        mode=d.mode or "when", condition=condition, message=message, suggest=suggest, tags=d.tags,
        codes=codes, pack=ck.cfg.name, file=m.file, source_text="\n".join(src_lines), span=d.span,
    )


def check_code_windows(ck, codes, window: Window, d):
    if not codes:
        return
    known = [ck.codes[c] for c in codes if c in ck.codes]
    if known and not window.empty and not any(c.window.overlaps(window) for c in known):  # empty: E400 says it
        names = ", ".join(c.name for c in known)
        ck.err("E402", f"rule `{d.id}` ({window}) applies to {names}, which {'is' if len(known) == 1 else 'are'}"
               f" never in force in that window", d.span,
               [f"{c.name} is in force {c.window}" for c in known[:3]])


def suggestions(ck) -> None:
    out = list(ck.parent.suggestions) if ck.parent else []
    seen = {s.id for s in out}
    for m, d in ck.decls(ast.SuggestDecl):
        what = f"suggestion `{d.id}`"
        if d.id in seen:
            ck.err("E207", f"{what} is declared twice", d.span)
        seen.add(d.id)
        if d.code is None or d.reason is None:
            ck.err("E108", f"{what} needs `code` and `reason`", d.span)
        elif ck.codes and d.code not in ck.codes:
            ck.err("E202", f"{what} suggests unknown code `{d.code}`", d.span, did_you_mean(d.code, ck.codes))
        w = Window(d.effective, d.until)
        if w.empty:
            ck.inverted_window(what, d)
        scope, kind, var, where = scope_for(ck, d.scope, d.span, what)
        when = ck.cond(d.when, scope, "`when` condition") if d.when is not None else None
        units = None
        if d.units is not None:
            units, ut = ck.expr(d.units, scope)
            if not T.is_numeric(ut):
                ck.err("E300", f"{what}: `units` must be a number, got {ut}", d.units.span)
        out.append(Suggestion(d.id, d.title, w, kind, var, where, when, d.code or "", units,
                              ck.template(d.reason, scope), codes_of(ck, where, var), ck.cfg.name, d.span,
                              ck.citations(d.citations, d.span)))
    ck.suggestions = out


def scope_for(ck, scope_decl, span, what):
    base = ck.base_scope()
    if scope_decl is None:
        ck.err("E108", f"{what} needs `for line in {ck.cfg.shape.lines} where ...` or `for record`", span)
        return base, "record", None, None
    if isinstance(scope_decl, ast.RecordScope):
        where = ck.cond(scope_decl.where, base, "`where` condition") if scope_decl.where else None
        return base, "record", None, where
    if scope_decl.source != ck.cfg.shape.lines:
        ck.err("E212", f"{what} iterates over `{scope_decl.source}`; verdicts attach to "
               f"`{ck.cfg.shape.lines}`", scope_decl.span,
               [f"write `for {scope_decl.var} in {ck.cfg.shape.lines} where ...`"])
    ck.check_shadow(scope_decl.var, scope_decl.span)
    inner = base.child(line_var=scope_decl.var)
    inner.names[scope_decl.var] = Ref("var", scope_decl.var, ck.line_type)
    inner.names["service_date"] = Ref("special", "service_date", T.DATE)
    where = ck.cond(scope_decl.where, inner, "`where` condition") if scope_decl.where else None
    return inner, "line", scope_decl.var, where


def codes_of(ck, where, var) -> tuple | None:
    """Codes a line must have for ``where`` to hold (None: any code)."""
    code_field = ck.cfg.shape.line_code

    def is_code(x):
        return (isinstance(x, ast.Field) and x.name == code_field and isinstance(x.obj, Ref)
                and x.obj.name == var)

    def go(x):
        if isinstance(x, ast.In) and not x.negated and is_code(x.left):
            if isinstance(x.right, Ref) and x.right.kind == "set":
                return set(ck.sets[x.right.name].members) if x.right.name in ck.sets else None
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
