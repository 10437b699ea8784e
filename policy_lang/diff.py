"""What changed between two pack versions, or in one pack between two service dates.

Takes checked ``Pack`` models; gives a ``PackDiff``: the pack.toml settings that
change verdicts (coverage, record shape, unknown codes, extends), rules added, removed,
superseded, retired or changed (condition, applicability, window, message,
citations, title, severity), dated parameters added or removed and their values added,
changed or removed (each with its date and the citations on both sides), definitions
(``def``) added, removed or changed (a rule calling a changed definition changes meaning:
the item names those rules), codes added, removed, ended or replaced, sets (their members
as checked: a set by ``program`` takes a new code of its program) and derived values
changed, sources added or removed. ``PackDiff.to_dict``
gives it as data; the order is always the
same (sorted by id), so two runs give the same bytes. (The renderings live with the
other reports, in ``rulecite.interpreter.reports.diff``.)

``diff_packs(old, new)`` compares every version of every rule. ``diff_dates(pack,
a, b)`` compares what is in force on service date ``a`` with what is in force on
``b``: the rule version each date picks, the value each dated parameter has on each date,
the codes valid on each date, and the sources that those rules, values and codes cite.
"""

from __future__ import annotations

import datetime as _dt

import attrs
from rulecite.policy_lang.diff_items import Change, Item, PackDiff, Side, cite_text
from rulecite.policy_lang.diff_values import (
    diff_definitions,
    diff_parameters,
    parameters_on,
    value_text,
)
from rulecite.policy_lang.model import Pack
from rulecite.policy_lang.syntax.formatter import format_expr

__all__ = ["Change", "Item", "PackDiff", "Side", "cite_text", "diff_dates", "diff_packs", "value_text"]


def _scope(r, lines: str) -> str:
    where = f" where {format_expr(r.where)}" if r.where is not None else ""
    return f"for {r.var} in {lines}{where}" if r.scope == "line" else f"for record{where}"


def _rule_fields(r, lines: str = "lines") -> dict:
    return {
        "title": r.title,
        "severity": r.severity,
        "window": str(r.window),
        "applies": _scope(r, lines),
        "lets": "; ".join(f"{lt.name} = {format_expr(lt.expr)}" for lt in r.lets) or None,
        "condition": f"{r.severity} {r.mode} {format_expr(r.condition)}",
        "message": r.message.text if r.message is not None else None,
        "suggest": r.suggest.text if r.suggest is not None else None,
        "citations": "; ".join(cite_text(c) for c in r.citations) or None,
        "summary": r.summary,
    }


def _changes(before: dict, after: dict) -> tuple:
    return tuple(Change(k, before[k], after[k]) for k in before if before[k] != after[k])


def _code_window(c) -> str:
    return str(c.window) + (f"; replaced by {', '.join(c.replaced_by)}" if c.replaced_by else "")


def _side(pack: Pack, date=None) -> Side:
    return Side(pack.name, pack.version, pack.lock, date)


def _by_id(items, key="name") -> dict:
    out: dict = {}
    for i in items:
        out.setdefault(getattr(i, key), []).append(i)
    return out


# ---------------------------------------------------------------- two versions


def diff_packs(old: Pack, new: Pack) -> PackDiff:
    """Everything that differs between two versions of a pack (or two packs)."""
    return PackDiff("packs", _side(old), _side(new), _rules(old, new), _codes(old, new), _sets(old, new),
                    _derived(old, new), _sources(old, new), _settings(old, new), diff_parameters(old, new),
                    diff_definitions(old, new))


