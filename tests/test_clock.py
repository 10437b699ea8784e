"""The publication clock against ``supersedes`` and ``retire``: a cut takes effect on a
service date only once the clock knows the source behind it; until then what was known
stays in force (issue 17 part 6). Tested on both sides of the publication date, in the
model, the API, explain, the CLI, and on the CMS pack extended by a hypothetical 2027 rule;
and against a dated parameter value: a new value is in force only once its source is
published by the clock (eval, and diff --facts: no verdict change before that day)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from rulecite.interpreter import evaluate, explain, load_pack
from rulecite.policy_lang import load

from tests.cli_support import CMS, TESTS, run, write_jsonl

CLOCK = TESTS / "packs" / "clock"
DAY_BEFORE, PUBLISHED = dt.date(2026, 11, 14), dt.date(2026, 11, 15)  # RULES2027 is published 2026-11-15


def drills(units: int, month: str = "2027-02") -> dict:
    return {"member_id": "D1", "month": month, "loans": [{"line": 1, "item": "DRILL", "units": units}]}


def saw(month: str = "2027-02") -> dict:
    return {"member_id": "S1", "month": month, "loans": [{"line": 1, "item": "SAW"}]}


def verdict(pack, record, as_of):
    (res,) = evaluate(pack, [record], as_of=as_of)
    (line,) = res.lines
    return line.verdict, tuple(line.rules)


def test_the_model_keeps_the_window_and_what_cut_it():
    rules = {r.id: r for r in load(CLOCK).pack.rules}
    two = rules["drill.two"]
    assert str(two.window) == "2026-01-01..2026-12-31" and str(two.declared_window) == "2026-01-01..open"
    (cut,) = two.cuts
    assert (cut.start, cut.by, [c.source.name for c in cut.citations]) == (dt.date(2027, 1, 1), "drill.three",
                                                                          ["RULES2027"])
    assert str(two.as_of(DAY_BEFORE).window) == "2026-01-01..open" and two.as_of(DAY_BEFORE).superseded_by is None
    assert two.as_of(PUBLISHED) is two and two.as_of(None) is two
    retired = rules["saw.class"]
    assert retired.cuts[0].by is None and retired.retired is not None
    assert str(retired.as_of(DAY_BEFORE).window) == "2026-01-01..open" and retired.as_of(DAY_BEFORE).retired is None


def test_a_supersede_not_yet_published_leaves_the_old_rule_in_force():
    pack = load_pack(CLOCK)
    assert verdict(pack, drills(3), DAY_BEFORE) == ("deny", ("drill.two",))
    assert verdict(pack, drills(3), PUBLISHED) == ("allow", ())
    assert verdict(pack, drills(3), None) == ("allow", ())
    assert verdict(pack, drills(4), PUBLISHED) == ("deny", ("drill.three",))
    # a service date before the cut is judged by the old rule whatever the clock says
    assert verdict(pack, drills(3, "2026-12"), DAY_BEFORE) == ("deny", ("drill.two",))
    assert verdict(pack, drills(3, "2026-12"), PUBLISHED) == ("deny", ("drill.two",))


def test_a_retire_not_yet_published_leaves_the_rule_in_force():
    pack = load_pack(CLOCK)
    assert verdict(pack, saw(), DAY_BEFORE) == ("deny", ("saw.class",))
    assert verdict(pack, saw(), PUBLISHED) == ("allow", ())


def test_explain_follows_the_clock():
    pack = load_pack(CLOCK)
    before = explain(pack, drills(3), line=1, as_of=DAY_BEFORE)
    after = explain(pack, drills(3), line=1, as_of=PUBLISHED)
    text_before, text_after = json.dumps(before), json.dumps(after)
    assert '"drill.two"' in text_before and '"2026-01-01..open"' in text_before
    assert '"2026-01-01..2026-12-31"' in text_after


@pytest.mark.parametrize("as_of, expected", [(DAY_BEFORE, "deny"), (PUBLISHED, "allow")])
def test_cli_eval_on_both_sides_of_the_publication_date(tmp_path, as_of, expected):
    facts = write_jsonl(tmp_path / "f.jsonl", [drills(3)])
    r = run(["eval", CLOCK, facts, "--as-of", as_of.isoformat()])
    assert r.exit_code == 0, r.output
    (line,) = json.loads(r.stdout.splitlines()[0])["lines"]
    assert line["verdict"] == expected


def test_the_clock_packs_own_tests_pass_on_both_sides():
    r = run(["test", CLOCK, "--coverage"])
    assert r.exit_code == 0, r.output
    assert "9 passed, 0 failed" in r.stdout


CMS_2027 = """
# A hypothetical 2027 update, for this test only: no such rule has been published.
source TEST_FR27 {
  title "Hypothetical CY 2027 Final Rule (test fixture)"
  citation "test fixture"
  published 2026-11-01
  effective 2027-01-01
  url "https://example.org/test-fixture-fr27"
  kind final_rule
}

