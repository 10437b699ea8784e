"""``rulecite explain``: one record's trace as a readable tree, or JSON."""

from __future__ import annotations

import json

import pytest
from rulecite.interpreter import explain, load_pack

from tests.cli_support import LIBRARY, assert_bad_input, library_records, run, write_jsonl


@pytest.fixture
def facts(tmp_path):
    return write_jsonl(tmp_path / "facts.jsonl", library_records(), ["not json"])


def test_tree_for_a_denied_line(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M7", "--month", "2025-06"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("member_id M7  month 2025-06\npack library-loans 2026.1.0 (lock ")
    assert "line 2 MAGAZINE: DENY by magazine.same-month" in out
    assert "[DENY] magazine.same-month v1: One magazine loan line a month" in out
    assert "applies: l.item == \"MAGAZINE\" = true" in out
    assert "let others = 1" in out
    assert "- l.line = 2" in out
    assert "to pass: " in out and "needs others <= 0; has 1" in out
    assert 'cite Bylaws 2025, section "1. Books", page unverified' in out
    assert "not applicable (4):" in out and "dvd.days: applies to DVD" in out
    assert "not in force on this date" in out and "loans.limit v2" in out


def test_latest_month_by_default_and_history_from_the_file(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M9", "--full"])
    assert "member_id M9  month 2026-02" in r.stdout
    # with its January as history, February is not the first e-book month
    assert "first_ebook_month = false" in r.stdout


def test_one_line(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M8", "--line", "2"])
    assert r.exit_code == 0
    assert "line 2 EBOOK: DENY by fines.block" in r.stdout
    assert "Line 1 " not in r.stdout
    assert "Whole-record rules" in r.stdout and "[DENY] fines.block" in r.stdout


def test_json_is_the_library_explain(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M3", "--format", "json"])
    rec = next(x for x in library_records() if x["member_id"] == "M3")
    assert json.loads(r.stdout) == json.loads(json.dumps(explain(load_pack(LIBRARY), rec)))


def test_record_level_rules_and_absent_values(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M1"])
    assert "Whole-record rules" in r.stdout
    assert "[pass] fines.block v1" in r.stdout
    assert "member.fines = null (absent)" not in r.stdout  # the values under passing rules: with --full
    full = run(["explain", LIBRARY, facts, "--record", "M1", "--full"])
    assert "member.fines = null (absent)" in full.stdout


def test_catalog_window_and_suggestions(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M4"])
    assert "Catalog: catalog.window (line 1)" in r.stdout
    assert "Suggestions" in r.stdout and "STREAM x1" in r.stdout


def test_as_of(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M2", "--month", "2025-12", "--as-of", "2025-01-01"])
    assert r.exit_code == 0
    assert ", as of 2025-01-01" in r.stdout


def test_unknown_month_and_line(facts):
    r = run(["explain", LIBRARY, facts, "--record", "M7", "--month", "2030-01"])
    assert_bad_input(r, "has no record for month", "2025-06")
    assert_bad_input(run(["explain", LIBRARY, facts, "--record", "M7", "--line", "9"]), "no loans line 9",
                     "its lines: 1, 2")


def test_a_record_the_pack_rejects(facts):
    assert_bad_input(run(["explain", LIBRARY, facts, "--record", "M11"]), "cannot be evaluated", "outside")


def test_record_id_is_required(facts):
    r = run(["explain", LIBRARY, facts])
    assert r.exit_code == 2 and "--record" in r.output


def test_from_stdin(facts):
    r = run(["explain", LIBRARY, "-", "--record", "M2"], input=facts.read_text())
    assert r.exit_code == 0 and "member_id M2  month 2026-01" in r.stdout