def _settings(old: Pack, new: Pack) -> tuple:
    """The pack.toml settings that change verdicts: the dates the pack covers (a record or
    line outside them is not judged), the record's shape, what an unknown code gets, and
    the packs it extends."""
    out = []
    a, b = old.coverage, new.coverage
    if a != b:
        bits = []
        if a.end != b.end:
            bits.append(f"now covers until {b.end.isoformat()}" if b.end else "now open-ended")
        if a.start != b.start:
            bits.append(f"now covers from {b.start.isoformat()}" if b.start else "now open at the start")
        out.append(Item("coverage", "changed", "Service dates the pack judges", "; ".join(bits),
                        (Change("coverage", str(a), str(b)),)))
    shape = tuple(Change(f.name, str(getattr(old.shape, f.name)), str(getattr(new.shape, f.name)))
                  for f in attrs.fields(type(old.shape)) if getattr(old.shape, f.name) != getattr(new.shape, f.name))
    if shape:
        out.append(Item("record", "changed", "Which record fields the rules read", "", shape))
    if old.unknown_codes != new.unknown_codes:
        out.append(Item("catalog", "changed", "What a code outside the catalog gets", "",
                        (Change("unknown_codes", old.unknown_codes, new.unknown_codes),)))
    if old.extends != new.extends:
        out.append(Item("extends", "changed", "The packs this one builds on", "",
                        (Change("extends", ", ".join(old.extends) or None, ", ".join(new.extends) or None),)))
    return tuple(out)


def _rules(old: Pack, new: Pack) -> tuple:
    a, b = _by_id(old.rules, "id"), _by_id(new.rules, "id")
    out = []
    for rid in sorted(set(a) | set(b)):
        va, vb = a.get(rid, []), b.get(rid, [])
        if not va:
            out.append(Item(rid, "added", vb[-1].title, "in force " + ", ".join(str(r.window) for r in vb)))
            continue
        if not vb:
            out.append(Item(rid, "removed", va[-1].title, "was in force " + ", ".join(str(r.window) for r in va)))
            continue
        changes = []
        starts_a = {r.declared_window.start: r for r in va}
        starts_b = {r.declared_window.start: r for r in vb}
        paired = len(va) == len(vb)
        pairs = list(zip(va, vb)) if paired else [(starts_a[s], starts_b[s]) for s in starts_a if s in starts_b]
        for ra, rb in pairs:
            prefix = f"v{rb.version} " if len(vb) > 1 else ""
            changes.extend(Change(prefix + c.field, c.before, c.after)
                           for c in _changes(_rule_fields(ra, old.shape.lines), _rule_fields(rb, new.shape.lines)))
        if not paired:
            for s, r in sorted(starts_b.items(), key=lambda kv: kv[0] or _dt.date.min):
                if s not in starts_a:
                    changes.append(Change("new version", None, f"v{r.version} in force {r.window}: "
                                          f"{r.severity} {r.mode} {format_expr(r.condition)}"))
            for s, r in sorted(starts_a.items(), key=lambda kv: kv[0] or _dt.date.min):
                if s not in starts_b:
                    changes.append(Change("version removed", f"v{r.version} in force {r.window}", None))
        last_a, last_b = va[-1], vb[-1]
        if last_b.superseded_by and last_b.superseded_by != last_a.superseded_by:
            end = last_b.window.end.isoformat() if last_b.window.end else "?"
            out.append(Item(rid, "superseded", last_b.title, f"superseded by {last_b.superseded_by} after {end}",
                            tuple(changes)))
        elif last_b.retired is not None and last_a.retired is None:
            ret = last_b.retired
            out.append(Item(rid, "retired", last_b.title, f"retired from {ret.from_date.isoformat()}"
                            + (f": {ret.reason}" if ret.reason else ""), tuple(changes)))
        elif changes:
            out.append(Item(rid, "changed", last_b.title, "", tuple(changes)))
    return tuple(out)


