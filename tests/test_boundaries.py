"""``rulecite test --boundaries``: the pack's test records moved across each date where the
pack changes; the verdicts that flip, with the rules and citations on each side; the dates
no record reaches. And the day shift of ``timeshift`` it moves records with."""

from __future__ import annotations

import datetime as _dt
import json

import pytest
from rulecite.interpreter import load_pack
from rulecite.interpreter.tools.boundaries import (
    boundary_report,
    change_dates,
    split_by_coverage,
)
from rulecite.interpreter.tools.timeshift import shift_days, shift_record

from tests.cli_support import CMS, LIBRARY, assert_bad_input, run

SCHEMA = {"type": "object", "properties": {
    "month": {"type": "string", "format": "month"},
    "consent": {"type": "string", "format": "date"},
    "note": {"type": "string"},
    "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}}},
    "$defs": {"line": {"type": "object", "properties": {"date": {"type": "string", "format": "date"}}}}}


def test_shift_by_days_keeps_every_gap_and_moves_months_by_months():
    rec = {"month": "2025-03", "consent": "2025-02-27", "note": "2025-03-02",
           "lines": [{"date": "2025-03-02"}, {"date": "2025-03-31"}]}
    out = shift_record(rec, SCHEMA, 1, days=30)
    assert out == {"month": "2025-04", "consent": "2025-03-29", "note": "2025-03-02",
                   "lines": [{"date": "2025-04-01"}, {"date": "2025-04-30"}]}
    # by months (no days), as before: the day of the month is kept, clamped to the month's end
    assert shift_record(rec, SCHEMA, -1)["lines"][1] == {"date": "2025-02-28"}
    assert shift_days("2024-12-31", 1) == "2025-01-01"
    assert shift_days("not a date", 3) == "not a date"
    assert shift_days("9999-12-31", 1) == "9999-12-31"  # past year 9999: left as it was


def test_change_dates_read_rule_and_code_windows():
    model = load_pack(LIBRARY).model
    dates = change_dates(model)
    assert [d.date for d in dates] == sorted(d.date for d in dates)
    by_date = {d.date: {c.label() for c in d.changes} for d in dates}
    assert {"rule loans.limit v1 ends", "rule loans.limit v2 starts", "rule stream.days v1 starts",
            "rule magazine.same-month v1 ends", "code DVD ends", "code STREAM starts"} <= by_date[_dt.date(2026, 1, 1)]
    inside, outside = split_by_coverage(dates, model.coverage)
    assert _dt.date(2026, 1, 1) in [d.date for d in inside]
    assert _dt.date(2025, 1, 1) in [d.date for d in outside]  # the day before lies outside the coverage
    ends = [c for c in {d.date: d for d in dates}[_dt.date(2026, 1, 1)].changes if c.label() == "code DVD ends"]
    assert {c["source"] for c in ends[0].citations} == {"BYLAWS2025", "BYLAWS2026"}


SUMMER = '''
rule loans.summer {
  title "At most 8 books a month from July 2026"
  effective 2026-07-01
  cite BYLAWS2026 section "7. Summer"
  for l in loans where l.item == "BOOK"
  deny when l.units > 8
  message "{l.units} books"
}

rule ebook.cap {
  title "At most 500 e-books a line from October 2026"
  effective 2026-10-01
  cite BYLAWS2026 section "8. E-books"
  for l in loans where l.item == "EBOOK"
  deny when l.units > 500
  message "{l.units} e-books"
}
'''


@pytest.fixture
def dated_pack(library_copy):
    """The library pack with a rule starting 2026-07-01 that a test record breaks and one
    starting 2026-10-01 that no test record comes near."""
    with open(library_copy / "rules.policy", "a", encoding="utf-8") as f:
        f.write(SUMMER)
    return library_copy


def test_a_rule_starting_on_a_date_flips_with_rules_and_citations_on_each_side(dated_pack):
    report = boundary_report(load_pack(dated_pack))
    summer = [f for f in report.flips if f.date == _dt.date(2026, 7, 1)]
    assert summer, report.to_dict()
    f = next(f for f in summer if f.test == "eleven items are fine under the 2026 limit")
    assert (f.line, f.code, f.kind) == (1, "BOOK", "verdict")
    assert (f.before.verdict, f.after.verdict, f.after.rules) == ("allow", "deny", ("loans.summer",))
    assert f.before.date < "2026-07-01" <= f.after.date
    assert [c.label() for c in f.cause] == ["rule loans.summer v1 starts"]
    (rc,) = f.rules
    assert rc.rule == "loans.summer"
    assert (rc.before.status, rc.before.version) == ("not in force", None)
    assert (rc.after.status, rc.after.version) == ("deny", 1)
    assert [(c["source"], c.get("section")) for c in rc.after.citations] == [("BYLAWS2026", "7. Summer")]
    # a rule whose versions meet on a date: each side names its version and citation
    limit = next(f for f in report.flips if f.date == _dt.date(2026, 1, 1)
                 and f.test == "eleven items break the 2025 limit")
    (rc,) = limit.rules
    assert (rc.before.status, rc.before.version, rc.after.status, rc.after.version) == ("deny", 1, "passed", 2)
    assert [c["source"] for c in rc.before.citations] == ["BYLAWS2025"]
    assert [c["source"] for c in rc.after.citations] == ["BYLAWS2026"]


def test_a_date_no_record_reaches_is_listed(dated_pack):
    report = boundary_report(load_pack(dated_pack))
    assert [cd.date for cd in report.unreached] == [_dt.date(2026, 10, 1)]
    assert [c.label() for c in report.unreached[0].changes] == ["rule ebook.cap v1 starts"]
    r = run(["test", dated_pack, "--boundaries"])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "Dates no test record reaches (1):" in text
    tail = text.split("Dates no test record reaches (1):")[1]
    assert "  2026-10-01\n    rule ebook.cap v1 starts: At most 500 e-books a line from October 2026\n" in tail
    assert '      cite Bylaws 2026, section "8. E-books", page unverified' in tail
    block = text.split("2026-07-01 (day before 2026-06-30)")[1].split("\n20")[0]
    assert "'eleven items are fine under the 2026 limit'" in block and "allow -> deny by loans.summer" in block
    assert "because: rule loans.summer v1 starts" in block
    assert '        cite Bylaws 2026, section "7. Summer", page unverified' in block
    assert text.strip().splitlines()[-1].endswith("1 date(s) no test record reaches")


def test_json_output_is_the_report_and_the_same_bytes_each_run(dated_pack):
    a = run(["test", dated_pack, "--boundaries", "--output", "json"])
    b = run(["test", dated_pack, "--boundaries", "--output", "json"])
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout
    doc = json.loads(a.stdout)
    assert doc == json.loads(json.dumps(boundary_report(load_pack(dated_pack)).to_dict()))
    assert doc["unreached"] == ["2026-10-01"]
    assert [d["date"] for d in doc["dates"]] == ["2026-01-01", "2026-07-01", "2026-10-01"]
    assert [d["reached"] for d in doc["dates"]] == [True, True, False]
    assert doc["outside_coverage"] == ["2025-01-01"]
    flip = next(f for f in doc["flips"] if f["date"] == "2026-07-01")
    assert flip["cause"] == ["rule loans.summer v1 starts"]
    assert flip["rules"][0]["after"]["citations"][0]["section"] == "7. Summer"


def test_k_narrows_the_records_moved(dated_pack):
    r = run(["test", dated_pack, "--boundaries", "-k", "eleven items are fine", "--output", "json"])
    doc = json.loads(r.stdout)
    assert doc["tests"] == 1 and doc["deselected"] > 0
    assert {f["test"] for f in doc["flips"]} == {"eleven items are fine under the 2026 limit"}
    assert_bad_input(run(["test", dated_pack, "--boundaries", "-k", "zzz nothing"]), "selects none")


def test_boundaries_option_errors():
    assert_bad_input(run(["test", LIBRARY, "--boundaries", "--update"]), "--boundaries runs on its own")
    assert_bad_input(run(["test", LIBRARY, "--output", "json"]), "--output is for --boundaries")


def test_cms_pack_runs_and_reports():
    pack = load_pack(CMS)
    report = boundary_report(pack)
    cov = pack.model.coverage
    dates = [cd.date for cd in report.dates]
    assert dates == sorted(dates) and dates
    assert all(cov.contains(d) and cov.contains(d - _dt.timedelta(days=1)) for d in dates)
    assert report.tests == len([t for t in pack.model.tests if t.pack == pack.model.name])
    assert report.flips
    keys = [(f.date, f.file, f.test_line) for f in report.flips]
    assert keys == sorted(keys)
    for f in report.flips:
        assert f.date in dates
        assert (f.before.verdict, f.before.rules, f.before.warnings) != (f.after.verdict, f.after.rules,
                                                                         f.after.warnings)
        assert f.before.date < f.date.isoformat() <= f.after.date
        assert all(rc.before != rc.after for rc in f.rules)
        changes = next(cd for cd in report.dates if cd.date == f.date).changes
        assert all(c in changes for c in f.cause)
    for cd in report.dates:  # a date is reached exactly when a flip comes from a change on it
        assert (cd in report.unreached) == (not any(f.cause for f in report.flips if f.date == cd.date))
    # every code whose window starts inside the coverage is reached when a test bills it
    billed = {str(ln.get("code")) for t in pack.model.tests for rec in t.records for ln in rec.get("claims") or []}
    for cd in report.dates:
        for c in cd.changes:
            if c.kind == "code" and c.what == "starts" and c.name in billed:
                assert c not in report.unreached_changes(cd), c.label()


def test_records_are_placed_on_their_side_by_whole_months_keeping_dates_in_their_period():
    from rulecite.interpreter.tools.boundaries import place_records

    model = load_pack(CMS).model
    shape = model.shape
    day = _dt.date(2026, 1, 1)
    kept = 0
    for t in model.tests:
        subject = t.records[-1]
        dates = [ln.get(shape.line_date) for ln in subject.get(shape.lines) or [] if ln.get(shape.line_date)]
        if not dates or any(d[:7] != subject[shape.period] for d in dates):
            continue
        for target, latest in ((day - _dt.timedelta(days=1), True), (day, False)):
            moved = place_records(model, t.records, target, latest)
            got = [ln[shape.line_date] for ln in moved[-1][shape.lines] if ln.get(shape.line_date)]
            assert all((d <= target.isoformat()) if latest else (d >= target.isoformat()) for d in got), t.name
            assert all(d[:7] == moved[-1][shape.period] for d in got), (t.name, got)  # still in its month
            # the day of the month is kept
            assert [d[8:] for d in got] == [d[8:] for d in dates] or any(d[8:] > "28" for d in dates), t.name
            kept += 1
    assert kept > 10


def test_the_yearly_update_guide_shows_what_boundaries_prints(tmp_path):
    """The excerpt under `Boundary cases` in docs/guides/yearly-update.md, replayed on the
    guide's own 2027 pack."""
    import re

    from rulecite.policy_lang.newversion import new_version

    from tests.cli_support import ROOT

    page = (ROOT / "docs" / "guides" / "yearly-update.md").read_text(encoding="utf-8")
    dest = tmp_path / "library-loans-2027.1.0"
    new_version(LIBRARY, "2027.1.0", dest)
    for m in re.finditer(r'^```\w+ title="([^"]+)"\n(.*?)^```', page, re.MULTILINE | re.DOTALL):
        (tmp_path / m.group(1)).parent.mkdir(parents=True, exist_ok=True)  # the CMS walkthrough's files too
        (tmp_path / m.group(1)).write_text(m.group(2), encoding="utf-8")
    section = page.split("\n## Boundary cases\n")[1]
    shown = re.search(r"^```text\n(.*?)^```", section, re.MULTILINE | re.DOTALL).group(1)
    r = run(["test", dest, "--boundaries"])
    assert r.exit_code == 0, r.output
    printed = r.stdout.splitlines()
    for line in shown.splitlines():
        assert line in printed, f"the guide shows {line!r}; --boundaries prints:\n{r.stdout}"


def test_dated_values_are_change_dates():
    """``change_dates`` reads ``Pack.parameters`` (each value in force from its ``start``)."""
    from types import SimpleNamespace as NS

    cite = NS(to_dict=lambda: {"source": "PFS2026", "page": "unverified"})
    cap = NS(name="cap", title="Monthly cap", values=(
        NS(start=_dt.date(2025, 1, 1), value=2, citations=()),
        NS(start=_dt.date(2026, 1, 1), value=3.5, citations=(cite,))))
    pack = NS(rules=(), codes=(), parameters=(cap,), derived=())
    dates = change_dates(pack)
    assert [(cd.date, [c.label() for c in cd.changes]) for cd in dates] == [
        (_dt.date(2025, 1, 1), ["parameter cap starts at 2"]),
        (_dt.date(2026, 1, 1), ["parameter cap changes to 3.5"])]
    assert dates[1].changes[0].to_dict() == {"kind": "parameter", "name": "cap", "what": "changes", "value": "3.5",
                                             "title": "Monthly cap", "citations": [{"source": "PFS2026",
                                                                                    "page": "unverified"}]}


CAP = '''
parameter book_cap {
  title "Books a line may carry"
  from 2025-01-01 value 20 cite BYLAWS2025 section "2. Limits"
  from 2026-04-01 value 9 cite BYLAWS2026 section "9. Caps"
}

rule books.cap {
  title "A line carries at most book_cap books"
  cite BYLAWS2025 section "2. Limits"
  for l in loans where l.item == "BOOK"
  deny when l.units > book_cap
  message "{l.units} books"
}
'''


def test_a_dated_value_that_changes_flips_the_rules_reading_it(library_copy):
    with open(library_copy / "rules.policy", "a", encoding="utf-8") as f:
        f.write(CAP)
    report = boundary_report(load_pack(library_copy))
    day = _dt.date(2026, 4, 1)
    (cd,) = [cd for cd in report.dates if cd.date == day]
    assert [c.label() for c in cd.changes] == ["parameter book_cap changes to 9"]
    f = next(f for f in report.flips if f.date == day and f.test == "eleven items are fine under the 2026 limit")
    assert (f.before.verdict, f.after.verdict, f.after.rules) == ("allow", "deny", ("books.cap",))
    assert [c.label() for c in f.cause] == ["parameter book_cap changes to 9"]
    (rc,) = f.rules
    assert (rc.before.status, rc.after.status) == ("passed", "deny")
    # each side cites the value in force on it
    assert ("BYLAWS2025", "2. Limits") in [(c["source"], c.get("section")) for c in rc.before.citations]
    assert ("BYLAWS2026", "9. Caps") not in [(c["source"], c.get("section")) for c in rc.before.citations]
    assert ("BYLAWS2026", "9. Caps") in [(c["source"], c.get("section")) for c in rc.after.citations]
    assert day not in [cd.date for cd in report.unreached]
