"""Boundary cases without writing them: a pack's own test records moved across each date
where the pack changes, and every verdict that flips there.

Takes a ``RulePack``; gives a ``BoundaryReport``. ``change_dates`` reads the checked
``Pack`` model alone and lists every date where something starts or ends: a rule
version's window, a code's window (``effective``/``until``), and a dated value
(``Pack.parameters``: the day each value takes over). A date is kept when the day before
and the day itself both lie inside the pack's coverage (the other dates are listed as
not tried). For each kept date and each test, the test's records are moved in time
together (``timeshift``) twice: so that every service date of its last record (each
line's date, and the period's default date the record-wide rules use) falls before the
date, and so that every one falls on or after it. A move is by whole months when one
puts every date on its side (each date keeps its day of the month, so dates stay in
their periods and the record's timeline is kept), by days otherwise (every gap kept to
the day); among the moves that work, the one with a line nearest the date. Both are
evaluated and their last results compared line by line. A line whose verdict, deny
rules or warnings differ is a ``Flip``: with the changes on that date it comes from (a
rule of it, its code, a dated value one of its rules reads; none: the move alone, such
as a 30-day month become a 31-day one) and, for each rule that differs, its version,
what it did and its citations on each side. A date at which no flip comes from a change
is one no test record reaches: nothing the tests hold exercises what changes there.

Everything is sorted (dates, then tests in file and line order, then lines in record
order), so the report is the same bytes for the same pack. ``reports/boundaries``
writes it as text; ``BoundaryReport.to_dict`` is the JSON.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import PurePath

import attrs
from rulecite.interpreter.api import RulePack, evaluate
from rulecite.interpreter.codegen.compiler import default_service_date, fmt_value
from rulecite.interpreter.engine.results import Rejection
from rulecite.interpreter.tools.packtest import select_tests
from rulecite.interpreter.tools.timeshift import Shifter, month_index
from rulecite.policy_lang.model import params_read

_DAY = _dt.timedelta(days=1)


# ------------------------------------------------------------------ what changes, and when


@attrs.frozen(eq=False)
class Change:
    """One thing that changes on a date: a rule version, a code or a dated value starts
    (in force from that day) or ends (the day before was its last)."""

    kind: str  # rule | code | parameter
    name: str
    what: str  # starts | ends | changes (a dated value's later value)
    version: int | None
    title: str
    citations: tuple  # dicts, as results carry them
    value: str | None = None  # a dated value: the value from this day, as a message writes it

    def label(self) -> str:
        v = f" v{self.version}" if self.version is not None else ""
        to = "" if self.value is None else f" at {self.value}" if self.what == "starts" else f" to {self.value}"
        return f"{self.kind} {self.name}{v} {self.what}{to}"

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "what": self.what}
        if self.version is not None:
            out["version"] = self.version
        if self.value is not None:
            out["value"] = self.value
        out["title"] = self.title
        out["citations"] = [dict(c) for c in self.citations]
        return out


@attrs.frozen
class ChangeDate:
    date: _dt.date
    changes: tuple  # Change, sorted


def change_dates(pack) -> tuple:
    """Every date where something in the checked ``Pack`` starts or ends, in date order,
    each with what changes on it (all dates: see ``split_by_coverage``)."""
    marks: dict = {}

    def add(day, change):
        if day is not None:
            marks.setdefault(day, {}).setdefault((change.kind, change.name, change.version, change.what), change)

    for r in pack.rules:
        if r.window.empty:
            continue
        cites = tuple(c.to_dict() for c in r.citations)
        if r.window.start is not None:
            add(r.window.start, Change("rule", r.id, "starts", r.version, r.title, cites))
        if r.window.end is not None and r.window.end < _dt.date.max:
            add(r.window.end + _DAY, Change("rule", r.id, "ends", r.version, r.title, cites))
    for c in pack.codes:
        cites = tuple(x.to_dict() for x in c.citations)
        if c.window.start is not None:
            add(c.window.start, Change("code", c.name, "starts", None, c.description, cites))
        if c.window.end is not None and c.window.end < _dt.date.max:
            add(c.window.end + _DAY, Change("code", c.name, "ends", None, c.description, cites))
    for day, change in _parameter_changes(pack):
        add(day, change)
    order = {"rule": 0, "code": 1, "parameter": 2}
    return tuple(ChangeDate(d, tuple(sorted(cs.values(), key=lambda c: (order.get(c.kind, 3), c.name, c.version or 0,
                                                                 c.what))))
                 for d, cs in sorted(marks.items()))


def _parameter_changes(pack):
    """Dated values (``Pack.parameters``): each value's ``start``, in force until the next
    value's; the first starts the parameter (before it, it is absent), a later one changes it."""
    for p in getattr(pack, "parameters", None) or ():
        for i, v in enumerate(getattr(p, "values", None) or ()):
            cites = tuple(c.to_dict() for c in getattr(v, "citations", None) or ())
            title = str(getattr(p, "title", None) or p.name)
            yield v.start, Change("parameter", p.name, "starts" if i == 0 else "changes", None, title, cites,
                                  fmt_value(v.value))