def _codes(old: Pack, new: Pack) -> tuple:
    a, b = {c.name: c for c in old.codes}, {c.name: c for c in new.codes}
    out = []
    for name in sorted(set(a) | set(b)):
        ca, cb = a.get(name), b.get(name)
        if ca is None:
            out.append(Item(name, "added", cb.description, f"valid {_code_window(cb)}"))
        elif cb is None:
            out.append(Item(name, "removed", ca.description, f"was valid {_code_window(ca)}"))
        else:
            changes = []
            if ca.window != cb.window:
                changes.append(Change("window", str(ca.window), str(cb.window)))
            if ca.replaced_by != cb.replaced_by:
                changes.append(Change("replaced_by", ", ".join(ca.replaced_by) or None,
                                      ", ".join(cb.replaced_by) or None))
            if ca.description != cb.description:
                changes.append(Change("description", ca.description, cb.description))
            ct_a = "; ".join(cite_text(c) for c in ca.citations) or None
            ct_b = "; ".join(cite_text(c) for c in cb.citations) or None
            if ct_a != ct_b:
                changes.append(Change("citations", ct_a, ct_b))
            if ca.program != cb.program:
                changes.append(Change("program", ca.program, cb.program))
            if not changes:
                continue
            if cb.window.end is not None and ca.window.end != cb.window.end and cb.replaced_by:
                kind, note = "replaced", f"ends {cb.window.end.isoformat()}; replaced by {', '.join(cb.replaced_by)}"
            elif cb.window.end is not None and ca.window.end is None:
                kind, note = "ended", f"ends {cb.window.end.isoformat()}"
            elif ca.replaced_by != cb.replaced_by and cb.replaced_by:
                kind, note = "replaced", f"replaced by {', '.join(cb.replaced_by)}"
            else:
                kind, note = "changed", ""
            out.append(Item(name, kind, cb.description, note, tuple(changes)))
    return tuple(out)


def _sets(old: Pack, new: Pack) -> tuple:
    a, b = {s.name: s for s in old.sets}, {s.name: s for s in new.sets}
    out = []
    for name in sorted(set(a) | set(b)):
        sa, sb = a.get(name), b.get(name)
        if sa is None:
            out.append(Item(name, "added", sb.title or "", "{" + ", ".join(sb.members) + "}"))
        elif sb is None:
            out.append(Item(name, "removed", sa.title or "", "{" + ", ".join(sa.members) + "}"))
        elif sa.members != sb.members:
            plus = sorted(set(sb.members) - set(sa.members))
            minus = sorted(set(sa.members) - set(sb.members))
            note = "; ".join(x for x in (f"adds {', '.join(plus)}" if plus else "",
                                         f"drops {', '.join(minus)}" if minus else "") if x)
            out.append(Item(name, "changed", sb.title or "", note,
                            (Change("members", ", ".join(sa.members), ", ".join(sb.members)),)))
    return tuple(out)


def _derived(old: Pack, new: Pack) -> tuple:
    a, b = {d.name: d for d in old.derived}, {d.name: d for d in new.derived}
    out = []
    for name in sorted(set(a) | set(b)):
        da, db = a.get(name), b.get(name)
        ea = format_expr(da.expr) if da else None
        eb = format_expr(db.expr) if db else None
        if ea == eb:
            continue
        kind = "added" if da is None else "removed" if db is None else "changed"
        out.append(Item(name, kind, "", "", (Change("expression", ea, eb),)))
    return tuple(out)


def _source_fields(s) -> dict:
    return {"title": s.title, "citation": s.citation, "document": s.document,
            "published": s.published.isoformat() if s.published else None,
            "effective": s.effective.isoformat() if s.effective else None, "url": s.url, "kind": s.kind}


def _sources(old: Pack, new: Pack) -> tuple:
    a, b = {s.name: s for s in old.sources}, {s.name: s for s in new.sources}
    out = []
    for name in sorted(set(a) | set(b)):
        sa, sb = a.get(name), b.get(name)
        if sa is None:
            out.append(Item(name, "added", sb.title, _source_note(sb)))
        elif sb is None:
            out.append(Item(name, "removed", sa.title, _source_note(sa)))
        else:
            changes = _changes(_source_fields(sa), _source_fields(sb))
            if changes:
                out.append(Item(name, "changed", sb.title, _source_note(sb), changes))
    return tuple(out)


def _source_note(s) -> str:
    bits = [s.citation or "", f"published {s.published.isoformat()}" if s.published else "", s.url or ""]
    return "; ".join(b for b in bits if b)


# ---------------------------------------------------------------- two service dates


