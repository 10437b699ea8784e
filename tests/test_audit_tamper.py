"""A decision log that was tampered with does not verify.

The log is chained (each line holds the sha256 of the line before it) and each run
is framed by a header (pack, clock, options) and a footer (counts). These tests take
a log written by ``rulecite eval`` and damage it every way the security review
listed (deleted, duplicated, swapped, edited lines; a forged pack name or lock; a
missing header or footer; wrong counts; a torn last line; malformed entries), and
check that ``rulecite verify-log`` exits 1 and says where. The generated cases are
the tampered-logs corpus; tests/hostile/logs/ holds the hand-written malformed
entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.tools.audit import LOG_FORMAT, DecisionLogWriter, RawTee
from rulecite.interpreter.tools.verify import verify
from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS

from tests.cli_support import LIBRARY, library_records, run, write_jsonl

HOSTILE_LOGS = Path(__file__).parent / "hostile" / "logs"


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("tamper") / "facts.jsonl", library_records(), ["not json"])


@pytest.fixture(scope="module")
def log_bytes(facts, tmp_path_factory):
    log = tmp_path_factory.mktemp("tamper-log") / "decisions.jsonl"
    r = run(["eval", LIBRARY, facts, "-q", "--decision-log", log, "--as-of", "2026-06-30"])
    assert r.exit_code == 0, r.output
    return log.read_bytes()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def lines_of(data: bytes) -> list:
    return data.split(b"\n")[:-1]


def dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def rechain(objs: list) -> list:
    """What an attacker who rewrites the whole log does: every prev and every count made right."""
    out, prev, count = [], None, None
    for o in objs:
        o = dict(o)
        if o.get("type") == "header":
            count = {"entries": 0, "results": 0, "rejections": 0}
        elif o.get("type") == "decision":
            count["entries"] += 1
            count["rejections" if "rejected" in o else "results"] += 1
        elif o.get("type") == "footer":
            o.update(count, records=count["entries"])
        o["prev"] = prev
        line = dump(o)
        prev = sha(line)
        out.append(line)
    return out


def verify_lines(tmp_path, facts, lines, *extra, name="tampered.jsonl"):
    log = tmp_path / name
    log.write_bytes(b"".join(x + b"\n" for x in lines))
    r = run(["verify-log", log, LIBRARY, facts, *extra])
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit)), r.output
    return r


# ---------------------------------------------------------------- the format


def test_a_run_is_a_header_chained_entries_and_a_footer(log_bytes):
    lines = lines_of(log_bytes)
    objs = [json.loads(x) for x in lines]
    pack = load_pack(LIBRARY)
    head, body, foot = objs[0], objs[1:-1], objs[-1]
    assert all(o["log"] == LOG_FORMAT == "rulecite-decision/3" for o in objs)
    assert head["type"] == "header" and head["prev"] is None and head["findings"] == "full"
    assert head["pack"] == {"name": pack.name, "version": pack.version, "sha256": pack.lock}
    assert head["as_of"] == "2026-06-30"
    assert head["options"] == {k: v for k, v in sorted(attrs.asdict(DEFAULT_LIMITS).items())}
    assert head["options"]["max_depth"] == 32 and head["options"]["max_record_bytes"] == 1_000_000
    assert {o["type"] for o in body} == {"decision"} and len(body) == len(library_records()) + 1
    for before, line, o in zip(lines, lines[1:], objs[1:]):
        assert o["prev"] == sha(before), line
    assert foot["type"] == "footer" and foot["complete"] is True
    assert foot["records"] == foot["entries"] == len(body)
    rejected = sum("rejected" in o for o in body)
    assert rejected >= 2 and foot["rejections"] == rejected and foot["results"] == len(body) - rejected
    assert foot["prev"] == sha(lines[-2])
    # the one wall-clock value is in the footer, which no later hash of this run covers
    assert foot["logged_at"].endswith("Z") and not any("logged_at" in o for o in objs[:-1])


def test_an_untouched_log_verifies(tmp_path, facts, log_bytes):
    r = verify_lines(tmp_path, facts, lines_of(log_bytes))
    assert r.exit_code == 0, r.stdout
    n = len(library_records()) + 1
    assert f"{n} decisions checked: {n} reproduced, 0 differ, 0 missing" in r.stdout
    assert f"last line (log line {n + 2}) sha256 {sha(lines_of(log_bytes)[-1])}" in r.stdout


# ---------------------------------------------------------------- the tampered-logs corpus


def _edit_verdict(lines):
    o = json.loads(lines[3])
    o["verdicts"] = [dict(v, verdict="allow", rules=[]) for v in o["verdicts"]]
    o.pop("findings")
    o["findings"] = []
    return lines[:3] + [dump(o)] + lines[4:]


def _forge(lines, field, value):
    out = []
    for x in lines:
        o = json.loads(x)
        if "pack" in o:
            o["pack"] = dict(o["pack"], **{field: value})
        out.append(dump(o))
    return out


TAMPERED = {
    # name: (what is done to the lines, what verify-log must say)
    "entry deleted": (lambda ls: ls[:5] + ls[6:], ["CHAIN log line 6: does not follow log line 5"]),
    "first entry deleted": (lambda ls: ls[:1] + ls[2:], ["CHAIN log line 2: does not follow log line 1"]),
    "last entry deleted": (lambda ls: ls[:-2] + ls[-1:], ["CHAIN log line 21: does not follow log line 20",
                                                          "footer counts 20 entries; the run has 19"]),
    "entry duplicated": (lambda ls: ls[:6] + ls[5:], ["CHAIN log line 7: does not follow log line 6",
                                                      "TWICE"]),
    "entries swapped": (lambda ls: ls[:4] + [ls[5], ls[4]] + ls[6:], ["CHAIN log line 5", "CHAIN log line 6",
                                                                       "CHAIN log line 7"]),
    "entry edited": (_edit_verdict, ["CHAIN log line 5: does not follow log line 4"]),
    "pack name forged": (lambda ls: _forge(ls, "name", "approved-pack"), ["CHAIN log line 2", "PACK"]),
    "pack lock forged": (lambda ls: _forge(ls, "sha256", "0" * 64), ["CHAIN log line 2", "PACK"]),
    "header deleted": (lambda ls: ls[1:], ["CHAIN log line 1: the log starts in the middle of a chain",
                                           "RUN log line 1: a decision outside a run"]),
    "footer deleted": (lambda ls: ls[:-1], ["INCOMPLETE log line 1: the run has no footer"]),
    "log cut short": (lambda ls: ls[:8], ["INCOMPLETE log line 1: the run has no footer"]),
    "last line torn": (lambda ls: ls[:-1] + [ls[-1][:40]], ["BAD log line 22: not JSON",
                                                            "INCOMPLETE log line 1: the run has no footer"]),
    "foreign format-1 entry inserted": (
        lambda ls: ls[:3] + [dump(dict({k: v for k, v in json.loads(ls[3]).items() if k not in ("type", "prev")},
                                       log="rulecite-decision/1"))] + ls[3:],
        ["CHAIN log line 5", "RUN log line 4: a format 1 entry inside a chained run"]),
    "second header inside a run": (lambda ls: ls[:3] + [ls[0]] + ls[3:],
                                   ["INCOMPLETE log line 1: the run has no footer", "CHAIN log line 4"]),
    "line endings changed to CRLF": (lambda ls: [x + b"\r" for x in ls], ["CHAIN log line 2: does not follow"]),
    "footer says complete: false": (
        lambda ls: rechain([json.loads(x) for x in ls[:-1]]
                           + [dict(json.loads(ls[-1]), complete=False, reason="stopped")]),
        ["INCOMPLETE log line 22: the run stopped before its end (stopped)"]),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_log_fails(case, tmp_path, facts, log_bytes):
    change, said = TAMPERED[case]
    r = verify_lines(tmp_path, facts, change(lines_of(log_bytes)))
    assert r.exit_code == 1, r.stdout
    for words in said:
        assert words in r.stdout, (words, r.stdout)
    doc = json.loads(verify_lines(tmp_path, facts, change(lines_of(log_bytes)), "--format", "json").stdout)
    assert doc["ok"] is False


def test_any_single_line_deleted_duplicated_swapped_or_edited_is_found(tmp_path, facts, log_bytes):
    """The class, not only the listed cases: every position, for each kind of damage."""
    lines = lines_of(log_bytes)
    pack = load_pack(LIBRARY)

    def items():
        return list(open(facts, "rb"))

    def report(ls):
        return verify(ls, pack, items, evaluate)

    assert report(lines).ok
    rng = random.Random(5)
    for i in range(len(lines)):
        assert not report(lines[:i] + lines[i + 1:]).ok, f"deleted line {i + 1}"
        assert not report(lines[:i + 1] + lines[i:]).ok, f"duplicated line {i + 1}"
        if i + 1 < len(lines):
            assert not report(lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2:]).ok, f"swapped {i + 1}"
        o = json.loads(lines[i])
        # the last line's stamp and version: no later line covers them (documented: keep its hash elsewhere)
        key = rng.choice(sorted(set(o) - ({"logged_at", "rulecite"} if i == len(lines) - 1 else set())))
        o[key] = "x" if o[key] != "x" else "y"
        assert not report(lines[:i] + [dump(o)] + lines[i + 1:]).ok, f"edited {key} of line {i + 1}"


# ---------------------------------------------------------------- beyond the chain: a full rewrite


def test_a_rewritten_chain_still_has_its_decisions_checked(tmp_path, facts, log_bytes):
    """A chain does not stop whoever rewrites every line after the change (documented);
    the decisions, ids and periods are still re-evaluated."""
    objs = [json.loads(x) for x in lines_of(log_bytes)]
    target = next(o for o in objs if o.get("id") == "M2")
    target["id"], target["period"] = "M99", "2024-01"
    r = verify_lines(tmp_path, facts, rechain(objs))
    assert r.exit_code == 1
    assert "DIFFERS M99 2024-01" in r.stdout and "id was M99; now M2" in r.stdout
    assert "period was 2024-01; now 2025-12" in r.stdout


def test_facts_records_with_no_entry_are_reported(tmp_path, facts, log_bytes):
    objs = [json.loads(x) for x in lines_of(log_bytes)]
    gone = objs.pop(5)
    r = verify_lines(tmp_path, facts, rechain(objs))
    assert r.exit_code == 1
    assert f"UNLOGGED {gone['id']} {gone['period']} (facts input line {gone['input_line']})" in r.stdout
    doc = json.loads(verify_lines(tmp_path, facts, rechain(objs), "--format", "json").stdout)
    assert [u["input_line"] for u in doc["unlogged"]] == [gone["input_line"]]
    # the log may cover only part of the facts when you say so
    r = verify_lines(tmp_path, facts, rechain(objs), "--subset")
    assert r.exit_code == 0, r.stdout


def test_an_entry_used_twice_in_one_run_is_reported(tmp_path, facts, log_bytes):
    objs = [json.loads(x) for x in lines_of(log_bytes)]
    objs.insert(8, dict(objs[6]))
    r = verify_lines(tmp_path, facts, rechain(objs))
    assert r.exit_code == 1
    assert f"TWICE {objs[6]['id']} {objs[6]['period']}: log line 9 and log line 7" in r.stdout
    assert "RUN log line 9: input line" in r.stdout  # entries out of input order


def test_the_same_facts_in_two_runs_is_not_twice(tmp_path, facts):
    log = tmp_path / "two.jsonl"
    for _ in range(2):
        assert run(["eval", LIBRARY, facts, "-q", "--decision-log", log]).exit_code == 0
    lines = lines_of(log.read_bytes())
    second = len(library_records()) + 3
    assert json.loads(lines[second])["type"] == "header"
    assert json.loads(lines[second])["prev"] == sha(lines[second - 1])  # segments chain too
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 0, r.stdout
    assert "2 runs" in r.stdout
    # a whole run cut out of the middle (or the front) is found
    r = verify_lines(tmp_path, facts, lines[second:])
    assert r.exit_code == 1 and "CHAIN log line 1: the log starts in the middle of a chain" in r.stdout


def test_a_log_written_with_another_pack_fails_unless_allowed(tmp_path, facts, log_bytes):
    import shutil

    other = tmp_path / "library"
    shutil.copytree(LIBRARY, other)
    toml = other / "pack.toml"
    toml.write_text(toml.read_text() + "\n# a comment changes the lock\n")
    r = verify_lines(tmp_path, facts, lines_of(log_bytes))
    assert r.exit_code == 0
    log = tmp_path / "tampered.jsonl"
    r = run(["verify-log", log, other, facts])
    assert r.exit_code == 1
    assert "PACK log line 1: the run was logged with library-loans 2026.1.0 (lock" in r.stdout
    assert "same name and version, another lock" in r.stdout
    r = run(["verify-log", log, other, facts, "--allow-other-pack"])
    assert r.exit_code == 0, r.stdout
    assert "note: the run at log line 1 was logged with library-loans 2026.1.0" in r.stdout


# ---------------------------------------------------------------- malformed entries: bad lines, never a crash


def _malformed_cases():
    return sorted(p.name for p in HOSTILE_LOGS.glob("*.jsonl"))


def test_the_malformed_corpus_is_there():
    names = _malformed_cases()
    assert len(names) >= 10
    expected = json.loads((HOSTILE_LOGS / "expected.json").read_text())
    assert sorted(expected) == names


@pytest.mark.parametrize("name", _malformed_cases())
def test_malformed_entries_are_bad_lines(name, facts):
    expected = json.loads((HOSTILE_LOGS / "expected.json").read_text())[name]
    for fmt in ("text", "json"):
        r = run(["verify-log", HOSTILE_LOGS / name, LIBRARY, facts, "--format", fmt])
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.output and "internal error" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    r = run(["verify-log", HOSTILE_LOGS / name, LIBRARY, facts])
    assert expected in r.stdout, r.stdout


def test_an_empty_log_verifies_nothing_and_says_so(tmp_path, facts):
    r = verify_lines(tmp_path, facts, [])
    assert r.exit_code == 1
    assert "INCOMPLETE: the log holds no run" in r.stdout


# ---------------------------------------------------------------- old logs


def test_an_unchained_format_1_log_is_read_with_a_warning(tmp_path, facts, log_bytes):
    objs = [json.loads(x) for x in lines_of(log_bytes)][1:-1]
    old = [dump(dict({k: v for k, v in o.items() if k not in ("type", "prev")}, log="rulecite-decision/1",
                     logged_at="2026-04-02T09:15:00Z")) for o in objs]
    r = verify_lines(tmp_path, facts, old)
    assert r.exit_code == 0, r.stdout
    assert "warning: unchained log (format 1), log lines 1-20: tamper checks not possible" in r.stdout
    doc = json.loads(verify_lines(tmp_path, facts, old, "--format", "json").stdout)
    assert doc["ok"] is True and doc["unchained_lines"] == 20


# ---------------------------------------------------------------- appending: torn last lines, runs that stop


def test_appending_after_a_torn_last_line_starts_a_new_line(tmp_path, facts, log_bytes):
    log = tmp_path / "torn.jsonl"
    torn = log_bytes[: len(log_bytes) - 30]  # the footer cut mid-line, no newline: a run killed while writing
    log.write_bytes(torn)
    assert run(["eval", LIBRARY, facts, "-q", "--decision-log", log]).exit_code == 0
    data = log.read_bytes()
    assert data.startswith(torn + b"\n{")
    lines = lines_of(data)
    head = json.loads(lines[22])
    assert head["type"] == "header" and head["prev"] == sha(lines[21])
    for x in lines[22:]:
        json.loads(x)  # every line of the new run whole
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 1
    assert "BAD log line 22: not JSON" in r.stdout
    assert "INCOMPLETE log line 1: the run has no footer" in r.stdout
    assert "CHAIN" not in r.stdout  # the new run continues the chain from the torn line


def test_appending_to_a_log_ending_without_a_newline_but_whole(tmp_path, facts, log_bytes):
    log = tmp_path / "nonl.jsonl"
    log.write_bytes(log_bytes.rstrip(b"\n"))
    assert run(["eval", LIBRARY, facts, "-q", "--decision-log", log]).exit_code == 0
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 0, r.stdout


@pytest.mark.parametrize("stop", [BrokenPipeError, KeyboardInterrupt])
def test_a_run_that_stops_early_marks_its_log_incomplete(tmp_path, facts, monkeypatch, stop):
    from rulecite.cli import eval as eval_cli

    log = tmp_path / "stopped.jsonl"
    calls = {"n": 0}
    real = eval_cli.JsonlWriter.write

    def write(self, item):
        calls["n"] += 1
        if calls["n"] == 8:
            raise stop()
        return real(self, item)

    monkeypatch.setattr(eval_cli.JsonlWriter, "write", write)
    run(["eval", LIBRARY, facts, "-q", "--decision-log", log])
    objs = [json.loads(x) for x in lines_of(log.read_bytes())]
    foot = objs[-1]
    assert foot["type"] == "footer" and foot["complete"] is False
    assert foot["entries"] == sum(o["type"] == "decision" for o in objs) < len(library_records())
    assert foot["reason"] == f"the run stopped early ({stop.__name__})"
    monkeypatch.undo()
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 1
    assert f"the run stopped before its end (the run stopped early ({stop.__name__}))" in r.stdout


def test_eval_into_head_leaves_the_log_marked_incomplete(tmp_path):
    """`rulecite eval ... --decision-log L | head -1`, really: the reader goes away."""
    recs = library_records()
    big = write_jsonl(tmp_path / "big.jsonl", [dict(r, member_id=f"{r['member_id']}-{i}")
                                               for i in range(400) for r in recs])
    log = tmp_path / "head.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "rulecite.cli.main", "eval", str(LIBRARY), str(big), "-q",
                             "--decision-log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    assert b"Traceback" not in err
    foot = json.loads(lines_of(log.read_bytes())[-1])
    assert foot["type"] == "footer"
    assert foot["complete"] is False and foot["entries"] < len(recs) * 400


def test_the_library_writer(tmp_path, facts):
    """The same log from Python, through the writer the CLI uses."""
    pack = load_pack(LIBRARY)
    path = tmp_path / "py.jsonl"
    with open(path, "a+b") as f, open(facts, "rb") as source:
        w = DecisionLogWriter(f, pack, None, "0.1.0")
        items = RawTee(source)
        for result in evaluate(pack, items):
            w.add(result, items.pop(result.input_line))
        w.finish()
        w.close()
    r = run(["verify-log", path, LIBRARY, facts])
    assert r.exit_code == 0, r.stdout
    cli_log = tmp_path / "cli.jsonl"
    run(["eval", LIBRARY, facts, "-q", "--decision-log", cli_log])
    assert lines_of(path.read_bytes())[:-1] == lines_of(cli_log.read_bytes())[:-1]


def test_the_log_is_the_same_bytes_with_jobs(tmp_path, facts):
    """Chained bytes, header and footer alike, whatever the engine; only the footer's stamp may differ."""
    logs = []
    for extra in ([], ["--jobs", "2"]):
        log = tmp_path / f"log{len(logs)}.jsonl"
        assert run(["eval", LIBRARY, facts, "-q", "--decision-log", log, *extra]).exit_code == 0
        lines = lines_of(log.read_bytes())
        foot = json.loads(lines[-1])
        foot.pop("logged_at")
        logs.append(lines[:-1] + [dump(foot)])
    assert logs[0] == logs[1]


