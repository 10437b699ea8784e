"""What changed in a pack's dated parameters and definitions (``rulecite diff``, with
``policy_lang.diff``).

Takes two checked ``Pack`` models (or one and two service dates); gives ``diff_items.Item``
values: a parameter added or removed, a value added, changed or removed by its ``from`` date
with the citations of the value on each side (a value added shows the value it replaces
from that date, so a reader sees ``2 -> 3`` and both sources), the value in force on each of
two dates; a definition (``def``) added, removed or changed (its parameters or body), each
naming the rules that read it, whose conditions read the same and now mean something else.
"""

from __future__ import annotations

import datetime as _dt

import attrs
from rulecite.policy_lang.diff_items import Change, Item, cite_text
from rulecite.policy_lang.model import Apply, Pack, Ref, params_read
from rulecite.policy_lang.syntax.formatter import format_expr


def value_text(p, v) -> str:
    """A parameter value as the language writes it: ``2``, ``"text"``, ``2027-01-01``, ``[1, 2]``."""
    kind = p.type.item.kind if p.type.kind == "list" and p.type.item is not None else p.type.kind

    def one(x) -> str:
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, str):
            return x if kind in ("date", "month") else '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(x) if isinstance(x, float) else str(x)

    return "[" + ", ".join(one(x) for x in v.value) + "]" if isinstance(v.value, tuple) else one(v.value)


def since(p, v) -> str:
    return f"{value_text(p, v)} (in force from {v.start.isoformat()})"


def _cites(v) -> tuple:
    return tuple(cite_text(c) for c in v.citations) if v is not None else ()


def _readers(pack: Pack, kind: str, name: str) -> tuple:
    """The ids of the rules (and suggestions) that read dated parameter or definition ``name``,
    directly or through lets and other definitions."""
    out = set()
    for r in (*pack.rules, *pack.suggestions):
        if name in (params_read(pack, r) if kind == "param" else _defs_called(pack, r)):
            out.add(r.id)
    return tuple(sorted(out))


def _defs_called(pack: Pack, rule) -> set:
    """The names of the definitions ``rule`` calls, through its lets, the top-level lets and
    other definitions."""
    found: set = set()
    stack = [getattr(rule, k, None) for k in ("where", "condition", "when", "units")]
    stack += [lt.expr for lt in getattr(rule, "lets", ())]
    stack += [getattr(getattr(rule, k, None), "parts", ()) or () for k in ("message", "suggest", "reason")]
    seen: set = set()
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(x)
        elif isinstance(x, Ref):
            if x.kind == "let" and x.name not in seen:
                seen.add(x.name)
                stack.extend(d.expr for d in pack.derived if d.name == x.name)
        elif attrs.has(type(x)):
            if isinstance(x, Apply) and x.name not in found:
                found.add(x.name)
                d = pack.definition(x.name)
                if d is not None:
                    stack.append(d.expr)
            stack.extend(getattr(x, a.name) for a in attrs.fields(type(x)) if a.name not in ("span", "type"))
    return found


def _read_by(pack: Pack, kind: str, name: str) -> str:
    readers = _readers(pack, kind, name)
    return f"read by {', '.join(readers)}" if readers else "read by no rule"