def diff_dates(pack: Pack, date_a: _dt.date, date_b: _dt.date) -> PackDiff:
    """What a claim served on ``date_b`` is judged by, compared with one served on ``date_a``."""
    rules = _rules_on(pack, date_a, date_b)
    codes = _codes_on(pack, date_a, date_b)
    sources = _sources_on(pack, date_a, date_b)
    return PackDiff("dates", _side(pack, date_a), _side(pack, date_b), rules, codes, (), (), sources,
                    parameters=parameters_on(pack, date_a, date_b))


def _in_force(pack: Pack, day: _dt.date) -> dict:
    out = {}
    for r in pack.rules:
        if r.window.contains(day) and not r.window.empty:
            out[r.id] = r
    return out


def _rules_on(pack: Pack, a: _dt.date, b: _dt.date) -> tuple:
    ra, rb = _in_force(pack, a), _in_force(pack, b)
    out = []
    for rid in sorted(set(ra) | set(rb)):
        x, y = ra.get(rid), rb.get(rid)
        if x is None:
            start = y.window.start.isoformat() if y.window.start else "always"
            out.append(Item(rid, "added", y.title, f"in force from {start}"))
        elif y is None:
            end = x.window.end.isoformat() if x.window.end else "?"
            if x.superseded_by:
                out.append(Item(rid, "superseded", x.title, f"superseded by {x.superseded_by} after {end}"))
            elif x.retired is not None:
                ret = x.retired
                out.append(Item(rid, "retired", x.title, f"retired from {ret.from_date.isoformat()}"
                                + (f": {ret.reason}" if ret.reason else "")))
            else:
                out.append(Item(rid, "removed", x.title, f"in force until {end}"))
        elif x.version != y.version:
            changes = _changes(_rule_fields(x, pack.shape.lines), _rule_fields(y, pack.shape.lines))
            start = y.window.start.isoformat() if y.window.start else "?"
            out.append(Item(rid, "changed", y.title, f"version {x.version} -> {y.version} from {start}", changes))
    return tuple(out)


def _codes_on(pack: Pack, a: _dt.date, b: _dt.date) -> tuple:
    out = []
    for c in sorted(pack.codes, key=lambda c: c.name):
        in_a, in_b = c.window.contains(a), c.window.contains(b)
        if in_a == in_b:
            continue
        if in_b:
            start = c.window.start.isoformat() if c.window.start else "always"
            out.append(Item(c.name, "added", c.description, f"valid from {start}"))
        elif c.replaced_by:
            end = c.window.end.isoformat() if c.window.end else "?"
            out.append(Item(c.name, "replaced", c.description,
                            f"valid until {end}; replaced by {', '.join(c.replaced_by)}"))
        else:
            end = c.window.end.isoformat() if c.window.end else "?"
            out.append(Item(c.name, "ended" if c.window.end else "removed", c.description,
                            f"valid until {end}" if c.window.end else f"valid from {c.window.start}"))
    return tuple(out)


def _cited_on(pack: Pack, day: _dt.date) -> set:
    names = set()
    for r in _in_force(pack, day).values():
        names.update(c.source.name for c in r.citations)
    for c in pack.codes:
        if c.window.contains(day):
            names.update(ct.source.name for ct in c.citations)
    for p in pack.parameters:
        v = p.value_on(day)
        if v is not None:
            names.update(ct.source.name for ct in v.citations)
    return names


def _sources_on(pack: Pack, a: _dt.date, b: _dt.date) -> tuple:
    """Sources newly cited (or no longer cited) by what is in force, and sources whose own
    effective date falls between the two dates."""
    sa, sb = _cited_on(pack, a), _cited_on(pack, b)
    lo, hi = min(a, b), max(a, b)
    out = []
    for s in sorted(pack.sources, key=lambda s: s.name):
        if s.name in sa ^ sb:
            kind = "added" if s.name in sb else "removed"
            out.append(Item(s.name, kind, s.title, ("now cited; " if kind == "added" else "no longer cited; ")
                            + _source_note(s)))
        elif s.effective is not None and lo < s.effective <= hi:
            out.append(Item(s.name, "effective", s.title, f"takes effect {s.effective.isoformat()}; "
                            + _source_note(s)))
    return tuple(out)
