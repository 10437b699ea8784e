"""The decision impact of a change: every verdict that differs, grouped by rule.

Takes two ``RulePack`` values (an old and a new version) and the input items of a
population, or one pack and two service dates; gives an ``Impact``: per rule, how
many claim lines it now denies or no longer denies, by code, with example records, the
citations behind it (the rule's, then those of each dated parameter value it reads, as a
finding cites them), and each dated parameter it reads whose value differs between the
two sides on the first example's service date, with the citations of both values.

Between two service dates, each subject's records are moved in time together (see
``timeshift``) so that its latest record falls in the month of the date, earlier
records staying its history; the latest records are the ones compared. The
question answered: "had these claims been served on date B instead of date A,
which verdicts would differ, and by which rules?"
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import re
from collections import Counter

import attrs

from rulecite.policy_lang.carry import carry_forward
from rulecite.policy_lang.diff import value_text
from rulecite.policy_lang.model import known, params_read

from rulecite.interpreter.api import RulePack, evaluate
from rulecite.interpreter.codegen.compiler import default_service_date
from rulecite.interpreter.engine.results import Rejection
from rulecite.interpreter.tools.timeshift import Shifter, month_index

REJECTED = "(rejected)"
OUTSIDE = "coverage.outside"  # the built-in rule that denies a line dated outside the coverage


@attrs.frozen
class LineChange:
    id: object
    period: str
    line: object
    code: object
    before: str  # "allow" | "deny by a, b" | "rejected: ..."
    after: str
    input_line: int
    service_date: str | None = None
    carried: bool = False  # the old side judged it with its rules carried forward (see ``carry``)

    def to_dict(self) -> dict:
        return {"id": self.id, "period": self.period, "line": self.line, "code": self.code,
                "service_date": self.service_date, "before": self.before, "after": self.after,
                "carried_forward": self.carried, "input_line": self.input_line}


@attrs.frozen
class ValueChange:
    """A dated parameter a rule reads whose value differs between the two sides on ``day``
    (the first example's service date; between two dates, the value on each date)."""

    name: str
    day: str | None
    before: str | None  # the value as the language writes it; None: absent
    after: str | None
    cites_before: tuple = ()  # ``Citation.to_dict()`` of each value
    cites_after: tuple = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "service_date": self.day, "before": self.before, "after": self.after,
                "citations_before": list(self.cites_before), "citations_after": list(self.cites_after)}


