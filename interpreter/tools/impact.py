"""The decision impact of a change: every verdict that differs, grouped by rule.

Takes two ``RulePack`` values (an old and a new version) and the input items of a
population, or one pack and two service dates; gives an ``Impact``: per rule, how
many claim lines it now denies or no longer denies, by code, with example records.

Between two service dates, each subject's records are moved in time together (see
``timeshift``) so that its latest record falls in the month of the date, earlier
records staying its history; the latest records are the ones compared. The
question answered: "had these claims been served on date B instead of date A,
which verdicts would differ, and by which rules?"
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter

import attrs

from rulecite.interpreter.api import evaluate
from rulecite.interpreter.engine.results import Rejection
from rulecite.interpreter.tools.timeshift import Shifter, month_index

REJECTED = "(rejected)"


@attrs.frozen
class LineChange:
    id: object
    period: str
    line: object
    code: object
    before: str  # "allow" | "deny by a, b" | "rejected: ..."
    after: str
    input_line: int

    def to_dict(self) -> dict:
        return {"id": self.id, "period": self.period, "line": self.line, "code": self.code,
                "before": self.before, "after": self.after, "input_line": self.input_line}


@attrs.frozen
class RuleImpact:
    rule: str
    direction: str  # "now denies" | "no longer denies"
    count: int
    codes: tuple  # ((code, count), ...) most frequent first
    examples: tuple  # LineChange

    def to_dict(self) -> dict:
        return {"rule": self.rule, "direction": self.direction, "lines": self.count,
                "codes": [{"code": c, "lines": n} for c, n in self.codes],
                "examples": [e.to_dict() for e in self.examples]}


@attrs.frozen
class Impact:
    records: int  # input records
    compared: int  # records compared (all, or each subject's latest between two dates)
    lines: int  # claim lines compared
    changed: int  # claim lines whose verdict or deny rules differ
    allow_to_deny: int
    deny_to_allow: int
    by_rule: tuple  # RuleImpact, by count then rule
    date_a: _dt.date | None = None
    date_b: _dt.date | None = None
    changes: tuple = ()  # every changed line: (LineChange, rules that now deny it, rules that no longer do)

    def to_dict(self) -> dict:
        out = {"records": self.records, "compared": self.compared, "lines": self.lines, "changed": self.changed,
               "allow_to_deny": self.allow_to_deny, "deny_to_allow": self.deny_to_allow,
               "by_rule": [r.to_dict() for r in self.by_rule],
               "changes": [{**lc.to_dict(), "now_denied_by": list(plus), "no_longer_denied_by": list(minus)}
                           for lc, plus, minus in self.changes]}
        if self.date_a is not None:
            out["date_a"] = self.date_a.isoformat()
            out["date_b"] = self.date_b.isoformat()
        return out


def decision_impact(old, new, items, *, date_a=None, date_b=None, as_of=None, examples: int = 3) -> Impact:
    """Evaluate ``items`` under ``old`` and ``new`` (or under one pack on two dates) and compare."""
    items = list(items)
    if date_a is not None:
        a_items, keep = _moved(old.model, items, date_a)
        b_items, _ = _moved(new.model, items, date_b)
    else:
        a_items = b_items = items
        keep = None
    ra = list(evaluate(old, a_items, as_of=as_of))
    rb = list(evaluate(new, b_items, as_of=as_of))
    groups: dict = {}
    codes: dict = {}
    changed = lines = a2d = d2a = compared = 0
    every = []
    for i, (x, y) in enumerate(zip(ra, rb)):
        if keep is not None and i not in keep:
            continue
        compared += 1
        for lc, plus, minus in _line_changes(x, y):
            every.append((lc, tuple(plus), tuple(minus)))
            changed += 1
            if lc.before.startswith("allow") and lc.after.startswith("deny"):
                a2d += 1
            elif lc.before.startswith("deny") and lc.after.startswith("allow"):
                d2a += 1
            for rule, direction in [(r, "now denies") for r in plus] + [(r, "no longer denies") for r in minus]:
                key = (rule, direction)
                groups.setdefault(key, []).append(lc)
                codes.setdefault(key, Counter())[str(lc.code)] += 1
        lines += max(len(getattr(x, "lines", ())), len(getattr(y, "lines", ())), 0)
    by_rule = [RuleImpact(rule, direction, len(chs), tuple(sorted(codes[(rule, direction)].items(),
                                                                 key=lambda kv: (-kv[1], kv[0]))),
                          tuple(chs[:examples]))
               for (rule, direction), chs in groups.items()]
    by_rule.sort(key=lambda r: (-r.count, r.rule, r.direction))
    return Impact(len(items), compared, lines, changed, a2d, d2a, tuple(by_rule), date_a, date_b, tuple(every))


def _moved(model, items, day: _dt.date):
    """Each subject's records moved so that its latest falls in ``day``'s month; and the
    indexes of those latest records."""
    shape = model.shape
    shifter = Shifter(model.schema)
    target = day.year * 12 + day.month - 1
    parsed = [_parse(i) for i in items]
    out = list(parsed)
    keep = set()
    i = 0
    while i < len(parsed):
        rec = parsed[i]
        if not _usable(rec, shape):
            i += 1
            continue
        j = i
        group = []
        while j < len(parsed) and (not isinstance(parsed[j], dict) or parsed[j].get(shape.id) == rec.get(shape.id)):
            if _usable(parsed[j], shape):
                group.append(j)
            j += 1
        latest = max(month_index(parsed[k][shape.period]) for k in group)
        offset = target - latest
        for k in group:
            out[k] = shifter.shift(parsed[k], offset)
            if month_index(parsed[k][shape.period]) == latest:
                keep.add(k)
        i = j
    return out, keep


def _parse(item):
    if isinstance(item, (bytes, bytearray, str)):
        try:
            return json.loads(item)
        except (ValueError, RecursionError, UnicodeDecodeError):
            return item
    return item


def _usable(rec, shape) -> bool:
    if not isinstance(rec, dict):
        return False
    p = rec.get(shape.period)
    return isinstance(p, str) and len(p) >= 7 and p[:4].isdigit() and p[5:7].isdigit()


def _describe(v) -> str:
    if v is None:
        return "absent"
    return "allow" if v.verdict == "allow" else "deny by " + ", ".join(v.rules)


def _line_changes(x, y):
    if isinstance(x, Rejection) and isinstance(y, Rejection):
        return
    if isinstance(x, Rejection):
        for v in y.lines:
            yield (LineChange(y.id, y.period, v.line, v.code, f"rejected: {x.reason}", _describe(v), y.input_line),
                   sorted(v.rules), [REJECTED])
        return
    if isinstance(y, Rejection):
        for v in x.lines:
            yield (LineChange(x.id, x.period, v.line, v.code, _describe(v), f"rejected: {y.reason}", x.input_line),
                   [REJECTED], sorted(v.rules))
        return
    la = {i: v for i, v in enumerate(x.lines)}
    lb = {i: v for i, v in enumerate(y.lines)}
    for i in sorted(set(la) | set(lb)):
        va, vb = la.get(i), lb.get(i)
        if va is not None and vb is not None and va.verdict == vb.verdict and va.rules == vb.rules:
            continue
        ra = set(va.rules) if va is not None else set()
        rb = set(vb.rules) if vb is not None else set()
        v = vb or va
        yield (LineChange(y.id, y.period, v.line, v.code, _describe(va), _describe(vb), y.input_line),
               sorted(rb - ra), sorted(ra - rb))
