"""``rulecite test``: failures one per line, the closing count, --coverage, --update."""

from __future__ import annotations

import re

from tests.cli_support import BRANCH, LIBRARY, run


def test_passing_pack():
    r = run(["test", LIBRARY])
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"\d+ passed, 0 failed", r.stdout.strip().splitlines()[-1])


def test_extending_pack():
    r = run(["test", BRANCH])
    assert r.exit_code == 0
    assert r.stdout.strip().endswith("passed, 0 failed")


def _break_expectations(pack):
    t = pack / "tests" / "rules_test.policy"
    text = t.read_text()
    text = text.replace("expect line 1 deny loans.limit\n}", "expect line 1 allow\n}", 1)
    text = text.replace("  expect line 2 deny magazine.same-month\n",
                        "  expect line 2 allow\n  expect finding fines.block\n", 1)
    t.write_text(text)
    return t


def test_failures_one_line_each_with_rule_record_and_difference(library_copy):
    _break_expectations(library_copy)
    r = run(["test", library_copy])
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    fails = [ln for ln in lines if ln.startswith("FAIL ")]
    assert len(fails) == 3
    first = fails[0]
    assert "rules_test.policy:" in first
    assert "'eleven items break the 2025 limit'" in first
    assert "[member_id M2, month 2025-12]" in first
    assert "expected allow, got deny by loans.limit" in first
    assert any("expected a finding of fines.block" in f for f in fails)
    assert re.fullmatch(r"\d+ passed, 2 failed", lines[-1])


def test_update_rerecords_only_failing_expectations(library_copy):
    t = _break_expectations(library_copy)
    before = t.read_text()
    r = run(["test", library_copy, "--update"])
    assert r.exit_code == 0, r.output
    assert "re-recorded expectations in" in r.stderr
    after = t.read_text()
    assert "expect line 1 deny loans.limit\n}" in after
    assert "  expect line 2 deny magazine.same-month\n  expect no finding fines.block\n" in after
    # every other line is untouched
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert all(a.strip().startswith("expect") for a, _ in changed)
    assert run(["test", library_copy]).exit_code == 0


def test_update_on_a_passing_pack_changes_nothing(library_copy):
    t = library_copy / "tests" / "rules_test.policy"
    before = t.read_text()
    r = run(["test", library_copy, "--update"])
    assert r.exit_code == 0
    assert t.read_text() == before


def test_update_records_a_rejection(library_copy):
    t = library_copy / "tests" / "rules_test.policy"
    text = t.read_text()
    assert text.index('"month": "2025-03"') < text.index('test "', 5)  # the first test's facts
    text = text.replace('"month": "2025-03"', '"month": "2024-03"', 1)
    t.write_text(text)
    assert run(["test", library_copy]).exit_code == 1
    assert run(["test", library_copy, "--update"]).exit_code == 0
    block = t.read_text().split('"a small adult month is allowed"')[1].split('\ntest "')[0]
    assert "expect rejected" in block and "expect line 1 allow" not in block


def test_coverage_complete():
    r = run(["test", LIBRARY, "--coverage"])
    assert r.exit_code == 0
    assert "coverage: every rule has a deny case" in r.stdout


def test_coverage_lists_gaps(library_copy):
    t = library_copy / "tests" / "rules_test.policy"
    text = t.read_text()
    start = text.index('test "a stream pass for three weeks is too long"')
    end = text.index("}\n", text.index("expect line 1 deny stream.days", start)) + 2
    t.write_text(text[:start] + text[end:])
    r = run(["test", library_copy, "--coverage"])
    assert r.exit_code == 0
    assert "rules without a deny case" in r.stdout
    assert "    stream.days" in r.stdout