def diff_parameters(old: Pack, new: Pack) -> tuple:
    """Each dated parameter added or removed, and each value added, changed or removed,
    by its ``from`` date. A value added shows the value it replaces from that date (OLD's
    value in force then) with its citations; a value removed, the value NEW has in force
    then instead."""
    a, b = {p.name: p for p in old.parameters}, {p.name: p for p in new.parameters}
    out = []
    for name in sorted(set(a) | set(b)):
        pa, pb = a.get(name), b.get(name)
        if pa is None or pb is None:
            p, kind = (pb, "added") if pa is None else (pa, "removed")
            values = tuple(Change(f"value from {v.start.isoformat()}", *((None, value_text(p, v)) if pb else
                                                                          (value_text(p, v), None)),
                                  *(((), v.citations) if pb else (v.citations, ())))
                           for v in p.values)
            out.append(Item(name, kind, p.title or "", _read_by(new if pb else old, "param", name), values))
            continue
        changes, moves = [], []
        if pa.title != pb.title:
            changes.append(Change("title", pa.title, pb.title))
        if str(pa.type) != str(pb.type):
            changes.append(Change("type", str(pa.type), str(pb.type)))
        sa, sb = {v.start: v for v in pa.values}, {v.start: v for v in pb.values}
        for day in sorted(set(sa) | set(sb)):
            va, vb = sa.get(day), sb.get(day)
            when = day.isoformat()
            if va is not None and vb is not None:
                if value_text(pa, va) == value_text(pb, vb) and _cites(va) == _cites(vb):
                    continue
                changes.append(Change(f"value changed from {when}", value_text(pa, va), value_text(pb, vb),
                                      va.citations, vb.citations))
                moves.append(f"{when}: {value_text(pa, va)} -> {value_text(pb, vb)}")
            elif vb is not None:  # a new value from this date: OLD's value in force then is what it replaces
                was = pa.value_on(day)
                changes.append(Change(f"value added from {when}", since(pa, was) if was else None,
                                      value_text(pb, vb), was.citations if was else (), vb.citations))
                moves.append(f"from {when}: {value_text(pa, was) if was else '(absent)'} -> {value_text(pb, vb)}")
            else:  # a value no longer set from this date: NEW's value in force then takes its place
                now = pb.value_on(day)
                changes.append(Change(f"value removed from {when}", value_text(pa, va),
                                      since(pb, now) if now else None, va.citations, now.citations if now else ()))
                moves.append(f"from {when}: {value_text(pa, va)} -> {value_text(pb, now) if now else '(absent)'}")
        if changes:
            note = "; ".join([*moves, _read_by(new, "param", name)])
            out.append(Item(name, "changed", pb.title or "", note, tuple(changes)))
    return tuple(out)


def diff_definitions(old: Pack, new: Pack) -> tuple:
    """Each definition added, removed or changed (its parameters or its body), with the
    rules that call it: their conditions read the same and now mean something else."""
    a, b = {d.name: d for d in old.definitions}, {d.name: d for d in new.definitions}
    out = []
    for name in sorted(set(a) | set(b)):
        da, db = a.get(name), b.get(name)
        fa = {"parameters": da.signature, "body": format_expr(da.expr)} if da else None
        fb = {"parameters": db.signature, "body": format_expr(db.expr)} if db else None
        if fa == fb:
            continue
        if fa is None or fb is None:
            f, kind = (fb, "added") if fa is None else (fa, "removed")
            out.append(Item(name, kind, f"def {name}({f['parameters']})", _read_by(new if fb else old, "def", name),
                            (Change("body", None if fb else f["body"], f["body"] if fb else None),)))
            continue
        out.append(Item(name, "changed", f"def {name}({fb['parameters']})", _read_by(new, "def", name),
                        tuple(Change(k, fa[k], fb[k]) for k in fa if fa[k] != fb[k])))
    return tuple(out)


def parameters_on(pack: Pack, a: _dt.date, b: _dt.date) -> tuple:
    """Each dated parameter whose value in force differs between the two dates, with the
    citations of both values."""
    out = []
    for p in pack.parameters:
        va, vb = p.value_on(a), p.value_on(b)
        if va is vb:
            continue
        ta = since(p, va) if va else None
        tb = since(p, vb) if vb else None
        kind = "added" if va is None else "removed" if vb is None else "changed"
        note = f"{value_text(p, va) if va else '(absent)'} -> {value_text(p, vb) if vb else '(absent)'}; " \
               + _read_by(pack, "param", p.name)
        out.append(Item(p.name, kind, p.title or "", note,
                        (Change("value", ta, tb, va.citations if va else (), vb.citations if vb else ()),)))
    return tuple(out)
