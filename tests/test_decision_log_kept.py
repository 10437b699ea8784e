"""The decision log explains itself: each finding keeps the message, the evidence and the
citations as they were when decided (format 3), ``--decision-log-lean`` keeps today's
size, format 2 logs are still read, and ``verify-log`` checks what is kept: a message,
an evidence value or a citation edited in a log whose chain was rewritten to match is a
decision that differs; a kept part removed from a full run is a RUN problem."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.cli_support import LIBRARY, assert_bad_input, library_records, run, write_jsonl


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("kept") / "facts.jsonl", library_records(), ["not json"])


def _log(facts, path, *extra) -> list:
    r = run(["eval", LIBRARY, facts, "-q", "--decision-log", path, "--as-of", "2026-06-30", *extra])
    assert r.exit_code == 0, r.output
    return [json.loads(x) for x in path.read_bytes().split(b"\n") if x.strip()]


@pytest.fixture(scope="module")
def full(facts, tmp_path_factory):
    return _log(facts, tmp_path_factory.mktemp("full") / "log.jsonl")


@pytest.fixture(scope="module")
def lean(facts, tmp_path_factory):
    return _log(facts, tmp_path_factory.mktemp("lean") / "log.jsonl", "--decision-log-lean")


def rechain(objs: list) -> bytes:
    """A log rewritten whole, every prev made right (what a forger with the file does)."""
    out, prev = [], None
    for o in objs:
        o = dict(o, prev=prev)
        line = json.dumps(o, ensure_ascii=False).encode()
        prev = hashlib.sha256(line).hexdigest()
        out.append(line + b"\n")
    return b"".join(out)


def verify(tmp_path, facts, objs):
    log = tmp_path / "log.jsonl"
    log.write_bytes(rechain(objs))
    r = run(["verify-log", log, LIBRARY, facts])
    assert "Traceback" not in r.output, r.output
    return r


def _first_with_findings(objs) -> int:
    return next(i for i, o in enumerate(objs) if o.get("type") == "decision" and o.get("findings"))


def test_a_full_entry_answers_why_without_the_pack(full):
    head = full[0]
    assert head["log"] == "rulecite-decision/3" and head["findings"] == "full"
    decisions = [o for o in full if o["type"] == "decision" and "findings" in o]
    kept = [f for o in decisions for f in o["findings"]]
    assert kept and all(set(f) >= {"rule", "version", "severity", "line", "message", "evidence", "citations"}
                        for f in kept)
    fines = next(f for f in kept if f["rule"] == "fines.block")
    assert fines["message"] and fines["evidence"] == [{"expr": "member.fines", "value": fines["evidence"][0]["value"],
                                                       "path": "$.member.fines"}]
    assert fines["citations"][0]["citation"] == "Bylaws 2025" and fines["citations"][0]["page"]


def test_an_untouched_full_log_verifies(tmp_path, facts, full):
    r = verify(tmp_path, facts, full)
    assert r.exit_code == 0, r.output


def test_lean_keeps_todays_size(full, lean):
    assert lean[0]["findings"] == "lean"
    for o in lean:
        for f in o.get("findings", []) if o["type"] == "decision" else []:
            assert set(f) == {"rule", "severity", "line"}
    size = lambda objs: sum(len(json.dumps(o)) for o in objs if o["type"] == "decision")  # noqa: E731
    assert size(lean) < size(full)


def test_a_lean_log_verifies(tmp_path, facts, lean):
    assert verify(tmp_path, facts, lean).exit_code == 0


def test_an_edited_message_is_detected_even_with_the_chain_rewritten(tmp_path, facts, full):
    objs = [dict(o) for o in full]
    i = _first_with_findings(objs)
    f = dict(objs[i]["findings"][0], message="nothing was wrong with this line")
    objs[i] = dict(objs[i], findings=[f, *objs[i]["findings"][1:]])
    r = verify(tmp_path, facts, objs)
    assert r.exit_code == 1, r.output
    assert "DIFFERS" in r.output and "the message was \"nothing was wrong with this line\"" in r.output


def test_an_edited_message_breaks_the_chain(tmp_path, facts, full):
    log = tmp_path / "log.jsonl"
    data = rechain(full)
    lines = data.split(b"\n")
    i = _first_with_findings(full)
    o = json.loads(lines[i])
    o["findings"][0]["message"] = "edited"
    lines[i] = json.dumps(o, ensure_ascii=False).encode()
    log.write_bytes(b"\n".join(lines))
    r = run(["verify-log", log, LIBRARY, facts])
    assert r.exit_code == 1 and "CHAIN" in r.output, r.output


def test_an_invented_page_is_detected(tmp_path, facts, full):
    objs = [dict(o) for o in full]
    i = _first_with_findings(objs)
    f = objs[i]["findings"][0]
    cites = [dict(c, page="49411") for c in f["citations"]]
    objs[i] = dict(objs[i], findings=[dict(f, citations=cites), *objs[i]["findings"][1:]])
    r = verify(tmp_path, facts, objs)
    assert r.exit_code == 1 and "the citations differ" in r.output, r.output


def test_an_edited_evidence_value_is_detected(tmp_path, facts, full):
    objs = [dict(o) for o in full]
    i = next(i for i, o in enumerate(objs) if o.get("type") == "decision"
             and any(f["evidence"] for f in o.get("findings", [])))
    fs = [dict(f) for f in objs[i]["findings"]]
    k = next(k for k, f in enumerate(fs) if f["evidence"])
    fs[k]["evidence"] = [dict(fs[k]["evidence"][0], value=0)] + fs[k]["evidence"][1:]
    objs[i] = dict(objs[i], findings=fs)
    r = verify(tmp_path, facts, objs)
    assert r.exit_code == 1 and "the evidence differ" in r.output, r.output


def test_kept_parts_removed_from_a_full_run(tmp_path, facts, full):
    objs = [dict(o) for o in full]
    i = _first_with_findings(objs)
    objs[i] = dict(objs[i], findings=[{k: f[k] for k in ("rule", "severity", "line")} for f in objs[i]["findings"]])
    r = verify(tmp_path, facts, objs)
    assert r.exit_code == 1, r.output
    assert f"RUN log line {i + 1}: the run keeps findings in full" in r.output and "removed from the entry" in r.output


def test_a_format_2_log_is_still_read(tmp_path, facts, lean):
    old = []
    for o in lean:
        o = dict(o, log="rulecite-decision/2")
        o.pop("findings") if o["type"] == "header" else None
        old.append(o)
    r = verify(tmp_path, facts, old)
    assert r.exit_code == 0, r.output
    # and a format 2 entry inside a format 3 run is not
    mixed = [dict(o) for o in lean]
    i = _first_with_findings(mixed)
    mixed[i] = dict(mixed[i], log="rulecite-decision/2")
    r = verify(tmp_path, facts, mixed)
    assert r.exit_code == 1 and "its run's header is \"rulecite-decision/3\"" in r.output, r.output


def test_malformed_kept_findings_are_bad_lines(tmp_path, facts, full):
    objs = [dict(o) for o in full]
    i = _first_with_findings(objs)
    objs[i] = dict(objs[i], findings=[dict(objs[i]["findings"][0], message=["not", "text"])])
    r = verify(tmp_path, facts, objs)
    assert r.exit_code == 1 and f"BAD log line {i + 1}: finding" in r.output and "message must be text" in r.output
    objs = [dict(full[0], findings="some")] + [dict(o) for o in full[1:]]
    r = verify(tmp_path, facts, objs)
    assert r.exit_code == 1 and 'BAD log line 1: findings must be "full" or "lean"' in r.output, r.output


def test_lean_needs_a_log(facts):
    assert_bad_input(run(["eval", LIBRARY, facts, "-q", "--decision-log-lean"]), "--decision-log")
