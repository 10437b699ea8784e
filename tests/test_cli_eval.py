"""``rulecite eval``: outputs (Results contract v1), input forms, summary, exit codes."""

from __future__ import annotations

import csv
import io
import json

import jsonschema
import pytest
from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.engine.schemas import results_schema

from tests.cli_support import BRANCH, LIBRARY, assert_bad_input, library_records, run, write_jsonl

BAD_LINES = ["not json", json.dumps({"member_id": "M99", "month": "2026-13", "loans": []})]


@pytest.fixture
def facts(tmp_path):
    return write_jsonl(tmp_path / "facts.jsonl", library_records(), BAD_LINES)


def expected_lines(path, as_of=None) -> list:
    pack = load_pack(LIBRARY)
    with open(path, "rb") as f:
        return [r.to_json() for r in evaluate(pack, list(f), as_of=as_of)]


def test_jsonl_is_exactly_the_library_results_in_input_order(facts):
    r = run(["eval", LIBRARY, facts])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == expected_lines(facts)
    n = len(library_records()) + len(BAD_LINES)
    assert len(r.stdout.splitlines()) == n  # records read = lines out
    inputs = [json.loads(x)["input_line"] for x in r.stdout.splitlines()]
    assert inputs == list(range(1, n + 1))


def test_output_is_deterministic(facts):
    assert run(["eval", LIBRARY, facts]).stdout == run(["eval", LIBRARY, facts]).stdout


def test_every_output_line_validates_against_the_results_schema(facts):
    schema = results_schema(load_pack(LIBRARY).model)
    validator = jsonschema.Draft202012Validator(schema)
    lines = run(["eval", LIBRARY, facts]).stdout.splitlines()
    kinds = set()
    for line in lines:
        doc = json.loads(line)
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], (line, errors)
        kinds.add("rejection" if doc.get("rejected") else "result")
    assert kinds == {"result", "rejection"}


def test_the_generic_results_schema_rejects_a_wrong_key(facts):
    schema = results_schema(None)
    line = json.loads(run(["eval", LIBRARY, facts]).stdout.splitlines()[0])
    assert not jsonschema.Draft202012Validator(schema).is_valid(line)  # member_id is not patient_id


def test_json_output_is_one_array_of_the_same_objects(facts):
    r = run(["eval", LIBRARY, facts, "--output", "json"])
    doc = json.loads(r.stdout)
    assert [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in doc] == expected_lines(facts)


