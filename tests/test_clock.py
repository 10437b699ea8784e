"""The publication clock against ``supersedes`` and ``retire``: a cut takes effect on a
service date only once the clock knows the source behind it; until then what was known
stays in force (issue 17 part 6). Tested on both sides of the publication date, in the
model, the API, explain, the CLI, and on the CMS pack extended by a hypothetical 2027 rule."""

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