def test_an_entry_that_does_not_fit_its_header_is_reported(tmp_path, facts, log_bytes):
    objs = [json.loads(x) for x in lines_of(log_bytes)]
    objs[3] = dict(objs[3], as_of=None)
    objs[4] = dict(objs[4], pack=dict(objs[4]["pack"], version="2099.1.0"))
    r = verify_lines(tmp_path, facts, rechain(objs))
    assert r.exit_code == 1
    assert 'RUN log line 4: the entry\'s as_of is null; its run\'s header says "2026-06-30"' in r.stdout
    assert "RUN log line 5: the entry names the pack library-loans 2099.1.0" in r.stdout


def test_a_run_appended_to_a_format_1_log_chains_to_it(tmp_path, facts, log_bytes):
    objs = [json.loads(x) for x in lines_of(log_bytes)][1:-1]
    old = [dump(dict({k: v for k, v in o.items() if k not in ("type", "prev")}, log="rulecite-decision/1"))
           for o in objs]
    log = tmp_path / "old.jsonl"
    log.write_bytes(b"".join(x + b"\n" for x in old))
    assert run(["eval", LIBRARY, facts, "-q", "--decision-log", log, "--as-of", "2026-06-30"]).exit_code == 0
    lines = lines_of(log.read_bytes())
    assert json.loads(lines[len(old)])["prev"] == sha(old[-1])
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 0, r.stdout
    assert "unchained log (format 1), log lines 1-20" in r.stdout and "CHAIN" not in r.stdout
