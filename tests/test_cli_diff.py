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
                                         "before": "deny by stream.days", "after": "allow",
                                         "input_line": doc["impact"]["changes"][0]["input_line"],
                                         "now_denied_by": [], "no_longer_denied_by": ["stream.days"]}]


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
