"""``rulecite diff`` and the carry-forward with dated parameters, definitions and sets by
program (issue 17): a yearly update that changes a cap by one dated value, edits a
definition and adds a code its program's set takes, compared structurally (with the
citations of both values) and over records (OLD carried forward keeps its last value)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.reports.diff import render_markdown, render_text
from rulecite.interpreter.reports.impact import render_markdown as impact_markdown
from rulecite.interpreter.reports.impact import render_text as impact_text
from rulecite.interpreter.tools.impact import decision_impact
from rulecite.policy_lang import load
from rulecite.policy_lang.carry import carry_forward
from rulecite.policy_lang.diff import diff_dates, diff_packs

from tests.cli_support import TESTS, run, write_jsonl

CLOCK = TESTS / "packs" / "clock"

SOURCES = """
source RULES2026 {
  title     "Tool library lending rules, 2026 edition"
  citation  "Rules 2026"
  published 2025-11-15
  effective 2026-01-01
  url       "https://tools.example.org/rules/2026"
  kind      regulation
}
"""

SOURCE_2027 = """
source RULES2027 {
  title     "Tool library lending rules, 2027 edition"
  citation  "Rules 2027"
  published 2026-11-15
  effective 2027-01-01
  url       "https://tools.example.org/rules/2027"
  kind      regulation
}
"""

RULES = """
code DRILL "Power drill" { program POWER cite RULES2026 section "1. Tools" }
code SAW "Circular saw" { program POWER cite RULES2026 section "1. Tools" }

set POWER_TOOLS = {program POWER}

parameter drill_cap {
  title "Most drills a month"
  from 2026-01-01 value 2 cite RULES2026 section "2. Limits"
}

def too_many(l: line, cap: int) = l.units > cap

rule drill.cap {
  title "At most the yearly cap of drills a month"
  cite RULES2026 section "2. Limits"
  for l in loans where l.item == "DRILL"
  deny when too_many(l, drill_cap)
  message "{l.units} drills; the limit is {drill_cap}"
}

