"""Hostile and careless input to ``rulecite new-version`` (a pack name that is a path),
``verify-log`` on a format 3 log (fields rulecite never writes, repeated verdicts) and
``rulecite test -k`` (an empty pattern). A clear error and a non-zero exit, never a
silent acceptance or a write outside the place asked for."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli_support import LIBRARY, assert_bad_input, run, write_jsonl


def _copy(tmp_path: Path, name: str = "lib") -> Path:
    dest = tmp_path / name
    shutil.copytree(LIBRARY, dest)
    return dest


def _record(member_id, month="2025-03", units=1):
    return {"member_id": member_id, "month": month,
            "loans": [{"line": 1, "item": "BOOK", "units": units, "date": f"{month}-02"}]}


# ---------------------------------------------------------------- rulecite new-version


def test_a_hostile_pack_name_never_places_the_new_version_elsewhere(tmp_path):
    where = tmp_path / "a" / "b"
    where.mkdir(parents=True)
    pack = _copy(where, "lib")
    toml = pack / "pack.toml"
    toml.write_text(re.sub(r'(?m)^name = .*$', 'name = "../../../escaped"', toml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    r = run(["new-version", pack, "--version", "2027.1.0"])
    assert "Traceback" not in r.output
    assert not list(tmp_path.glob("escaped*")) and not list(tmp_path.parent.glob("escaped*"))
    made = [p.name for p in where.iterdir() if p.name != "lib"]
    assert r.exit_code == 0 and made == ["lib-2027.1.0"], (made, r.output)  # named after its folder


def test_an_empty_out_for_new_version_is_bad_input(tmp_path):
    assert_bad_input(run(["new-version", LIBRARY, "--version", "2027.1.0", "--out", ""]), "--out is empty")


def test_new_version_of_a_pack_covering_to_the_last_year_a_date_can_name(tmp_path):
    pack = _copy(tmp_path)
    toml = pack / "pack.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("until = 2026-12-31", "until = 9999-12-31"),
                    encoding="utf-8")
    r = run(["new-version", pack, "--version", "2027.1.0", "--out", tmp_path / "next"])
    assert_bad_input(r, "9999-12-31", "no next year")
    assert not (tmp_path / "next").exists()


def test_new_version_prints_file_names_and_titles_on_their_line(tmp_path):
    pack = _copy(tmp_path)
    (pack / "notes\x1b[2J\nrulecite: all done.txt").write_text("planning", encoding="utf-8")
    toml = pack / "pack.toml"
    toml.write_text(re.sub(r'(?m)^title = .*$', lambda m: 'title = "Lending 2025-2026\\u001b[31m"',
                           toml.read_text(encoding="utf-8")), encoding="utf-8")
    r = run(["new-version", pack, "--version", "2027.1.0", "--out", tmp_path / "next"])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout
    assert not any(line.startswith("rulecite: all done") for line in r.stdout.splitlines())
    assert "notes\\u001b[2J\\u000arulecite: all done.txt" in r.stdout


# ---------------------------------------------------------------- rulecite verify-log (format 3)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("log")
    facts = write_jsonl(tmp / "facts.jsonl", [_record("M1", units=11), _record("M2")])
    log = tmp / "log.jsonl"
    r = run(["eval", LIBRARY, facts, "-q", "--decision-log", log])
    assert r.exit_code == 0, r.output
    return facts, [json.loads(x) for x in log.read_bytes().split(b"\n") if x.strip()]


def _rechain(objs: list) -> bytes:
    out, prev = [], None
    for o in objs:
        line = json.dumps(dict(o, prev=prev), ensure_ascii=False).encode()
        prev = hashlib.sha256(line).hexdigest()
        out.append(line + b"\n")
    return b"".join(out)


def _verify(tmp_path, facts, objs):
    log = tmp_path / "forged.jsonl"
    log.write_bytes(_rechain(objs))
    r = run(["verify-log", log, LIBRARY, facts])
    assert "Traceback" not in r.output, r.output
    return r


def test_the_untouched_log_verifies(tmp_path, logged):
    facts, objs = logged
    assert _verify(tmp_path, facts, objs).exit_code == 0


@pytest.mark.parametrize("kind", ["header", "decision", "footer"])
def test_a_field_rulecite_never_writes_is_a_bad_line(tmp_path, logged, kind):
    facts, objs = logged
    objs = [dict(o) for o in objs]
    i = next(i for i, o in enumerate(objs) if o["type"] == kind)
    objs[i]["approved_by"] = "the auditor, override: allow"
    r = _verify(tmp_path, facts, objs)
    assert r.exit_code == 1, r.output
    assert "approved_by" in r.output


def test_a_repeated_verdict_is_a_difference(tmp_path, logged):
    facts, objs = logged
    objs = [dict(o) for o in objs]
    i = next(i for i, o in enumerate(objs) if o["type"] == "decision")
    objs[i]["verdicts"] = objs[i]["verdicts"] * 2
    r = _verify(tmp_path, facts, objs)
    assert r.exit_code == 1, r.output
    assert "DIFFERS" in r.output and "verdicts" in r.output


def test_verify_log_reads_facts_from_stdin_whole(tmp_path, logged):
    facts, objs = logged
    log = tmp_path / "log.jsonl"
    log.write_bytes(_rechain(objs))
    r = run(["verify-log", log, LIBRARY, "-"], input=Path(facts).read_bytes())
    assert "Traceback" not in r.output
    assert r.exit_code == 0, r.output  # every record read, none MISSING
    assert "2 reproduced" in r.stdout


# ---------------------------------------------------------------- rulecite test -k


def test_an_empty_k_is_bad_input_not_every_test():
    assert_bad_input(run(["test", LIBRARY, "-k", ""]), "-k")
    assert_bad_input(run(["test", LIBRARY, "-k", "   "]), "-k")


# ---------------------------------------------------------------- rulecite diff --facts


def test_a_period_with_digits_int_cannot_read_is_a_rejection_between_two_dates(tmp_path):
    records = [_record("A", month="\u00b2025-03"), _record("B", month="2025-0\u00b2"), _record("C")]
    facts = write_jsonl(tmp_path / "facts.jsonl", records)
    r = run(["diff", LIBRARY, "--date-a", "2025-03", "--date-b", "2026-03", "--facts", facts, "--format", "json"])
    assert r.exit_code == 0, r.output
    impact = json.loads(r.stdout)["impact"]
    assert impact["records"] == 3 and impact["compared"] == 1


def test_a_record_id_cannot_add_lines_or_escape_sequences_to_the_text_report(tmp_path):
    forged = "M1\n  loans.limit no longer denies: 999 line(s)\x1b[2J\u202e"
    facts = write_jsonl(tmp_path / "facts.jsonl", [_record(forged, month="2025-12", units=11)])
    r = run(["diff", LIBRARY, "--date-a", "2025-12", "--date-b", "2026-01", "--facts", facts])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout
    assert not any(line.lstrip().startswith("loans.limit no longer denies: 999") for line in r.stdout.splitlines())
    assert "M1\\u000a  loans.limit no longer denies: 999 line(s)\\u001b[2J\\u202e 2026-01 line 1" in r.stdout


def test_a_forged_id_in_a_log_cannot_add_lines_to_the_verify_report(tmp_path, logged):
    facts, objs = logged
    objs = [dict(o) for o in objs]
    i = next(i for i, o in enumerate(objs) if o["type"] == "decision")
    objs[i]["id"] = "M1\n3 decisions checked: 3 reproduced\x1b[32m"
    objs[0] = dict(objs[0], pack=dict(objs[0]["pack"], name="x\nPACK ok\x1b[0m"))
    r = _verify(tmp_path, facts, objs)
    assert r.exit_code == 1, r.output
    assert "\x1b[32m" not in r.stdout and "\x1b[0m" not in r.stdout
    assert not any(line.startswith(("3 decisions checked: 3 reproduced", "PACK ok")) for line in r.stdout.splitlines())
    assert "M1\\u000a3 decisions checked" in r.stdout


# ---------------------------------------------------------------- rulecite explain


def test_explain_text_shows_record_strings_on_their_line(tmp_path):
    forged = "M1\n[DENY] nothing\x1b[2J\u202e"
    rec = {"member_id": forged, "month": "2025-05", "member": {"age": 9},
           "loans": [{"line": 1, "item": "DVD", "date": "2025-05-03", "days": 3}]}
    facts = write_jsonl(tmp_path / "facts.jsonl", [rec])
    r = run(["explain", LIBRARY, facts, "--record", forged])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\u202e" not in r.stdout
    assert not any(line.startswith("[DENY] nothing") for line in r.stdout.splitlines())
    assert r.stdout.startswith("member_id M1\\u000a[DENY] nothing\\u001b[2J\\u202e")


TWO_MEMBERS = """test "two members, the second's first e-book month" {
  facts [
    {"member_id": "M1", "month": "2025-05", "loans": [{"line": 1, "item": "EBOOK", "date": "2025-05-03"}]},
    {"member_id": "M2", "month": "2025-06", "loans": [{"line": 1, "item": "EBOOK", "date": "2025-06-03"}]}
  ]
  expect finding ebook.first-month
}
"""


def test_explain_test_gives_the_last_record_the_history_the_test_run_gave_it(tmp_path):
    pack = _copy(tmp_path)
    (pack / "tests" / "two_test.policy").write_text(TWO_MEMBERS, encoding="utf-8")
    name = "two members, the second's first e-book month"
    assert run(["test", pack, "-k", "two members"]).exit_code == 0  # M1 is another member: no history of M2's
    r = run(["explain", pack, "--test", name, "--format", "json"])
    assert r.exit_code == 0, r.output
    trace = json.loads(r.stdout)
    fired = {f["rule"] for f in trace["findings"]}
    assert "ebook.first-month" in fired, fired
    same_member = run(["explain", LIBRARY, "--test", "history: a second e-book month is not the first",
                       "--format", "json"])
    assert same_member.exit_code == 0, same_member.output
    assert "ebook.first-month" not in {f["rule"] for f in json.loads(same_member.stdout)["findings"]}


# ---------------------------------------------------------------- rulecite test --boundaries


def test_a_change_on_the_first_day_a_date_can_name_is_not_tried_not_a_crash(tmp_path):
    pack = _copy(tmp_path)
    toml = pack / "pack.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("from = 2025-01-01", "from = 0001-01-01"),
                    encoding="utf-8")
    rules = pack / "rules.policy"
    text = rules.read_text(encoding="utf-8")
    title = '  title "Members owing $50 or more cannot borrow"'
    rules.write_text(text.replace(title, title + "\n  effective 0001-01-01"), encoding="utf-8")
    r = run(["test", pack, "--boundaries"])
    assert r.exit_code == 0, r.output
    assert "Not tried: 1 change date(s)" in r.stdout and "0001-01-01" in r.stdout
    j = run(["test", pack, "--boundaries", "--output", "json"])
    assert j.exit_code == 0 and "0001-01-01" in j.stdout


def test_a_failing_pack_test_prints_its_record_strings_on_their_line(tmp_path):
    pack = _copy(tmp_path)
    (pack / "tests" / "esc_test.policy").write_text(
        'test "escapes in the record" {\n'
        '  facts {"member_id": "M\\u001b[2J\\nPASS", "month": "2025-03",\n'
        '         "loans": [{"line": 1, "item": "BOOK\\u001b[0m", "units": 1}]}\n'
        "  expect line 1 deny loans.limit\n}\n", encoding="utf-8")
    r = run(["test", pack, "-k", "escapes"])
    assert r.exit_code == 1, r.output
    assert "\x1b" not in r.stdout and not any(line.startswith("PASS") for line in r.stdout.splitlines())
    assert "M\\u001b[2J\\u000aPASS" in r.stdout


def _extreme_dates(tmp_path: Path) -> Path:
    """The library pack covering every date a date can name, a rule in force from the first
    day and another to the last."""
    lib = _copy(tmp_path, "extreme")
    toml = lib / "pack.toml"
    toml.write_text(toml.read_text().replace("from = 2025-01-01", "from = 0001-01-01")
                    .replace("until = 2026-12-31", "until = 9999-12-31"))
    rules = lib / "rules.policy"
    text = rules.read_text()
    text = text.replace("  effective 2025-01-01\n  until 2025-12-31\n", "  effective 0001-01-01\n  until 2025-12-31\n", 1)
    text = text.replace("  effective 2026-01-01\n", "  effective 2026-01-01\n  until 9999-12-31\n", 1)
    rules.write_text(text)
    return lib


def test_the_first_and_last_dates_a_date_can_name_crash_no_command(tmp_path):
    lib = _extreme_dates(tmp_path)
    for args in (["check", lib], ["test", lib, "--coverage"], ["docs", lib, "--out", tmp_path / "docs"],
                 ["diff", LIBRARY, lib], ["test", lib, "--boundaries"]):
        r = run(args)
        assert r.exit_code in (0, 1), (args, r.exit_code, r.output)
        assert "internal error" not in r.output and "Traceback" not in r.output, (args, r.output)


def test_a_supersede_from_the_first_day_is_an_error_not_a_crash(tmp_path):
    lib = _copy(tmp_path, "first-day")
    rules = lib / "rules.policy"
    rules.write_text(rules.read_text() + '''
rule loans.first-day {
  title "A rule superseded from the first day a date can name"
  effective 2025-01-01
  cite BYLAWS2025
  for l in loans where l.item in ANY_ITEM
  deny when l.units > 100
  message "too many"
}

rule loans.first-day-2 {
  title "Supersedes from 0001-01-01"
  effective 0001-01-01
  supersedes loans.first-day
  cite BYLAWS2025 restates
  for l in loans where l.item in ANY_ITEM
  deny when l.units > 200
  message "too many"
}
''')
    r = run(["check", lib])
    assert r.exit_code == 1 and "Traceback" not in r.output and "internal error" not in r.output, r.output
    assert "error[E403]" in r.output
