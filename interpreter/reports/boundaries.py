"""A ``BoundaryReport`` (``tools/boundaries``) as text for people: per change date, each
line whose verdict flips, the changes on that date it comes from, and for each rule that
differs its version, what it did and its citations on each side; then the dates no test
record reaches, with what changes on them and their citations. Citations are written by
the one formatter (``citations.citation_text``)."""

from __future__ import annotations

import datetime as _dt

from .citations import citation_text
from .markup import plain_text

_DAY = _dt.timedelta(days=1)


def boundaries_text(report) -> str:
    """The report for people: per date, every flip with the changes it comes from and the
    rules and citations on each side; then the dates no test record reaches."""
    out = []
    w = out.append
    w(f"Boundary cases of {report.pack} {report.version}: {report.tests} test(s) moved to the day before "
      f"and the day of {len(report.dates)} change date(s)")
    by_date: dict = {}
    for f in report.flips:
        by_date.setdefault(f.date, []).append(f)
    unreached = report.unreached
    for cd in report.dates:
        flips = by_date.get(cd.date, [])
        if cd in unreached and not flips:
            continue
        caused = [f for f in flips if f.cause]
        moved = [f for f in flips if not f.cause]
        w("")
        w(f"{cd.date.isoformat()} (day before {(cd.date - _DAY).isoformat()}): {len(caused)} line(s) change")
        for f in caused:
            _flip_text(w, f)
            w("      because: " + "; ".join(c.label() for c in f.cause))
            _rules_text(w, f)
        missed = report.unreached_changes(cd)
        if missed and caused:
            w(f"  not reached on this date ({len(missed)}): " + "; ".join(c.label() for c in missed))
        if moved:
            w(f"  from the move alone ({len(moved)}): none of their rules or codes changes on this date; the "
              "record reads differently a month later (a month of another length, a rule reading the date)")
            for f in moved:
                _flip_text(w, f)
                _rules_text(w, f)
    w("")
    if unreached:
        w(f"Dates no test record reaches ({len(unreached)}): moving every test record across them changes "
          "no verdict through what changes there; a test whose record these apply to would show it")
        for cd in unreached:
            w(f"  {cd.date.isoformat()}")
            for c in cd.changes:
                w(f"    {plain_text(c.label())}: {plain_text(c.title)}")
                for cite in c.citations:
                    w(f"      cite {citation_text(cite)}")
    else:
        w("Every change date is reached: at each, a test record's verdict changes through what changes there.")
    if report.unplaced:
        w("")
        w(f"Records that cannot be put wholly on one side of a date ({len(report.unplaced)}):")
        for d, name in report.unplaced:
            w(f"  {d.isoformat()} {name!r}")
    if report.outside:
        w("")
        w(f"Not tried: {len(report.outside)} change date(s) whose day before or day itself lies outside the "
          f"pack's coverage: " + ", ".join(cd.date.isoformat() for cd in report.outside))
    w("")
    caused = sum(1 for f in report.flips if f.cause)
    w(f"{caused} line change(s) at {len(report.dates) - len(unreached)} of {len(report.dates)} date(s), "
      f"{len(report.flips) - caused} from the move alone; {len(unreached)} date(s) no test record reaches")
    return "\n".join(out) + "\n"


def _flip_text(w, f):
    where = f"line {plain_text(f.line)} {plain_text(f.code)}" if f.line is not None else "record"
    w(f"  {f.test!r} ({plain_text(f.file)}:{f.test_line}) {where}: {plain_text(f.before.text())} -> "
      f"{plain_text(f.after.text())}")


def _rules_text(w, f):
    for rc in f.rules:
        for label, side, sd in (("before", rc.before, f.before.date), ("after", rc.after, f.after.date)):
            v = f" v{side.version}" if side.version is not None else ""
            w(f"      {label} {sd}: {rc.rule}{v} {side.status}")
            for c in side.citations:
                w(f"        cite {citation_text(c)}")