def split_by_coverage(dates, coverage) -> tuple:
    """(dates whose day before and day itself both lie in ``coverage``, the others; the
    first day a date can name has no day before it)."""
    inside, outside = [], []
    for cd in dates:
        ok = cd.date > _dt.date.min and coverage.contains(cd.date - _DAY) and coverage.contains(cd.date)
        (inside if ok else outside).append(cd)
    return tuple(inside), tuple(outside)


# ------------------------------------------------------------------ what flips


@attrs.frozen
class RuleSide:
    """What one rule did on one side of a date, for one line."""

    # deny | warn | info (it fired) | passed (in force, did not fire) | not in force |
    # did not fire (a built-in rule such as catalog.window)
    status: str
    version: int | None
    citations: tuple  # dicts

    def to_dict(self) -> dict:
        out = {"status": self.status}
        if self.version is not None:
            out["version"] = self.version
        out["citations"] = [dict(c) for c in self.citations]
        return out


@attrs.frozen
class RuleChange:
    rule: str
    before: RuleSide
    after: RuleSide

    def to_dict(self) -> dict:
        return {"rule": self.rule, "before": self.before.to_dict(), "after": self.after.to_dict()}


@attrs.frozen
class Side:
    """A line's outcome on one side: the day it was served, its verdict, its deny rules
    and warnings (``verdict`` is ``rejected`` and ``reason`` says why when the record
    was rejected on that side)."""

    date: str
    verdict: str
    rules: tuple = ()
    warnings: tuple = ()
    reason: str | None = None

    def text(self) -> str:
        if self.verdict == "rejected":
            return f"rejected ({self.reason})"
        out = self.verdict + (" by " + ", ".join(self.rules) if self.rules else "")
        return out + ("; warnings " + ", ".join(self.warnings) if self.warnings else "")

    def to_dict(self) -> dict:
        out = {"date": self.date, "verdict": self.verdict, "rules": list(self.rules), "warnings": list(self.warnings)}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@attrs.frozen
class Flip:
    date: _dt.date
    test: str
    file: str  # inside the pack folder when it lies there
    test_line: int
    line: object  # the line's id (None: the record was rejected on one side)
    code: object
    kind: str  # verdict | rules | warnings | rejected
    before: Side
    after: Side
    rules: tuple  # RuleChange, by rule id
    # the changes on this date it comes from (Change): a rule of it, or the line's code,
    # starting or ending. Empty: the move alone changed how the record reads (a month of
    # another length, a rule that reads the date itself), not a change of the pack.
    cause: tuple = ()

    def to_dict(self) -> dict:
        return {"date": self.date.isoformat(), "test": self.test, "file": self.file, "test_line": self.test_line,
                "line": self.line, "code": self.code, "kind": self.kind,
                "cause": [c.label() for c in self.cause], "before": self.before.to_dict(),
                "after": self.after.to_dict(), "rules": [r.to_dict() for r in self.rules]}


@attrs.frozen
class BoundaryReport:
    pack: str
    version: str
    tests: int  # tests moved
    deselected: int  # tests left out by select
    dates: tuple  # ChangeDate inside the coverage: the ones tried
    outside: tuple  # ChangeDate whose day before or day itself lies outside the coverage
    flips: tuple  # Flip
    unplaced: tuple  # (date, test name): records that cannot be put wholly on one side

    @property
    def unreached(self) -> tuple:
        """The tried dates at which no test record's verdict changes because of a change
        of the pack on that date."""
        hit = {f.date for f in self.flips if f.cause}
        return tuple(cd for cd in self.dates if cd.date not in hit)

    def unreached_changes(self, cd: ChangeDate) -> tuple:
        """The changes on ``cd``'s date that no flip comes from."""
        reached = {id(c) for f in self.flips if f.date == cd.date for c in f.cause}
        return tuple(c for c in cd.changes if id(c) not in reached)

    def to_dict(self) -> dict:
        hit: dict = {}
        for f in self.flips:
            hit[f.date] = hit.get(f.date, 0) + 1
        unreached = {cd.date for cd in self.unreached}
        return {
            "pack": {"name": self.pack, "version": self.version},
            "tests": self.tests, "deselected": self.deselected,
            "dates": [{"date": cd.date.isoformat(), "flips": hit.get(cd.date, 0), "reached": cd.date not in unreached,
                       "changes": [c.to_dict() for c in cd.changes],
                       "unreached_changes": [c.label() for c in self.unreached_changes(cd)]}
                      for cd in self.dates],
            "flips": [f.to_dict() for f in self.flips],
            "unreached": [cd.date.isoformat() for cd in self.unreached],
            "unplaced": [{"date": d.isoformat(), "test": name} for d, name in self.unplaced],
            "outside_coverage": [cd.date.isoformat() for cd in self.outside],
        }


