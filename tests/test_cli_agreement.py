"""``eval``, ``explain`` and ``evidence`` judge a record on the same facts.

``explain`` and ``evidence`` find their record through the engine
(``engine.subjects.find_record``): the decoder ``eval`` uses (a repeated key is a
rejection, not a silent merge) and the grouping ``eval`` uses (history is the record's
own group of adjacent records, not every record of that id in the file). These facts
files are ones where the old reading of ``explain`` and ``evaluate`` disagreed.
"""

from __future__ import annotations

import json

import pytest
from rulecite.interpreter import load_pack
from rulecite.interpreter.engine.evaluator import Evaluator
from rulecite.interpreter.engine.subjects import Found, NotFound, find_record

from tests.cli_support import LIBRARY, assert_bad_input, library_records, run

M9_JAN = {"member_id": "M9", "month": "2026-01", "loans": [{"line": 1, "item": "EBOOK"}]}
M9_FEB = {"member_id": "M9", "month": "2026-02", "loans": [{"line": 1, "item": "EBOOK"}]}
# A repeated key: a reader that merges keys keeps the last `loans` (a plain book), where
# eval rejects the record (the DVD lent for 30 days would be denied).
DUPLICATE = ('{"member_id": "M5", "month": "2026-03", "member": {"age": 30, "fines": 0}, '
             '"loans": [{"line": 1, "item": "DVD", "days": 30}], "loans": [{"line": 1, "item": "BOOK"}]}')


def _others():
    return [r for r in library_records() if r["member_id"] not in ("M9", "M5")][:3]


@pytest.fixture
def facts(tmp_path):
    """M9's January, other members, then M9's February: two groups of M9, not adjacent."""
    lines = [json.dumps(M9_JAN)] + [json.dumps(r) for r in _others()] + [json.dumps(M9_FEB), DUPLICATE]
    path = tmp_path / "facts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _eval(facts) -> list:
    r = run(["eval", LIBRARY, facts, "-q"])
    assert r.exit_code == 0, r.output
    return [json.loads(x) for x in r.stdout.splitlines()]


def test_history_is_the_adjacent_group_in_eval_and_explain(facts):
    feb = next(x for x in _eval(facts) if x.get("member_id") == "M9" and x.get("month") == "2026-02")
    # eval: February starts a new group of M9, so its history is empty: a first e-book month
    assert "ebook.first-month" in {f["rule"] for f in feb["findings"]}
    assert any("also appears earlier" in n for n in feb.get("notes", []))
    r = run(["explain", LIBRARY, facts, "--record", "M9", "--month", "2026-02", "--format", "json"])
    assert r.exit_code == 0, r.output
    trace = json.loads(r.stdout)
    assert trace["lines"] == feb["lines"]
    assert [f["rule"] for f in trace["findings"]] == [f["rule"] for f in feb["findings"]]
    text = run(["explain", LIBRARY, facts, "--record", "M9", "--full"]).stdout  # the latest month by default
    assert "member_id M9  month 2026-02" in text and "first_ebook_month = true" in text


def test_history_is_the_adjacent_group_in_evidence(facts, tmp_path):
    r = run(["evidence", LIBRARY, facts, "--record", "M9", "--month", "2026-02", "--out", tmp_path / "packet"])
    assert r.exit_code == 0, r.output
    md = next((tmp_path / "packet").glob("*.md")).read_text(encoding="utf-8")
    assert "ebook.first-month" in md


def test_a_repeated_key_is_the_same_rejection_in_eval_explain_and_evidence(facts, tmp_path):
    rejection = next(x for x in _eval(facts) if x.get("rejected"))
    assert "duplicate key 'loans'" in rejection["reason"]
    for args in (["explain"], ["evidence", "--out", tmp_path / "packet"]):
        r = run([args[0], LIBRARY, facts, "--record", "M5", *args[1:]])
        assert_bad_input(r, "cannot be evaluated", f"rejected at {rejection['path']}: {rejection['reason']}")


def test_find_record_gives_what_evaluate_gives():
    pack = load_pack(LIBRARY)
    ev = Evaluator(pack.compiled(None))
    items = [json.dumps(M9_JAN), json.dumps(M9_FEB), json.dumps(_others()[0]), json.dumps(M9_FEB), DUPLICATE]
    found = find_record(ev, items, "M9")
    assert isinstance(found, Found) and found.input_line == 4 and found.history == [] and found.notes
    found = find_record(ev, items[:2], "M9")
    assert found.input_line == 2 and found.history == [M9_JAN] and found.rejection is None
    bad = find_record(ev, items, "M5")
    assert bad.record is None and bad.rejection.input_line == 5 and "duplicate key" in bad.rejection.reason
    assert find_record(ev, items, "M9", "2030-01") == NotFound(("2026-01", "2026-02"), bad_ids(items), 5)
    assert find_record(ev, items, "nobody").periods == ()


def bad_ids(items) -> frozenset:
    return frozenset({json.loads(items[2])["member_id"]})