rule units.99439.three {
  title "At most 3 units of 99439 a month (hypothetical 2027 rule)"
  effective 2027-01-01
  supersedes units.two-a-month
  cite TEST_FR27
  for line in claims where line.code == "99439"
  deny when sum(c.units for c in claims where c.code == "99439") > 3
  message "more than 3 units of 99439"
}
"""


def test_cms_pack_extended_to_2027(tmp_path):
    pack_dir = tmp_path / "cms-2027"
    shutil.copytree(CMS, pack_dir)
    toml = pack_dir / "pack.toml"
    toml.write_text(toml.read_text().replace("until = 2026-12-31", "until = 2027-12-31"))
    (pack_dir / "cy2027.policy").write_text(CMS_2027)
    loaded = load(pack_dir)
    assert loaded.ok, [str(d) for d in loaded.diagnostics if d.severity == "error"]
    pack = load_pack(pack_dir)
    rec = {"patient_id": "P1", "month": "2027-03",
           "claims": [{"line": 1, "code": "99490", "npi": "1467503219"},
                      {"line": 2, "code": "99439", "npi": "1467503219", "units": 3}]}

    def line2(as_of):
        (res,) = evaluate(pack, [rec], as_of=as_of)
        return res.lines[1]

    assert "units.two-a-month" in line2(dt.date(2026, 10, 31)).rules
    assert "units.two-a-month" not in line2(dt.date(2026, 11, 1)).rules
    assert "units.99439.three" not in line2(dt.date(2026, 11, 1)).rules


# ---------------------------------------------------------------- dated parameter values

CAP_PACK = """
source RULES2026 {
  title     "Tool library lending rules, 2026 edition"
  citation  "Rules 2026"
  published 2025-11-15
  effective 2026-01-01
  url       "https://tools.example.org/rules/2026"
  kind      regulation
}

source RULES2027 {
  title     "Tool library lending rules, 2027 edition"
  citation  "Rules 2027"
  published 2026-11-15
  effective 2027-01-01
  url       "https://tools.example.org/rules/2027"
  kind      regulation
}

code DRILL "Power drill" {
  cite RULES2026 section "1. Tools"
}

parameter drill_cap {
  title "Most drills a month"
  from 2026-01-01 value 2 cite RULES2026 section "2. Limits"
  from 2027-01-01 value 3 cite RULES2027 section "2. Limits"
}

rule drill.cap {
  title "At most the yearly cap of drills a month"
  cite RULES2026 section "1. Tools"
  for l in loans where l.item == "DRILL"
  deny when l.units > drill_cap
  message "{l.units} drills; the limit is {drill_cap}"
}
"""


@pytest.fixture
def cap_pack(tmp_path):
    """The clock pack's cap as a dated parameter: 2 from 2026, 3 from 2027 (Rules 2027,
    published 2026-11-15)."""
    root = tmp_path / "cap"
    root.mkdir()
    shutil.copy(CLOCK / "pack.toml", root / "pack.toml")
    shutil.copy(CLOCK / "facts.schema.json", root / "facts.schema.json")
    (root / "rules.policy").write_text(CAP_PACK)
    assert load(root).ok, [d.message for d in load(root).diagnostics if d.severity == "error"]
    return root


def _finding(pack, record, as_of):
    (res,) = evaluate(pack, [record], as_of=as_of)
    found = [f for f in res.findings if f.rule == "drill.cap"]
    return res.lines[0].verdict, found


def test_a_value_not_yet_published_leaves_the_previous_value_in_force(cap_pack):
    pack = load_pack(cap_pack)
    verdict_before, (f,) = _finding(pack, drills(3), DAY_BEFORE)
    assert verdict_before == "deny" and f.message == "3 drills; the limit is 2"
    assert [c["source"] for c in f.citations] == ["RULES2026", "RULES2026"]  # the rule's, then the 2026 value's
    assert [c["section"] for c in f.citations] == ["1. Tools", "2. Limits"]
    assert _finding(pack, drills(3), PUBLISHED) == ("allow", [])
    assert _finding(pack, drills(3), None) == ("allow", [])
    verdict_after, (g,) = _finding(pack, drills(4), PUBLISHED)
    assert verdict_after == "deny" and g.message == "4 drills; the limit is 3"
    assert [(c["source"], c["section"]) for c in g.citations] == [("RULES2026", "1. Tools"), ("RULES2027", "2. Limits")]
    # a service date before the new value: the old value whatever the clock says
    assert _finding(pack, drills(3, "2026-12"), PUBLISHED)[0] == "deny"


@pytest.mark.parametrize("as_of, expected, limit", [(DAY_BEFORE, "deny", "2"), (PUBLISHED, "allow", None)])
def test_cli_eval_reads_the_value_known_on_the_day(cap_pack, tmp_path, as_of, expected, limit):
    facts = write_jsonl(tmp_path / "f.jsonl", [drills(3)])
    r = run(["eval", cap_pack, facts, "--as-of", as_of.isoformat()])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.splitlines()[0])
    assert doc["lines"][0]["verdict"] == expected
    if limit:
        (f,) = doc["findings"]
        assert f["message"] == f"3 drills; the limit is {limit}"
        assert "RULES2027" not in {c["source"] for c in f["citations"]}


def test_cli_diff_facts_follows_the_clock_for_values(cap_pack, tmp_path):
    """OLD ends with 2026 and a cap of 2; NEW adds the 2027 value. Before Rules 2027 is
    published the 2027 value is not known: no verdict changes; from that day, it does."""
    old = tmp_path / "old"
    shutil.copytree(cap_pack, old)
    (old / "pack.toml").write_text((old / "pack.toml").read_text().replace("until = 2027-12-31", "until = 2026-12-31"))
    (old / "rules.policy").write_text(CAP_PACK.replace(
        '  from 2027-01-01 value 3 cite RULES2027 section "2. Limits"\n', ""))
    facts = write_jsonl(tmp_path / "f.jsonl", [drills(3)])
    before = run(["diff", old, cap_pack, "--facts", facts, "--as-of", DAY_BEFORE.isoformat()])
    assert before.exit_code == 0, before.output
    assert "no verdict changed" in before.stdout
    after = run(["diff", old, cap_pack, "--facts", facts, "--as-of", PUBLISHED.isoformat()])
    assert "drill.cap no longer denies: 1 line(s)" in after.stdout
    assert "reads drill_cap: 2 -> 3 on 2027-02-01" in after.stdout
    assert '        new value cites Rules 2027, section "2. Limits", page unverified' in after.stdout