def boundary_report(pack: RulePack, select=(), include_inherited: bool = False) -> BoundaryReport:
    """Move the pack's tests (those ``select`` keeps) across every change date inside its
    coverage and report what flips."""
    model = pack.model
    tests = [t for t in model.tests if include_inherited or t.pack == model.name]
    chosen = select_tests(tests, select, model.root)
    chosen.sort(key=lambda t: (_rel(t.file, model.root), t.span.line))
    dates, outside = split_by_coverage(change_dates(model), model.coverage)
    mover = _Mover(model)
    flips, unplaced = [], []
    for cd in dates:
        for t in chosen:
            before = mover.place(t.records, cd.date - _DAY, latest=True)
            after = mover.place(t.records, cd.date, latest=False)
            if before is None or after is None:
                unplaced.append((cd.date, t.name))
                continue
            rb = _last(pack, before, t.as_of)
            ra = _last(pack, after, t.as_of)
            flips.extend(_flips(model, cd, t, _rel(t.file, model.root), rb, ra))
    return BoundaryReport(model.name, model.version, len(chosen), len(tests) - len(chosen), dates, outside,
                          tuple(flips), tuple(unplaced))


def _rel(file: str, root: str) -> str:
    p = PurePath(file)
    return p.relative_to(root).as_posix() if root and p.is_relative_to(root) else p.as_posix()


def _last(pack, records, as_of):
    results = list(evaluate(pack, records, as_of=as_of))
    return results[-1] if results else None


# ------------------------------------------------------------------ moving records


def place_records(model, records, target: _dt.date, latest: bool):
    """``records`` (a test's, the last one judged) moved so that every service date of the
    last falls on or before ``target`` (``latest``) or on or after it; None when it cannot
    be done. See ``_Mover.place``."""
    return _Mover(model).place(records, target, latest)


class _Mover:
    """Places a test's records so that its last record's service dates all fall on one
    side of a date (see the module docstring)."""

    def __init__(self, model):
        self.shape = model.shape
        self.shifter = Shifter(model.schema)

    def service_dates(self, rec) -> tuple | None:
        """(the period's default date, each line's date or that default), as dates;
        None when the record's period or a date cannot be read."""
        shape = self.shape
        try:
            d0 = default_service_date(shape, rec)
            lines = [ln.get(shape.line_date) or d0 for ln in rec.get(shape.lines) or [] if isinstance(ln, dict)]
            return _dt.date.fromisoformat(d0), [_dt.date.fromisoformat(d) for d in lines]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return None

    def place(self, records, target: _dt.date, latest: bool):
        """The records moved so that the last one's service dates are all on or before
        ``target`` (``latest``) or all on or after it; None when that cannot be done.

        First by whole months (every date keeps its day of the month, so each date stays
        in its period and the record's timeline is kept): into ``target``'s month, else
        the month before (``latest``) or after. Only when no whole-month move puts every
        date on its side, by days (every gap between dates kept to the day). Among the
        moves that work, the one with a line nearest ``target``."""
        records = [dict(r) if isinstance(r, dict) else r for r in records]
        if not records or not isinstance(records[-1], dict):
            return None
        got = self.service_dates(records[-1])
        if got is None:
            return None
        d0, lines = got
        for by_days in (False, True):
            best = None
            for anchor in sorted(set(lines) | {d0}):
                n = month_index(target.isoformat()) - month_index(anchor.isoformat())
                for months in (n, n - 1 if latest else n + 1):
                    k = (target - anchor).days if by_days else None
                    score = self._score(records[-1], months, k, target, latest)
                    if score is not None and (best is None or score < best[0]):
                        best = (score, months, k)
            if best is not None:
                _, months, k = best
                return [self.shifter.shift(r, months, days=k) for r in records]
        return None

    def _score(self, rec, months, days, target, latest):
        """How near ``target`` the move puts the record's nearest line (then its nearest
        date), or None when some service date lands on the wrong side."""
        moved = self.service_dates(self.shifter.shift(rec, months, days=days))
        if moved is None:
            return None
        m0, mlines = moved
        every = [m0, *mlines]
        if not all((d <= target) if latest else (d >= target) for d in every):
            return None
        return (min(abs((d - target).days) for d in (mlines or [m0])),
                min(abs((d - target).days) for d in every), months)