@attrs.frozen
class RuleImpact:
    rule: str
    direction: str  # "now denies" | "no longer denies"
    count: int
    codes: tuple  # ((code, count), ...) most frequent first
    examples: tuple  # LineChange
    # the citations of a finding of the rule on the first example's service date, as the side
    # that denies has them (``Citation.to_dict()``): the rule's, then its dated parameter values'
    citations: tuple = ()
    values: tuple = ()  # ValueChange: the dated parameters it reads whose value differs between the sides

    def to_dict(self) -> dict:
        return {"rule": self.rule, "direction": self.direction, "lines": self.count,
                "codes": [{"code": c, "lines": n} for c, n in self.codes],
                "citations": list(self.citations),
                "values": [v.to_dict() for v in self.values],
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
    # The old side's last covered date, when it was carried forward to judge later dates
    # the new side covers (``carry.carry_forward``); and how many lines it judged so.
    carried_from: _dt.date | None = None
    carried_lines: int = 0
    # Not compared, and not counted as changes: records neither side covers, and lines
    # only one side covers (the coverage change itself is in the structural diff).
    outside_both: int = 0
    only_old_covers: int = 0
    only_new_covers: int = 0

    def to_dict(self) -> dict:
        out = {"records": self.records, "compared": self.compared, "lines": self.lines, "changed": self.changed,
               "allow_to_deny": self.allow_to_deny, "deny_to_allow": self.deny_to_allow,
               "carried_forward_from": self.carried_from.isoformat() if self.carried_from else None,
               "carried_forward_lines": self.carried_lines,
               "outside_both": self.outside_both, "only_old_covers": self.only_old_covers,
               "only_new_covers": self.only_new_covers,
               "by_rule": [r.to_dict() for r in self.by_rule],
               "changes": [{**lc.to_dict(), "now_denied_by": list(plus), "no_longer_denied_by": list(minus)}
                           for lc, plus, minus in self.changes]}
        if self.date_a is not None:
            out["date_a"] = self.date_a.isoformat()
            out["date_b"] = self.date_b.isoformat()
        return out


def decision_impact(old, new, items, *, date_a=None, date_b=None, as_of=None, examples: int = 3,
                    carry: bool = True) -> Impact:
    """Evaluate ``items`` under ``old`` and ``new`` (or under one pack on two dates) and compare.

    Between versions, when ``new`` covers service dates after the last one ``old`` covers,
    ``old`` judges them with what it had in force on its last covered date
    (``carry.carry_forward``; ``carry=False`` turns it off). Records neither side covers,
    and lines only one side covers, are counted apart, never as changes.

    Between versions, ``items`` is read once, as the two evaluations go, side by side:
    memory grows with the changes found, not with the records (a subject's group at most
    is held ahead). Between dates, every record is read first (a subject's records are
    moved in time together)."""
    carried_from = None
    if date_a is not None:
        items = list(items)
        a_items, keep = _moved(old.model, items, date_a)
        b_items, _ = _moved(new.model, items, date_b)
        recs = zip(a_items, b_items)
    else:
        # evaluated as given (text is read by the engine's own reader); parsed here only for
        # periods and dates; the three readers of the one stream stay within a group of each other
        a_items, b_items, mine = itertools.tee(items, 3)
        recs = ((r, r) for r in map(_parse, mine))
        keep = None
        last, until = old.model.coverage.end, new.model.coverage.end
        if carry and last is not None and (until is None or until > last):
            old = RulePack(carry_forward(old.model, until))
            carried_from = last
    ra = evaluate(old, a_items, as_of=as_of)
    rb = evaluate(new, b_items, as_of=as_of)
    sides = (old.model, new.model)
    groups: dict = {}
    codes: dict = {}
    changed = lines = a2d = d2a = compared = carried_lines = outside_both = only_old = only_new = 0
    every = []
    read = 0
    for i, (x, y, (rec_a, rec_b)) in enumerate(zip(ra, rb, recs)):
        read += 1
        if keep is not None and i not in keep:
            continue
        in_a = _record_covered(old.model, x, rec_a)
        in_b = _record_covered(new.model, y, rec_b)
        if not in_a and not in_b:
            outside_both += 1
            continue
        if not in_a or not in_b:  # one side cannot judge the record at all
            n = len(getattr(x if in_a else y, "lines", ()))
            only_old, only_new = (only_old + n, only_new) if in_a else (only_old, only_new + n)
            continue
        compared += 1
        dates = _service_dates(new.model, rec_b)
        late = [carried_from is not None and d is not None and d > carried_from.isoformat() for d in dates]
        if not isinstance(x, Rejection):
            carried_lines += sum(late[:len(x.lines)])
        for k, lc, plus, minus in _line_changes(x, y):
            if k is not None:
                lc = attrs.evolve(lc, service_date=dates[k] if k < len(dates) else None,
                                  carried=k < len(late) and late[k])
            if OUTSIDE in plus or OUTSIDE in minus:  # one side does not cover this line's date
                if OUTSIDE in plus:
                    only_old += 1
                else:
                    only_new += 1
                continue
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
                          tuple(chs[:examples]),
                          _citations(sides[1] if direction == "now denies" else sides[0], rule, chs[0].service_date,
                                     as_of),
                          _values(sides, rule, chs[0].service_date, date_a, date_b, as_of))
               for (rule, direction), chs in groups.items()]
    by_rule.sort(key=lambda r: (-r.count, r.rule, r.direction))
    return Impact(read, compared, lines, changed, a2d, d2a, tuple(by_rule), date_a, date_b, tuple(every),
                  carried_from, carried_lines, outside_both, only_old, only_new)


def _record_covered(model, result, rec) -> bool:
    """Whether the pack's coverage takes the record: anything but a rejection of its period
    as outside the dates the pack covers."""
    if not isinstance(result, Rejection) or not isinstance(rec, dict):
        return True
    period = rec.get(model.shape.period)
    if not isinstance(period, str) or len(period) < 7:
        return True
    cov = model.coverage
    return not ((cov.end is not None and period[:7] + "-01" > cov.end.isoformat())
                or (cov.start is not None and period[:7] + "-31" < cov.start.isoformat()))


