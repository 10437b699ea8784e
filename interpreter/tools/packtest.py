"""Run the tests written inside a pack, and measure how well they cover its rules.

Takes a ``RulePack``; gives a ``TestReport``: one ``CaseResult`` per ``test`` block
(what differed, if anything) and a ``Coverage`` listing the rules that lack a deny
case, an allow case, or a case on each side of each of their effective dates.
``select`` (what ``rulecite test -k`` gives) runs only the tests whose name or file
name holds one of the patterns; ``outcomes`` lays out what a case's record got, line
by line (the rules that fired, with severity) beside what its test expected.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import PurePath

import attrs
from rulecite.interpreter.api import RulePack, evaluate
from rulecite.interpreter.codegen.compiler import default_service_date
from rulecite.interpreter.engine.results import Rejection, Result
from rulecite.policy_lang.syntax.formatter import expectation_text


@attrs.frozen
class CaseResult:
    name: str
    file: str
    line: int
    failures: tuple  # readable differences
    result: object = attrs.field(eq=False, repr=False)
    # the line ids named by the failing expectations, in order (what to explain first);
    # None for a failing expectation about the whole record
    failed_lines: tuple = attrs.field(default=(), eq=False, repr=False)
    test: object = attrs.field(default=None, eq=False, repr=False)  # the PackTest

    @property
    def passed(self) -> bool:
        return not self.failures


@attrs.frozen
class Coverage:
    without_deny: tuple
    without_allow: tuple
    without_boundary: tuple  # (rule id, date) pairs: no case on one side of that date
    # (rule id, code) pairs: a rule tagged `units` (a limit counted per code) that no case
    # makes fire for that code
    without_unit_case: tuple = ()

    @property
    def complete(self) -> bool:
        return not (self.without_deny or self.without_allow or self.without_boundary or self.without_unit_case)


@attrs.frozen
class TestReport:
    cases: tuple
    coverage: Coverage
    deselected: int = 0  # tests left out by ``select``

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed


def _service_dates(pack, record) -> list:
    shape = pack.model.shape
    d0 = default_service_date(shape, record)
    lines = record.get(shape.lines) or []
    return [(ln.get(shape.line_date) or d0) if isinstance(ln, dict) else d0 for ln in lines] or [d0]


def run_case(pack: RulePack, t) -> CaseResult:
    results = list(evaluate(pack, [dict(r) for r in t.records], as_of=t.as_of))
    last = results[-1] if results else None
    fails = []
    failed_lines = []
    for x in t.expectations:
        if x.kind != "rejected" and isinstance(last, Rejection):
            fails.append(f"record rejected at {last.path}: {last.reason}")
            failed_lines.append(None)
            break
        found = _check(x, last)
        fails.extend(found)
        if found and x.line not in failed_lines:
            failed_lines.append(x.line)
    return CaseResult(t.name, t.file, t.span.line, tuple(fails), last, tuple(failed_lines), t)


def _check(x, last) -> list:
    """What differs between one expectation and the result (empty when it holds)."""
    fails = []
    if x.kind == "rejected":
        if not isinstance(last, Rejection):
            fails.append("expected the record to be rejected; it was evaluated")
        return fails
    by_line = {v.line: v for v in last.lines}
    if x.kind in ("allow", "deny", "warn"):
        v = by_line.get(x.line)
        if v is None:
            fails.append(f"line {x.line}: no such line in the result")
        elif x.kind == "allow" and v.verdict != "allow":
            fails.append(f"line {x.line} ({v.code}): expected allow, got deny by {', '.join(v.rules)}")
        elif x.kind == "deny":
            if v.verdict != "deny":
                fails.append(f"line {x.line} ({v.code}): expected deny"
                             f"{' by ' + ', '.join(x.rules) if x.rules else ''}, got allow")
            missing = [r for r in x.rules if r not in v.rules]
            if v.verdict == "deny" and missing:
                fails.append(f"line {x.line} ({v.code}): expected deny by {', '.join(missing)}; "
                             f"denied by {', '.join(v.rules)}")
        elif x.kind == "warn":
            missing = [r for r in x.rules if r not in v.warnings]
            if missing:
                fails.append(f"line {x.line} ({v.code}): expected warning {', '.join(missing)}; "
                             f"warnings: {', '.join(v.warnings) or 'none'}")
    elif x.kind == "finding":
        if not any(f.rule == x.rules[0] for f in last.findings):
            fails.append(f"expected a finding of {x.rules[0]}; findings: "
                         f"{', '.join(sorted({f.rule for f in last.findings})) or 'none'}")
    elif x.kind == "no_finding":
        if any(f.rule == x.rules[0] for f in last.findings):
            fails.append(f"expected no finding of {x.rules[0]}, got one")
    elif x.kind == "suggestion":
        ok = [s for s in last.suggestions if s.code == x.code and (x.units is None or s.units == x.units)]
        if not ok:
            got = ", ".join(f"{s.code}" + (f" x{s.units}" if s.units is not None else "")
                            for s in last.suggestions) or "none"
            fails.append(f"expected suggestion {x.code}" + (f" units {x.units}" if x.units is not None else "")
                         + f"; suggestions: {got}")
    return fails


@attrs.frozen
class LineOutcome:
    """What one line of a case's record got beside what the test expected of it.
    ``line`` is None for the record as a whole (its findings with no line, and the
    expectations about findings, suggestions or a rejection)."""

    line: object
    code: object
    verdict: str  # allow | deny | rejected | "" (the record row)
    fired: tuple  # (rule id, version, severity) of each finding on it, in result order
    expected: tuple  # its expect lines, as written
    failed: bool  # an expectation about it does not hold


def outcomes(case: CaseResult) -> tuple:
    """Line by line (then the record as a whole): the verdict, the rules that fired
    with their severity, and the expectations written for it."""
    t, res = case.test, case.result
    exps = t.expectations if t is not None else ()
    by_line: dict = {}
    for x in exps:
        by_line.setdefault(x.line, []).append(expectation_text(x))
    failed = set(case.failed_lines)
    out = []
    if isinstance(res, Rejection):
        return (LineOutcome(None, None, "rejected", (), tuple(by_line.get(None, ())), not case.passed),)
    if res is None:
        return ()
    fired: dict = {}
    for f in res.findings:
        fired.setdefault(f.line, []).append((f.rule, f.version, f.severity))
    for v in res.lines:
        out.append(LineOutcome(v.line, v.code, v.verdict, tuple(fired.get(v.line, ())),
                               tuple(by_line.get(v.line, ())), v.line in failed))
    record_fired = tuple(fired.get(None, ()))
    record_exp = tuple(by_line.get(None, ()))
    if record_fired or record_exp:
        out.append(LineOutcome(None, None, "", record_fired, record_exp, None in failed))
    return tuple(out)


def select_tests(tests, patterns, root: str = "") -> list:
    """The tests whose name, or whose file's name or path inside the pack folder ``root``
    (``tests/apcm_test.policy``), holds one of ``patterns``, ignoring case (like
    pytest's ``-k`` on a plain word)."""
    pats = [p.casefold() for p in patterns if p]
    if not pats:
        return list(tests)

    def keys(t):
        path = PurePath(t.file)
        out = [t.name, path.name]
        if root and path.is_relative_to(root):
            out.append(path.relative_to(root).as_posix())
        return [k.casefold() for k in out]

    return [t for t in tests if any(p in k for p in pats for k in keys(t))]


UNITS_TAG = "units"  # a rule with this tag counts a limit per code: each code needs a case that breaks it


def coverage(pack: RulePack, cases, own_only: bool = True) -> Coverage:
    """Which rules lack a deny case, an allow case, or cases on both sides of their dates.

    A rule counts as *denied* by a test when the test's last record has a line denied
    (or warned, for warn/info rules) by it; as *allowed* when the rule was in force
    for a line it applies to and did not fire. Boundary dates are each version's
    ``effective`` and the day after its ``until``; a case is on a side when one of its
    service dates is before or on/after that date and the rule (any version) applies.
    A rule tagged ``units`` (a limit counted per code) needs, for every code it applies
    to, a case in which it fires on a line of that code.
    """
    model = pack.model
    shape = model.shape
    fired: dict = {}
    fired_codes: dict = {}  # rule id -> codes of the lines it fired on
    allowed: dict = {}
    dates: dict = {}
    cp = pack.compiled(None)
    for c in cases:
        res = c.result
        if res is None or isinstance(res, Rejection):
            continue
        rec = res.record
        for v in res.lines:
            for rid in v.rules + v.warnings:
                fired.setdefault(rid, True)
                fired_codes.setdefault(rid, set()).add(v.code)
        rec_fired = {f.rule for f in res.findings}
        for rid in rec_fired:
            fired.setdefault(rid, True)
        lines = rec.get(shape.lines) or []
        d0 = default_service_date(shape, rec)
        for info in cp.infos:
            r = info.rule
            for ln in (lines if r.scope == "line" else [None]):
                code = ln.get(shape.line_code) if ln else None
                if r.codes is not None and code not in r.codes:
                    continue
                sd = (ln.get(shape.line_date) if ln else None) or d0
                dates.setdefault(r.id, set()).add(sd)
                if info.lo <= sd <= info.hi:
                    lid = ln.get(shape.line_id) if ln else None
                    hit = any(f.rule == r.id and (f.line == lid or r.scope == "record") for f in res.findings)
                    if not hit:
                        allowed.setdefault(r.id, True)
    rules = [r for r in model.rules if r.pack == model.name or not own_only]
    ids = sorted({r.id for r in rules})
    boundaries = []
    for r in rules:
        marks = []
        if r.declared_window.start:
            marks.append(r.declared_window.start)
        if r.window.end and r.window.end < _dt.date.max:  # 9999-12-31: no day after it
            marks.append(r.window.end + _dt.timedelta(days=1))
        seen = dates.get(r.id, set())
        for m in marks:
            iso = m.isoformat()
            cov = model.coverage
            if (cov.start and m <= cov.start) or (cov.end and m > cov.end):
                continue  # the other side lies outside what the pack can judge
            before = any(d < iso for d in seen)
            after = any(d >= iso for d in seen)
            if not (before and after):
                boundaries.append((r.id, iso))
    unit_gaps = {(r.id, c) for r in rules if UNITS_TAG in r.tags and r.codes
                 for c in r.codes if c not in fired_codes.get(r.id, ())}
    return Coverage(
        tuple(i for i in ids if i not in fired),
        tuple(i for i in ids if i not in allowed),
        tuple(sorted(set(boundaries))),
        tuple(sorted(unit_gaps)),
    )


def run_tests(pack: RulePack, include_inherited: bool = False, select=()) -> TestReport:
    """Run the pack's tests (those ``select_tests`` keeps, when ``select`` names patterns)."""
    tests = [t for t in pack.model.tests if include_inherited or t.pack == pack.model.name]
    chosen = select_tests(tests, select, pack.model.root)
    cases = tuple(run_case(pack, t) for t in chosen)
    return TestReport(cases, coverage(pack, cases, own_only=not include_inherited), len(tests) - len(chosen))


def rules_fired(pack: RulePack) -> dict:
    """rule id -> names of the pack's tests in which the rule fired (made a finding or
    denied a line): what the documentation's per-rule test tables show."""
    fired: dict = {}
    for case in run_tests(pack).cases:
        if isinstance(case.result, Result):
            rules = {f.rule for f in case.result.findings}
            for v in case.result.lines:
                rules.update(v.rules)
            for rid in rules:
                fired.setdefault(rid, set()).add(case.name)
    return fired
