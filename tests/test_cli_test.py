"""``rulecite test``: failures one per line with what each line got and the explain command,
the closing count, -k, --coverage, --update."""

from __future__ import annotations

import re
import shlex

from tests.cli_support import BRANCH, LIBRARY, assert_bad_input, run


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


def test_failure_shows_rules_fired_per_line_beside_expectations(library_copy):
    _break_expectations(library_copy)
    r = run(["test", library_copy])
    out = r.stdout
    block = out.split("expected a finding of fines.block; findings: magazine.same-month\n")[1].split("FAIL ")[0]
    # each line: its verdict and the rules that fired (id, version, severity); x marks a difference
    assert "    line 1 MAGAZINE: got allow; no rule fired\n      expected: allow\n" in block
    assert "  x line 2 MAGAZINE: got deny; fired magazine.same-month v1 (deny)\n      expected: allow\n" in block
    assert "  x record: no rule fired\n      expected: finding fines.block\n" in block
    first = out.split("expected allow, got deny by loans.limit\n")[1].split("FAIL ")[0]
    assert "  x line 1 BOOK: got deny; fired loans.limit v1 (deny)\n      expected: allow\n" in first


def test_failure_prints_an_explain_command_that_works(library_copy):
    _break_expectations(library_copy)
    r = run(["test", library_copy])
    cmds = [ln.split("see why: ", 1)[1] for ln in r.stdout.splitlines() if "see why: " in ln]
    assert len(cmds) == 2
    assert cmds[1] == f"rulecite explain {shlex.quote(str(library_copy))} --test 'two magazines in 2025' --line 2"
    argv = shlex.split(cmds[0])
    assert argv[:2] == ["rulecite", "explain"]
    e = run(argv[1:])
    assert e.exit_code == 0, e.output
    assert "member_id M2  month 2025-12" in e.stdout
    assert "[DENY] loans.limit v1" in e.stdout
    assert "Line 1 BOOK (service date 2025-12-31)" in e.stdout


def test_k_selects_by_name_ignoring_case_and_says_how_many(library_copy):
    _break_expectations(library_copy)
    r = run(["test", library_copy, "-k", "ELEVEN ITEMS"])
    assert r.exit_code == 1
    assert r.stdout.count("FAIL ") == 1 and "'eleven items break the 2025 limit'" in r.stdout
    total = len(re.findall(r'^test "', (library_copy / "tests" / "rules_test.policy").read_text(), re.MULTILINE))
    assert r.stdout.splitlines()[-1] == f"1 passed, 1 failed (2 selected, {total - 2} deselected by -k)"
    # repeated -k: any of them; a passing selection exits 0
    ok = run(["test", library_copy, "-k", "small adult", "-k", "stream days"])
    assert ok.exit_code == 0, ok.output
    assert re.fullmatch(r"(\d+) passed, 0 failed \(\1 selected, \d+ deselected by -k\)",
                        ok.stdout.strip().splitlines()[-1])


def test_k_selects_by_file_name():
    r = run(["test", LIBRARY, "-k", "rules_test.policy"])
    assert r.exit_code == 0
    assert r.stdout.strip().endswith(" selected, 0 deselected by -k)")
    # a piece of a folder above the pack matches nothing: only the name and the path inside the pack count
    assert_bad_input(run(["test", LIBRARY, "-k", "packs/library"]), "selects none")


def test_k_selecting_nothing_is_an_error_not_a_pass():
    r = run(["test", LIBRARY, "-k", "no such test anywhere"])
    assert_bad_input(r, "-k 'no such test anywhere' selects none of the", "nothing was run")
    assert "passed" not in r.stdout
    near = run(["test", LIBRARY, "-k", "stream dayz"])
    assert_bad_input(near, "did you mean `stream days`")


def test_explain_test_option_errors():
    assert_bad_input(run(["explain", LIBRARY, "--test", "stream dayz"]), "no test named", "did you mean `stream days`")
    assert_bad_input(run(["explain", LIBRARY]), "--record", "--test")
    assert_bad_input(run(["explain", LIBRARY, "x.jsonl", "--test", "stream days"]), "give no FACTS")
    assert_bad_input(run(["explain", LIBRARY, "--test", "stream days", "--line", "7"]), "no loans line 7")


def test_explain_test_uses_the_tests_history_and_as_of():
    from rulecite.interpreter import explain, load_pack

    pack = load_pack(LIBRARY)
    t = next(t for t in pack.model.tests if len(t.records) > 1)
    want = explain(pack, dict(t.records[-1]), as_of=t.as_of, history=[dict(r) for r in t.records[:-1]])
    r = run(["explain", LIBRARY, "--test", t.name, "--format", "json"])
    assert r.exit_code == 0, r.output
    import json

    assert json.loads(r.stdout) == json.loads(json.dumps(want))