def _service_dates(model, rec) -> list:
    """The service date of each line of ``rec`` (its own, or the period's default day)."""
    shape = model.shape
    if not isinstance(rec, dict) or not isinstance(rec.get(shape.lines), list):
        return []
    period = rec.get(shape.period)
    try:
        d0 = default_service_date(shape, rec) if isinstance(period, str) and len(period) >= 7 else None
    except (ValueError, TypeError, KeyError):
        d0 = None
    out = []
    for ln in rec[shape.lines]:
        d = ln.get(shape.line_date) if isinstance(ln, dict) else None
        out.append(d if isinstance(d, str) else d0)
    return out


def _day(day) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(day) if isinstance(day, str) else None
    except ValueError:
        return None


def _version(model, rule: str, when: _dt.date | None):
    """The version of ``rule`` in force on ``when`` (else its last), or None."""
    versions = model.rule_versions(rule)
    if not versions:
        return None
    if when is not None:
        return next((v for v in versions if v.window.contains(when)), versions[-1])
    return versions[-1]


def _value_on(p, when: _dt.date | None, as_of):
    """The value of parameter ``p`` in force on ``when`` that the publication clock knows."""
    if p is None or when is None:
        return None
    found = None
    for v in p.values:
        if v.start <= when and known(v.citations, as_of):
            found = v
    return found


def _citations(model, rule: str, day: str | None, as_of=None) -> tuple:
    """A finding's citations on ``day``: the rule version's, then those of each dated
    parameter value it reads that day (each once), as the engine writes them."""
    when = _day(day)
    chosen = _version(model, rule, when)
    if chosen is None:
        return ()
    out = [c.to_dict() for c in chosen.citations]
    for name in params_read(model, chosen):
        v = _value_on(model.parameter(name), when, as_of)
        for c in v.citations if v is not None else ():
            d = c.to_dict()
            if d not in out:
                out.append(d)
    return tuple(out)


def _values(sides, rule: str, day: str | None, date_a, date_b, as_of) -> tuple:
    """The dated parameters ``rule`` reads (on either side) whose value differs between the
    sides: on ``day`` between two versions, or on ``date_a`` and ``date_b`` in one pack."""
    days = (date_a, date_b) if date_a is not None else (_day(day), _day(day))
    versions = [_version(m, rule, d) for m, d in zip(sides, days)]
    names = sorted({n for m, v in zip(sides, versions) if v is not None for n in params_read(m, v)})
    out = []
    for name in names:
        params = [m.parameter(name) for m in sides]
        va, vb = (_value_on(p, d, as_of) for p, d in zip(params, days))
        ta = value_text(params[0], va) if va is not None else None
        tb = value_text(params[1], vb) if vb is not None else None
        if ta == tb:
            continue
        when = day if date_a is None else None
        out.append(ValueChange(name, when, ta, tb, tuple(c.to_dict() for c in va.citations) if va else (),
                               tuple(c.to_dict() for c in vb.citations) if vb else ()))
    return tuple(out)


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


_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}")  # ASCII digits only: "²025".isdigit() holds, int() refuses it


def _usable(rec, shape) -> bool:
    if not isinstance(rec, dict):
        return False
    p = rec.get(shape.period)
    return isinstance(p, str) and _PERIOD.match(p) is not None


def _describe(v) -> str:
    if v is None:
        return "absent"
    return "allow" if v.verdict == "allow" else "deny by " + ", ".join(v.rules)


def _line_changes(x, y):
    """(line index or None, LineChange, rules that now deny it, rules that no longer do)."""
    if isinstance(x, Rejection) and isinstance(y, Rejection):
        return
    if isinstance(x, Rejection):
        for k, v in enumerate(y.lines):
            yield (k, LineChange(y.id, y.period, v.line, v.code, f"rejected: {x.reason}", _describe(v), y.input_line),
                   sorted(v.rules), [REJECTED])
        return
    if isinstance(y, Rejection):
        for k, v in enumerate(x.lines):
            yield (k, LineChange(x.id, x.period, v.line, v.code, _describe(v), f"rejected: {y.reason}", x.input_line),
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
        yield (i, LineChange(y.id, y.period, v.line, v.code, _describe(va), _describe(vb), y.input_line),
               sorted(rb - ra), sorted(ra - rb))
