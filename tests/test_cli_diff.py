"""``rulecite diff``: what changed between two pack versions or two service dates, and the
decision impact over a population."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from rulecite.interpreter import load_pack
from rulecite.interpreter.tools.impact import decision_impact
from rulecite.policy_lang import load
from rulecite.interpreter.reports.diff import render_markdown, render_text
from rulecite.policy_lang.diff import diff_dates, diff_packs

from tests.cli_support import LIBRARY, library_records, run, write_jsonl

NEW_RULE = """
rule loans.limit-2027 {
  title "At most 15 items a month"
  effective 2027-01-01
  supersedes loans.limit
  cite BYLAWS2027 section "2. Limits"
  for l in loans where l.item in ANY_ITEM
  deny unless total_units <= 15
  message "{total_units} items this month; the limit is 15"
}
"""

NEW_SOURCE = """
source BYLAWS2027 {
  title "Riverside Library lending bylaws, 2027 edition"
  citation "Bylaws 2027"
  published 2026-11-20
  effective 2027-01-01
  url "https://library.example.org/bylaws/2027"
}
"""


@pytest.fixture
def next_year(tmp_path):
    """The library pack's 2027 version: a superseding rule, a changed condition, a code
    that ends, a new source."""
    new = tmp_path / "library-2027"
    shutil.copytree(LIBRARY, new)
    toml = new / "pack.toml"
    toml.write_text(toml.read_text().replace('version = "2026.1.0"', 'version = "2027.1.0"')
                    .replace("until = 2026-12-31", "until = 2027-12-31"))
    rules = new / "rules.policy"
    rules.write_text(rules.read_text().replace("deny when l.days > 14", "deny when l.days > 21") + NEW_RULE)
    (new / "sources.policy").write_text((new / "sources.policy").read_text() + NEW_SOURCE)
    cat = new / "catalog.policy"
    cat.write_text(cat.read_text().replace('code MAGAZINE "Magazine issue" {',
                                           'code MAGAZINE "Magazine issue" {\n  until 2026-12-31\n  replaced_by EBOOK'))
    assert load(new).ok, load(new).diagnostics
    return new


@pytest.fixture
def facts(tmp_path):
    return write_jsonl(tmp_path / "facts.jsonl", library_records())


def test_diff_packs_names_every_kind_of_change(next_year):
    d = diff_packs(load(LIBRARY).pack, load(next_year).pack)
    rules = {i.name: i for i in d.rules}
    assert rules["loans.limit"].kind == "superseded"
    assert "superseded by loans.limit-2027 after 2026-12-31" in rules["loans.limit"].note
    assert rules["loans.limit-2027"].kind == "added"
    assert rules["stream.days"].kind == "changed"
    cond = next(c for c in rules["stream.days"].changes if c.field == "condition")
    assert (cond.before, cond.after) == ("deny when l.days > 14", "deny when l.days > 21")
    codes = {i.name: i for i in d.codes}
    assert codes["MAGAZINE"].kind == "replaced" and "replaced by EBOOK" in codes["MAGAZINE"].note
    assert [i.name for i in d.sources] == ["BYLAWS2027"] and d.sources[0].kind == "added"


def test_diff_of_a_pack_with_itself_is_empty():
    p = load(LIBRARY).pack
    d = diff_packs(p, p)
    assert d.empty
    assert "no differences" in render_text(d)


def test_diff_dates_library():
    p = load(LIBRARY).pack
    d = diff_dates(p, dt.date(2025, 12, 1), dt.date(2026, 1, 1))
    kinds = {i.name: i.kind for i in d.rules}
    assert kinds == {"dvd.days": "superseded", "loans.limit": "changed", "magazine.same-month": "retired",
                     "stream.days": "added"}
    assert {i.name: i.kind for i in d.codes} == {"DVD": "replaced", "STREAM": "added"}
    assert [(s.name, s.kind) for s in d.sources] == [("BYLAWS2026", "effective")]


def test_text_markdown_json_outputs(next_year):
    text = run(["diff", LIBRARY, next_year])
    assert text.exit_code == 0
    assert text.stdout.startswith("rulecite diff: library-loans 2026.1.0 -> library-loans 2027.1.0\n")
    assert "> superseded loans.limit" in text.stdout and "+ added      loans.limit-2027" in text.stdout
    assert "- deny when l.days > 14" in text.stdout and "+ deny when l.days > 21" in text.stdout
    md = run(["diff", LIBRARY, next_year, "--format", "markdown"]).stdout
    assert md.startswith("# What changed: library-loans 2026.1.0 → library-loans 2027.1.0")
    assert "## Rules" in md and "**superseded** `loans.limit`" in md and "deny when l.days &gt; 21" in md
    doc = json.loads(run(["diff", LIBRARY, next_year, "--format", "json"]).stdout)
    assert doc["mode"] == "packs" and doc["new"]["version"] == "2027.1.0"
    assert {r["name"] for r in doc["rules"]} == {"loans.limit", "loans.limit-2027", "stream.days"}


def test_output_is_deterministic(next_year):
    a = run(["diff", LIBRARY, next_year, "--format", "json"]).stdout
    assert a == run(["diff", LIBRARY, next_year, "--format", "json"]).stdout


def test_decision_impact_between_versions(next_year, facts):
    r = run(["diff", LIBRARY, next_year, "--facts", facts])
    assert "Decision impact (every record under the old and the new pack)" in r.stdout
    assert "stream.days no longer denies: 1 line(s)  [STREAM x1]" in r.stdout
    assert "e.g. M12 2026-04 line 1 STREAM: deny by stream.days -> allow" in r.stdout
    doc = json.loads(run(["diff", LIBRARY, next_year, "--facts", facts, "--format", "json"]).stdout)
    assert doc["impact"]["changed"] == 1 and doc["impact"]["deny_to_allow"] == 1
    assert doc["impact"]["by_rule"][0]["rule"] == "stream.days"
    assert doc["impact"]["changes"] == [{"id": "M12", "period": "2026-04", "line": 1, "code": "STREAM",
                                         "service_date": "2026-04-03",
                                         "before": "deny by stream.days", "after": "allow", "carried_forward": False,
                                         "input_line": doc["impact"]["changes"][0]["input_line"],
                                         "now_denied_by": [], "no_longer_denied_by": ["stream.days"]}]
    assert doc["impact"]["by_rule"][0]["citations"][0]["source"] == "BYLAWS2026"


def test_impact_between_versions_reads_the_records_as_it_goes(next_year, monkeypatch):
    # memory grows with the changes, not the records: no record is read more than a few
    # ahead of the one being compared (a subject's group, what the engine holds), and a
    # one-shot stream gives what a list gives
    from rulecite.interpreter.tools import impact as pimpact

    records = [dict(r, member_id=f"{r['member_id']}-{k}") for k in range(40) for r in library_records()]
    given = [0]

    def stream():
        for r in records:
            given[0] += 1
            yield json.dumps(r)

    ahead = []
    compare = pimpact._line_changes

    def watched(x, y):
        ahead.append(given[0] - y.input_line)
        return compare(x, y)

    old, new = load_pack(LIBRARY), load_pack(next_year)
    monkeypatch.setattr(pimpact, "_line_changes", watched)
    streamed = decision_impact(old, new, stream())
    assert given[0] == len(records) and streamed.records == len(records) and len(ahead) == streamed.compared
    assert max(ahead) <= 2 * max(len(library_records()), 8)  # far fewer than the records
    monkeypatch.setattr(pimpact, "_line_changes", compare)
    listed = decision_impact(old, new, [json.dumps(r) for r in records])
    assert streamed.to_dict() == listed.to_dict() and streamed.changed >= 40


def test_decision_impact_between_dates(facts):
    r = run(["diff", LIBRARY, "--date-a", "2025-12", "--date-b", "2026-01", "--facts", facts, "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["mode"] == "dates" and doc["old"]["date"] == "2025-12-01" and doc["new"]["date"] == "2026-01-01"
    groups = {(g["rule"], g["direction"]): g for g in doc["impact"]["by_rule"]}
    assert ("catalog.window", "now denies") in groups
    assert {c["code"] for c in groups[("catalog.window", "now denies")]["codes"]} == {"DVD"}
    assert ("catalog.window", "no longer denies") in groups
    assert ("magazine.same-month", "no longer denies") in groups


def test_impact_moves_each_subject_with_its_history():
    pack = load_pack(LIBRARY)
    recs = [{"member_id": "H", "month": "2026-05", "loans": [{"line": 1, "item": "EBOOK"}]},
            {"member_id": "H", "month": "2026-06", "loans": [{"line": 1, "item": "EBOOK"}]}]
    imp = decision_impact(pack, pack, recs, date_a=dt.date(2025, 12, 1), date_b=dt.date(2026, 1, 1))
    assert imp.compared == 1  # the latest record of the subject, its earlier month as history


def test_markdown_escapes_what_it_shows(next_year):
    d = diff_packs(load(LIBRARY).pack, load(next_year).pack)
    md = render_markdown(d)
    assert "<" not in md.replace("<https", "")


# ---------------------------------------------------------------- across the end of OLD's coverage

def year_2027(tmp_path):
    """Records OLD (covering 2025-2026) never covered: 2027 ones that the 2027 version
    judges differently, one it judges the same, and a 2028 one neither covers."""
    recs = [
        {"member_id": "N1", "month": "2027-02", "member": {"age": 30},
         "loans": [{"line": 1, "item": "BOOK", "units": 14, "date": "2027-02-01"}]},
        {"member_id": "N2", "month": "2027-03", "member": {"age": 30},
         "agreements": [{"program": "MEDIA", "date": "2026-01-01"}],
         "loans": [{"line": 1, "item": "STREAM", "days": 18, "date": "2027-03-02"}]},
        {"member_id": "N3", "month": "2027-04", "member": {"age": 30},
         "loans": [{"line": 1, "item": "BOOK", "date": "2027-04-01"}]},
        {"member_id": "N4", "month": "2028-01", "member": {"age": 30},
         "loans": [{"line": 1, "item": "BOOK", "date": "2028-01-03"}]},
    ]
    return write_jsonl(tmp_path / "2027.jsonl", recs)


def test_carry_forward_keeps_what_was_in_force_on_the_last_covered_day():
    from rulecite.policy_lang.carry import carry_forward

    old = load(LIBRARY).pack
    until = dt.date(2027, 12, 31)
    carried = carry_forward(old, until)
    assert str(carried.coverage) == "2025-01-01..2027-12-31" and str(old.coverage) == "2025-01-01..2026-12-31"
    windows = {r.key: str(r.window) for r in carried.rules}
    assert windows["loans.limit@2"] == "2026-01-01..open"  # open already
    assert windows["loans.limit@1"] == "2025-01-01..2025-12-31"  # ended before: stays ended
    assert windows["magazine.same-month@1"] == "always..2025-12-31"  # retired: stays retired
    assert {c.name: str(c.window) for c in carried.codes}["DVD"] == "always..2025-12-31"
    assert carry_forward(old, dt.date(2026, 6, 30)) is old and carry_forward(carried, until) is carried


STREAM_UNTIL = """  title "Streaming passes last 14 days at most"
  effective 2026-01-01
  until 2026-12-31"""


def test_a_code_and_a_rule_ending_on_the_last_covered_day_are_carried(tmp_path):
    from rulecite.policy_lang.carry import carry_forward

    pack = tmp_path / "lib"
    shutil.copytree(LIBRARY, pack)
    rules = pack / "rules.policy"
    rules.write_text(rules.read_text().replace(STREAM_UNTIL.rsplit("\n", 1)[0], STREAM_UNTIL))
    cat = pack / "catalog.policy"
    cat.write_text(cat.read_text().replace('code EBOOK "E-book" {', 'code EBOOK "E-book" {\n  until 2026-12-31'))
    model = load(pack).pack
    assert {r.id: str(r.window) for r in model.rules}["stream.days"] == "2026-01-01..2026-12-31"
    carried = carry_forward(model, None)
    assert carried.coverage.end is None
    assert {r.id: str(r.window) for r in carried.rules}["stream.days"] == "2026-01-01..open"
    assert {c.name: str(c.window) for c in carried.codes}["EBOOK"] == "always..open"


def test_the_coverage_change_is_in_the_structural_diff(next_year):
    d = diff_packs(load(LIBRARY).pack, load(next_year).pack)
    (cov,) = d.pack
    assert (cov.name, cov.kind, cov.note) == ("coverage", "changed", "now covers until 2027-12-31")
    assert (cov.changes[0].before, cov.changes[0].after) == ("2025-01-01..2026-12-31", "2025-01-01..2027-12-31")
    text = render_text(d)
    assert "Pack settings: 1 changed" in text and "- 2025-01-01..2026-12-31" in text
    assert "## Pack settings" in render_markdown(d)
    assert json.loads(run(["diff", LIBRARY, next_year, "--format", "json"]).stdout)["pack"][0]["name"] == "coverage"


def test_decision_impact_on_dates_only_new_covers_carries_old_forward(next_year, tmp_path):
    facts = year_2027(tmp_path)
    r = run(["diff", LIBRARY, next_year, "--facts", facts])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "(rejected)" not in out
    assert "2 changed (0 allow -> deny, 2 deny -> allow)" in out
    assert ("OLD covers service dates until 2026-12-31: 3 line(s) dated after it were judged by OLD's rules and "
            "values carried forward from OLD's last covered date (2026-12-31)") in out
    assert "1 record(s) outside both packs' coverage: not compared" in out
    assert "loans.limit no longer denies: 1 line(s)  [BOOK x1]" in out
    assert 'cites Bylaws 2026, section "2. Limits", page unverified' in out
    assert "e.g. N1 2027-02 line 1 BOOK: deny by loans.limit -> allow [carried forward]" in out
    assert "stream.days no longer denies: 1 line(s)  [STREAM x1]" in out
    doc = json.loads(run(["diff", LIBRARY, next_year, "--facts", facts, "--format", "json"]).stdout)["impact"]
    assert (doc["carried_forward_from"], doc["carried_forward_lines"], doc["outside_both"]) == ("2026-12-31", 3, 1)
    assert doc["compared"] == 3 and doc["changed"] == 2
    assert all(c["carried_forward"] for c in doc["changes"])
    md = run(["diff", LIBRARY, next_year, "--facts", facts, "--format", "markdown"]).stdout
    assert "carried forward from OLD's last covered date" in md and r"allow \[carried forward\] |" in md


def test_without_carry_forward_the_new_dates_are_counted_apart_not_as_flips(next_year, tmp_path):
    facts = year_2027(tmp_path)
    doc = json.loads(run(["diff", LIBRARY, next_year, "--facts", facts, "--format", "json",
                          "--no-carry-forward"]).stdout)["impact"]
    assert doc["changed"] == 0 and doc["by_rule"] == [] and doc["carried_forward_from"] is None
    assert (doc["only_new_covers"], doc["outside_both"]) == (3, 1)