rule power.trained {
  title "Power tools need the safety class"
  cite RULES2026 section "3. Safety"
  for l in loans where l.item in POWER_TOOLS
  deny unless l.trained
  message "{l.item} lent without the safety class"
}
"""


def _pack(root, until: str, policy: str):
    root.mkdir(parents=True)
    toml = (CLOCK / "pack.toml").read_text().replace("until = 2027-12-31", f"until = {until}")
    (root / "pack.toml").write_text(toml)
    shutil.copy(CLOCK / "facts.schema.json", root / "facts.schema.json")
    (root / "rules.policy").write_text(policy)
    loaded = load(root)
    assert loaded.ok, [(d.code, d.message) for d in loaded.diagnostics if d.severity == "error"]
    return root


@pytest.fixture
def old(tmp_path):
    return _pack(tmp_path / "old", "2026-12-31", SOURCES + RULES)


@pytest.fixture
def new(tmp_path):
    """2027: one value line (the cap 2 -> 3, citing the new edition), a definition's body
    changed, and a new code of program POWER, which the set by program takes."""
    policy = (SOURCES + SOURCE_2027 + RULES).replace(
        'from 2026-01-01 value 2 cite RULES2026 section "2. Limits"\n',
        'from 2026-01-01 value 2 cite RULES2026 section "2. Limits"\n'
        '  from 2027-01-01 value 3 cite RULES2027 section "2. Limits"\n').replace(
        "def too_many(l: line, cap: int) = l.units > cap", "def too_many(l: line, cap: int) = l.units >= cap + 1")
    policy += '\ncode GRINDER "Angle grinder" { program POWER effective 2027-01-01 cite RULES2027 section "1. Tools" }\n'
    return _pack(tmp_path / "new", "2027-12-31", policy)


def drills(units: int, month: str = "2027-02", rid: str = "D1") -> dict:
    return {"member_id": rid, "month": month, "loans": [{"line": 1, "item": "DRILL", "units": units, "trained": True}]}


def test_the_diff_names_the_value_added_with_its_date_and_both_citations(old, new):
    d = diff_packs(load(old).pack, load(new).pack)
    (item,) = d.parameters
    assert (item.name, item.kind, item.title) == ("drill_cap", "changed", "Most drills a month")
    assert item.note == "from 2027-01-01: 2 -> 3; read by drill.cap"
    (c,) = item.changes
    assert (c.field, c.before, c.after) == ("value added from 2027-01-01", "2 (in force from 2026-01-01)", "3")
    assert [(x.source.name, x.section) for x in c.cites_before] == [("RULES2026", "2. Limits")]
    assert [(x.source.name, x.section) for x in c.cites_after] == [("RULES2027", "2. Limits")]
    # rule ids unchanged: the rule itself did not change
    assert "drill.cap" not in {i.name for i in d.rules}


def test_the_diff_in_text_json_and_markdown(old, new):
    d = diff_packs(load(old).pack, load(new).pack)
    text = render_text(d)
    assert ("Dated parameters: 1 changed\n"
            '  ~ changed    drill_cap  "Most drills a month"\n'
            "      from 2027-01-01: 2 -> 3; read by drill.cap\n"
            "      value added from 2027-01-01:\n"
            "        - 2 (in force from 2026-01-01)\n"
            '            cites Rules 2026, section "2. Limits", page unverified\n'
            "        + 3\n"
            '            cites Rules 2027, section "2. Limits", page unverified\n') in text
    doc = d.to_dict()
    (p,) = doc["parameters"]
    (c,) = p["changes"]
    assert c["citations_before"][0]["source"] == "RULES2026" and c["citations_after"][0]["source"] == "RULES2027"
    assert c["citations_after"][0]["page"] == "unverified"
    md = render_markdown(d)
    assert "## Dated parameters" in md and "- **changed** `drill_cap`: Most drills a month" in md
    assert "    - value added from 2027-01-01: 2 \\(in force from 2026-01-01\\) → 3" in md
    assert '        - cited before: <a class="rc-source-link" href="https://tools.example.org/rules/2026">Rules 2026</a>' in md
    assert '        - cited after: <a class="rc-source-link" href="https://tools.example.org/rules/2027">Rules 2027</a>' in md


def test_the_cli_diff_shows_the_parameter(old, new):
    r = run(["diff", old, new])
    assert r.exit_code == 0, r.output
    assert "      value added from 2027-01-01:\n" in r.stdout and "cites Rules 2027" in r.stdout
    doc = json.loads(run(["diff", old, new, "--format", "json"]).stdout)
    assert doc["parameters"][0]["changes"][0]["after"] == "3"
    assert "## Dated parameters" in run(["diff", old, new, "--format", "markdown"]).stdout


def test_a_value_changed_or_removed_and_a_parameter_added_or_removed(tmp_path, old):
    policy = (SOURCES + SOURCE_2027 + RULES).replace(
        'from 2026-01-01 value 2 cite RULES2026 section "2. Limits"\n',
        'from 2026-01-01 value 4 cite RULES2027 section "2. Limits" restates\n')
    policy += '\nparameter saw_cap {\n  from 2026-01-01 value 1 cite RULES2026\n}\n'
    policy += ('\nrule saw.cap {\n  title "One saw"\n  cite RULES2026\n  for l in loans where l.item == "SAW"\n'
               '  deny when l.units > saw_cap\n  message "too many saws"\n}\n')
    other = _pack(tmp_path / "other", "2026-12-31", policy)
    d = diff_packs(load(old).pack, load(other).pack)
    items = {i.name: i for i in d.parameters}
    (c,) = items["drill_cap"].changes
    assert (c.field, c.before, c.after) == ("value changed from 2026-01-01", "2", "4")
    assert [x.source.name for x in c.cites_before] == ["RULES2026"] and [x.source.name for x in c.cites_after] == ["RULES2027"]
    assert items["saw_cap"].kind == "added" and items["saw_cap"].note == "read by saw.cap"
    assert [(x.field, x.before, x.after) for x in items["saw_cap"].changes] == [("value from 2026-01-01", None, "1")]
    back = {i.name: i for i in diff_packs(load(other).pack, load(old).pack).parameters}
    assert back["saw_cap"].kind == "removed" and back["saw_cap"].note == "read by saw.cap"


def test_a_value_removed_shows_what_takes_its_place(old, new):
    (item,) = diff_packs(load(new).pack, load(old).pack).parameters
    (c,) = item.changes
    assert (c.field, c.before, c.after) == ("value removed from 2027-01-01", "3", "2 (in force from 2026-01-01)")
    assert [x.source.name for x in c.cites_before] == ["RULES2027"] and [x.source.name for x in c.cites_after] == ["RULES2026"]


def test_a_changed_definition_names_the_rules_that_call_it(old, new):
    d = diff_packs(load(old).pack, load(new).pack)
    (item,) = d.definitions
    assert (item.name, item.kind, item.title, item.note) == ("too_many", "changed", "def too_many(l: line, cap: int)",
                                                            "read by drill.cap")
    assert [(c.field, c.before, c.after) for c in item.changes] == [("body", "l.units > cap", "l.units >= cap + 1")]
    assert "Definitions: 1 changed" in render_text(d)


def test_a_new_code_of_a_program_joins_the_set_by_program(old, new):
    d = diff_packs(load(old).pack, load(new).pack)
    (s,) = d.sets
    assert (s.name, s.kind, s.note) == ("POWER_TOOLS", "changed", "adds GRINDER")
    assert [i.name for i in d.codes] == ["GRINDER"]


def test_diff_dates_shows_the_value_in_force_on_each_date(new):
    d = diff_dates(load(new).pack, dt.date(2026, 12, 31), dt.date(2027, 1, 1))
    (item,) = d.parameters
    assert item.note == "2 -> 3; read by drill.cap"
    (c,) = item.changes
    assert (c.before, c.after) == ("2 (in force from 2026-01-01)", "3 (in force from 2027-01-01)")
    assert [x.source.name for x in c.cites_after] == ["RULES2027"]
    assert "RULES2027" in {i.name for i in d.sources}  # now cited, by the value
    assert not diff_dates(load(new).pack, dt.date(2026, 6, 1), dt.date(2026, 12, 31)).parameters


def test_carried_forward_old_keeps_its_last_value(old):
    model = load(old).pack
    carried = carry_forward(model, dt.date(2027, 12, 31))
    assert carried.parameter("drill_cap").value_on(dt.date(2027, 6, 1)).value == 2
    pack = load_pack(old)
    from rulecite.interpreter import RulePack

    (res,) = evaluate(RulePack(carried), [drills(3)])
    assert (res.lines[0].verdict, res.lines[0].rules) == ("deny", ("drill.cap",))
    (finding,) = [f for f in res.findings if f.rule == "drill.cap"]
    assert finding.message == "3 drills; the limit is 2"
    assert pack.model.coverage.end == dt.date(2026, 12, 31)


def test_the_impact_names_the_rule_and_both_values_with_their_citations(old, new):
    imp = decision_impact(load_pack(old), load_pack(new), [drills(3), drills(4, rid="D2"), drills(3, "2026-06", "D3")])
    assert (imp.changed, imp.deny_to_allow, imp.carried_lines) == (1, 1, 2)
    (r,) = imp.by_rule
    assert (r.rule, r.direction, r.count) == ("drill.cap", "no longer denies", 1)
    assert [c["source"] for c in r.citations] == ["RULES2026"]  # the rule's and its value's (the same, once)
    (v,) = r.values
    assert (v.name, v.before, v.after) == ("drill_cap", "2", "3")
    assert [c["source"] for c in v.cites_before] == ["RULES2026"] and [c["source"] for c in v.cites_after] == ["RULES2027"]
    text = impact_text(imp)
    assert ("  drill.cap no longer denies: 1 line(s)  [DRILL x1]\n"
            '      cites Rules 2026, section "2. Limits", page unverified\n'
            "      reads drill_cap: 2 -> 3 on 2027-02-01\n"
            '        old value cites Rules 2026, section "2. Limits", page unverified\n'
            '        new value cites Rules 2027, section "2. Limits", page unverified\n'
            "      e.g. D1 2027-02 line 1 DRILL: deny by drill.cap -> allow [carried forward]\n") in text
    md = impact_markdown(imp)
    assert "reads <code>drill\\_cap</code>: 2 → 3 on 2027-02-01 (old value: " in md and "Rules 2027" in md
    doc = imp.to_dict()["by_rule"][0]["values"][0]
    assert doc["name"] == "drill_cap" and doc["before"] == "2" and doc["after"] == "3"
    assert doc["citations_after"][0]["source"] == "RULES2027"


def test_the_cli_diff_facts_names_the_value_change(old, new, tmp_path):
    facts = write_jsonl(tmp_path / "f.jsonl", [drills(3)])
    r = run(["diff", old, new, "--facts", facts])
    assert r.exit_code == 0, r.output
    assert "drill.cap no longer denies: 1 line(s)" in r.stdout and "reads drill_cap: 2 -> 3 on 2027-02-01" in r.stdout
    assert "[carried forward]" in r.stdout


def test_the_sites_what_changed_page_shows_the_value_and_both_citations(new):
    from rulecite.interpreter.reports.site import render_diff

    pack = load(new).pack
    lines = render_diff(pack, diff_dates(pack, dt.date(2026, 12, 31), dt.date(2027, 1, 1)), dt.date(2027, 1, 1))
    text = "\n".join(lines)
    assert "### Dated parameters" in lines
    assert "- **changed** <code>drill\\_cap</code>: Most drills a month (2 -&gt; 3; read by drill.cap)" in text
    assert "        - cited before: " in text and "Rules 2026</a>" in text
    assert "        - cited after: " in text and "Rules 2027</a>" in text