# ------------------------------------------------------------------ comparing


def _cause(model, cd: ChangeDate, rules, code) -> tuple:
    """The changes on ``cd`` a flip comes from: its rules', its line code's, and the dated
    values its rules read."""
    ids = {rc.rule for rc in rules}
    read: set = set()
    if any(c.kind == "parameter" for c in cd.changes):
        for r in model.rules:
            if r.id in ids:
                read.update(params_read(model, r))
    return tuple(c for c in cd.changes if (c.kind == "rule" and c.name in ids)
                 or (c.kind == "code" and code is not None and c.name == str(code))
                 or (c.kind == "parameter" and c.name in read))


def _flips(model, cd, t, file, rb, ra):
    day = cd.date
    if rb is None or ra is None or (isinstance(rb, Rejection) and isinstance(ra, Rejection)):
        return
    if isinstance(rb, Rejection) or isinstance(ra, Rejection):
        sb, sa = _record_side(model, rb), _record_side(model, ra)
        # judged on one side, rejected on the other: the facts schema and the coverage do not
        # change on the pack's dates, so the move did it (no cause)
        yield Flip(day, t.name, file, t.span.line, None, None, "rejected", sb, sa, ())
        return
    for i, vb in enumerate(rb.lines):
        va = ra.lines[i] if i < len(ra.lines) else None
        if va is None:
            continue
        if (vb.verdict, vb.rules, vb.warnings) == (va.verdict, va.rules, va.warnings):
            continue
        kind = "verdict" if vb.verdict != va.verdict else "rules" if vb.rules != va.rules else "warnings"
        db, da = _line_date(model, rb.record, i), _line_date(model, ra.record, i)
        changed = sorted(set(vb.rules + vb.warnings) ^ set(va.rules + va.warnings))
        rules = tuple(RuleChange(r, _rule_side(model, rb, vb.line, r, db), _rule_side(model, ra, va.line, r, da))
                      for r in changed)
        yield Flip(day, t.name, file, t.span.line, vb.line, vb.code, kind,
                   Side(db, vb.verdict, tuple(vb.rules), tuple(vb.warnings)),
                   Side(da, va.verdict, tuple(va.rules), tuple(va.warnings)), rules, _cause(model, cd, rules, vb.code))


def _record_side(model, res) -> Side:
    rec = res.record if not isinstance(res, Rejection) else None
    if isinstance(res, Rejection):
        return Side("", "rejected", reason=f"at {res.path}: {res.reason}")
    d0 = default_service_date(model.shape, rec) if isinstance(rec, dict) else ""
    verdict = "deny" if any(v.verdict == "deny" for v in res.lines) else "allow"
    return Side(d0, verdict, tuple(sorted({r for v in res.lines for r in v.rules})),
                tuple(sorted({w for v in res.lines for w in v.warnings})))


def _line_date(model, rec, i) -> str:
    shape = model.shape
    d0 = default_service_date(shape, rec)
    lines = rec.get(shape.lines) or []
    ln = lines[i] if i < len(lines) and isinstance(lines[i], dict) else {}
    return ln.get(shape.line_date) or d0


def _rule_side(model, res, line, rule_id, day: str) -> RuleSide:
    for f in res.findings:
        if f.rule == rule_id and (f.line == line or f.line is None):
            return RuleSide(f.severity, f.version, tuple(f.citations))
    d = _dt.date.fromisoformat(day)
    for r in model.rules:
        if r.id == rule_id and r.window.contains(d) and not r.window.empty:
            cites = [c.to_dict() for c in r.citations]
            params = {p.name: p for p in getattr(model, "parameters", None) or ()}
            for name in sorted(params_read(model, r)):  # the dated values it read, as a finding cites them
                value = params[name].value_on(d) if name in params else None
                cites += [c.to_dict() for c in (value.citations if value is not None else ())
                          if c.to_dict() not in cites]
            return RuleSide("passed", r.version, tuple(cites))
    known = any(r.id == rule_id for r in model.rules)
    return RuleSide("not in force" if known else "did not fire", None, ())  # else: a built-in rule