def test_json_output_of_nothing_is_an_empty_array(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = run(["eval", LIBRARY, empty, "-o", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    assert "0 records read" in r.stderr


def test_csv_one_row_per_line(facts):
    r = run(["eval", LIBRARY, facts, "--output", "csv", "--quiet"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["input_line", "member_id", "month", "line", "code", "verdict", "rule", "severity",
                             "message", "citation", "suggestion"]
    m2 = next(x for x in rows if x["member_id"] == "M2" and x["month"] == "2025-12")
    assert m2["verdict"] == "deny" and m2["rule"] == "loans.limit" and m2["severity"] == "deny"
    assert "Bylaws 2025" in m2["citation"] and "page unverified" in m2["citation"]
    n = len(library_records())
    rejected = [x for x in rows if x["verdict"] == "rejected"]  # a row per rejection reason (all of them)
    assert list(dict.fromkeys(x["input_line"] for x in rejected))[-2:] == [str(n + 1), str(n + 2)]
    assert rejected[-1]["message"].startswith("$.month: ")


def test_csv_cells_cannot_become_formulas(tmp_path):
    rec = {"member_id": "=HYPERLINK(\"x\")", "month": "2026-01", "loans": [{"line": 1, "item": "+1"}]}
    f = write_jsonl(tmp_path / "f.jsonl", [rec])
    rows = list(csv.reader(io.StringIO(run(["eval", LIBRARY, f, "-o", "csv", "-q"]).stdout)))
    assert rows[1][1].startswith("'=") and rows[1][4] == "'+1"


def test_table_shows_verdicts_rules_and_citations(facts):
    r = run(["eval", LIBRARY, facts, "--output", "table"])
    out = r.stdout
    assert "member_id M2  month 2025-12" in out
    assert "DENY     loans.limit" in out
    assert "11 items this month; the limit is 10" in out
    assert 'cite Bylaws 2025, section "2. Limits", page unverified' in out
    assert "page 12" in out  # a verified page
    assert "REJECTED  input line" in out
    assert "\x1b[" not in out


def test_summary_on_stderr(facts):
    r = run(["eval", LIBRARY, facts, "-o", "table"])
    err = r.stderr
    n = len(library_records()) + 2
    assert f"{n} records read" in err and "3 rejections" in err
    assert "allowed" in err and "denied" in err
    assert "findings by rule:" in err and "loans.limit" in err
    assert "input line 21 at $.month" in err
    assert "rulecite eval" not in r.stdout


def test_quiet_has_no_summary(facts):
    assert run(["eval", LIBRARY, facts, "-q"]).stderr == ""


def test_no_progress_when_not_a_terminal(facts):
    r = run(["eval", LIBRARY, facts])
    assert "\r" not in r.stderr and "%" not in r.stderr


def test_stdin(facts):
    r = run(["eval", LIBRARY, "-"], input=facts.read_text())
    assert r.stdout.splitlines() == expected_lines(facts)


def test_stdin_json_array(facts):
    recs = library_records()
    r = run(["eval", LIBRARY, "-", "-q"], input=json.dumps(recs, indent=2))
    assert r.exit_code == 0
    assert len(r.stdout.splitlines()) == len(recs)
    assert json.loads(r.stdout.splitlines()[0])["member_id"] == recs[0]["member_id"]


def test_json_file_with_an_array_and_with_one_object(tmp_path):
    recs = library_records()[:3] + [42]
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps(recs))
    lines = run(["eval", LIBRARY, arr, "-q"]).stdout.splitlines()
    assert len(lines) == 4
    got = json.loads(lines[3])
    assert got.pop("pack")["name"] == "library-loans"
    assert got == {"rejected": True, "input_line": 4, "path": "$",
                   "reason": "expected a JSON object, got a number", "other_errors": 0,
                   "errors": [{"path": "$", "reason": "expected a JSON object, got a number"}],
                   "contract": "urn:rulecite:results:v1"}
    one = tmp_path / "one.json"
    one.write_text(json.dumps(recs[0], indent=2))
    assert len(run(["eval", LIBRARY, one, "-q"]).stdout.splitlines()) == 1


def test_jsonl_named_json_still_reads(tmp_path):
    f = write_jsonl(tmp_path / "facts.json", library_records()[:2])
    assert len(run(["eval", LIBRARY, f, "-q"]).stdout.splitlines()) == 2


def test_as_of_is_passed_through(facts):
    r = run(["eval", LIBRARY, facts, "--as-of", "2025-06-01", "-q"])
    assert r.stdout.splitlines() == expected_lines(facts, as_of="2025-06-01")
    assert json.loads(r.stdout.splitlines()[0])["as_of"] == "2025-06-01"


def test_rejects_file(facts, tmp_path):
    rej = tmp_path / "rejects.jsonl"
    r = run(["eval", LIBRARY, facts, "--rejects", rej, "-o", "csv"])
    lines = [json.loads(x) for x in rej.read_text().splitlines()]
    n = len(library_records())
    assert len(lines) == 3 and [x["input_line"] for x in lines][1:] == [n + 1, n + 2]
    assert all(x["rejected"] for x in lines)
    assert str(rej) in r.stderr


def test_fail_on_deny_and_warn(tmp_path):
    recs = library_records()
    ok = [recs[0]]
    warn_only = [next(r for r in recs if r.get("member", {}).get("fines") == 7.5)]
    denied = [recs[1]]
    for name, data, deny_rc, warn_rc in (("ok", ok, 0, 0), ("warn", warn_only, 0, 1), ("deny", denied, 1, 1)):
        f = write_jsonl(tmp_path / f"{name}.jsonl", data)
        assert run(["eval", LIBRARY, f, "-q"]).exit_code == 0
        assert run(["eval", LIBRARY, f, "-q", "--fail-on", "deny"]).exit_code == deny_rc, name
        assert run(["eval", LIBRARY, f, "-q", "--fail-on", "warn"]).exit_code == warn_rc, name


def test_fail_on_reject_counts_rejections(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [], ["not json"])
    assert run(["eval", LIBRARY, f, "-q"]).exit_code == 0
    assert run(["eval", LIBRARY, f, "-q", "--fail-on", "reject"]).exit_code == 1
    assert run(["eval", LIBRARY, f, "-q", "--fail-on", "deny"]).exit_code == 0  # test_cli_eval_money.py


def test_extending_pack(facts):
    r = run(["eval", BRANCH, facts, "-q"])
    assert r.exit_code == 0
    assert json.loads(r.stdout.splitlines()[0])["pack"]["name"] == "library-branch"


def test_hostile_facts_never_trace(tmp_path):
    lines = ["", "[]", "null", "\"x\"", "{" * 5000, json.dumps({"member_id": "M", "month": "2026-01",
             "loans": [{"line": 1, "item": "BOOK", "units": 10**30}]}), "\udcff".encode("utf-8", "surrogatepass")
             .decode("utf-8", "replace"), '{"member_id": "A", "member_id": "B", "month": "2026-01", "loans": []}']
    f = tmp_path / "hostile.jsonl"
    f.write_text("\n".join(lines) + "\n")
    with open(f, "ab") as fh:
        fh.write(b"\xff\xfe\n")
    for out in ("jsonl", "json", "table", "csv"):
        r = run(["eval", LIBRARY, f, "-o", out])
        assert r.exit_code == 0, (out, r.output)
        assert "Traceback" not in r.output
    assert len(run(["eval", LIBRARY, f, "-q"]).stdout.splitlines()) == len(lines) + 1


def test_scheduler_needs_dask_engine(facts):
    assert_bad_input(run(["eval", LIBRARY, facts, "--scheduler", "tcp://127.0.0.1:1"]), "--engine dask")


def test_dask_engine_needs_a_file(facts):
    assert_bad_input(run(["eval", LIBRARY, "-", "--engine", "dask"], input=""), "json lines file")


def test_jobs_gives_identical_output(facts):
    one = run(["eval", LIBRARY, facts, "-q"])
    many = run(["eval", LIBRARY, facts, "-q", "--jobs", "2"])
    assert many.exit_code == 0, many.output
    assert many.stdout == one.stdout


def test_jobs_from_stdin_and_json_arrays(facts, tmp_path):
    one = run(["eval", LIBRARY, facts, "-q"]).stdout
    assert run(["eval", LIBRARY, "-", "-q", "-j", "2"], input=facts.read_text()).stdout == one
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps(library_records()))
    assert run(["eval", LIBRARY, arr, "-q", "-j", "2"]).stdout == run(["eval", LIBRARY, arr, "-q"]).stdout


def _log_without_clock(path):
    return [{k: v for k, v in json.loads(x).items() if k != "logged_at"} for x in path.read_text().splitlines()]


def test_decision_log_is_the_same_with_jobs(facts, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run(["eval", LIBRARY, facts, "-q", "--decision-log", a])
    run(["eval", LIBRARY, facts, "-q", "-j", "2", "--decision-log", b])
    assert _log_without_clock(a) == _log_without_clock(b)


def test_dask_engine_gives_identical_output_and_log(facts, tmp_path):
    pytest.importorskip("distributed")
    one = run(["eval", LIBRARY, facts, "-q", "--decision-log", tmp_path / "a.jsonl"])
    dask = run(["eval", LIBRARY, facts, "-q", "--engine", "dask", "--decision-log", tmp_path / "b.jsonl"])
    assert dask.exit_code == 0, dask.output
    assert dask.stdout == one.stdout
    assert _log_without_clock(tmp_path / "a.jsonl") == _log_without_clock(tmp_path / "b.jsonl")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_record_limits_are_options_and_hitting_one_is_a_rejection(tmp_path, jobs):
    pack = load_pack(LIBRARY)
    records = [r for r in library_records() if not list(evaluate(pack, [r]))[0].kind == "rejection"]
    facts = write_jsonl(tmp_path / "good.jsonl", records, [])
    sizes = [len(json.dumps(r, separators=(",", ":"))) for r in records]
    cut = sorted(sizes)[len(sizes) // 2]  # about half the records are longer than this
    r = run(["eval", LIBRARY, facts, "-q", "-j", jobs, "--max-record-bytes", cut])
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == len(records)
    too_big = [o for o in out if o.get("rejected")]
    assert too_big and len(too_big) < len(out)
    assert all("the limit is" in o["reason"] and o["path"] == "$" for o in too_big)
    # Depth: every library record nests at least 3 levels (record, loans, a loan).
    r = run(["eval", LIBRARY, facts, "-q", "-j", jobs, "--max-depth", "2"])
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == len(records) and all(o.get("rejected") for o in out)
    assert all("deeper than 2 levels" in o["reason"] for o in out)
    # The defaults let every record through.
    r = run(["eval", LIBRARY, facts, "-q", "-j", jobs])
    assert not any(json.loads(x).get("rejected") for x in r.stdout.splitlines())


def test_record_limits_must_be_positive(facts):
    assert_bad_input(run(["eval", LIBRARY, facts, "--max-depth", "0"]), "--max-depth")
    assert_bad_input(run(["eval", LIBRARY, facts, "--max-record-bytes", "-5"]), "--max-record-bytes")


def test_the_table_and_the_summary_never_pass_control_characters_to_the_terminal(tmp_path):
    # a record's id, code and an unknown key holding an escape sequence and a line break
    bad_key = json.dumps({"member_id": "M2", "month": "2025-03", "loans": [], "\u001b[2Jx\nFAKE": 1})
    good = {"member_id": "M\u001b[31mRED\nFAKE LINE", "month": "2025-03",
            "loans": [{"line": 1, "item": "BOOK\u001b[2J", "units": 2, "date": "2025-03-02"}]}
    f = write_jsonl(tmp_path / "esc.jsonl", [good], [bad_key])
    r = run(["eval", LIBRARY, f, "-o", "table"])
    for text in (r.stdout, r.stderr):
        assert "\u001b" not in text and "\nFAKE" not in text, text
    assert "M\\u001b[31mRED\\u000aFAKE LINE" in r.stdout and "BOOK\\u001b[2J" in r.stdout
    assert "\\u001b[2Jx\\u000aFAKE" in r.stderr
