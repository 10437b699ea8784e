"""Interpreter semantics, on the library example pack and small packs built here."""

from __future__ import annotations

import builtins
import json
import shutil
import threading

import pytest

from rulecite.interpreter import PackError, Rejection, Result, evaluate, explain, load_pack

from .conftest import BRANCH, LIBRARY


@pytest.fixture(scope="module")
def lib():
    return load_pack(LIBRARY)


def one(pack, record, **kw):
    (out,) = list(evaluate(pack, [record], **kw))
    return out


def verdicts(result):
    return {v.line: (v.verdict, v.rules) for v in result.lines}


def make_pack(tmp_path, policy: str):
    """A pack with the library's schema and sources plus ``policy``."""
    d = tmp_path / "p"
    d.mkdir()
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        shutil.copy(LIBRARY / name, d / name)
    (d / "rules.policy").write_text(policy)
    return load_pack(d)


def loan(line=1, item="BOOK", **kw):
    return {"line": line, "item": item, **kw}


def rec(month, *loans, member=None, **kw):
    out = {"member_id": kw.pop("member_id", "M1"), "month": month, "loans": list(loans), **kw}
    if member is not None:
        out["member"] = member
    return out


# ---------------------------------------------------------------- date of service


def test_boundary_picks_the_rules_in_force(lib):
    dec = one(lib, rec("2025-12", loan(units=11, date="2025-12-31")))
    jan = one(lib, rec("2026-01", loan(units=11, date="2026-01-01")))
    assert verdicts(dec) == {1: ("deny", ("loans.limit",))}
    assert verdicts(jan) == {1: ("allow", ())}
    assert dec.findings[0].message == "11 items this month; the limit is 10"
    assert dec.findings[0].version == 1


def test_line_date_wins_over_record_month(lib):
    # A line dated 2025-12-31 inside a record for 2026-01 is judged by the 2025 rules.
    r = one(lib, rec("2026-01", loan(units=11, date="2025-12-31")))
    assert verdicts(r)[1] == ("deny", ("loans.limit",))


def test_superseded_rule_drops_out_on_its_date(lib):
    agr = [{"program": "MEDIA", "date": "2025-01-01"}]
    old = one(lib, rec("2025-12", loan(item="DVD", date="2025-12-31", days=10), member={"age": 30}, agreements=agr))
    new = one(lib, rec("2026-01", loan(item="STREAM", date="2026-01-01", days=10), member={"age": 30},
                       agreements=agr))
    assert "dvd.days" in verdicts(old)[1][1]
    assert verdicts(new)[1] == ("allow", ())
    assert not any(f.rule == "dvd.days" for f in new.findings)


def test_retired_rule_drops_out(lib):
    mags = [loan(1, "MAGAZINE"), loan(2, "MAGAZINE")]
    assert verdicts(one(lib, rec("2025-12", *mags)))[2] == ("deny", ("magazine.same-month",))
    assert verdicts(one(lib, rec("2026-01", *mags)))[2] == ("allow", ())


def test_code_outside_its_window_is_denied_with_its_citation(lib):
    r = one(lib, rec("2026-02", loan(item="DVD", date="2026-02-03", days=2), member={"age": 30},
                     agreements=[{"program": "MEDIA", "date": "2025-01-01"}]))
    assert verdicts(r)[1] == ("deny", ("catalog.window",))
    f = [f for f in r.findings if f.rule == "catalog.window"][0]
    assert f.citations[1]["source"] == "BYLAWS2026" and f.citations[1]["page"] == "12"
    assert "ended 2025-12-31" in f.message and "STREAM" in f.message
    assert [s.code for s in r.suggestions if s.source == "catalog.window"] == ["STREAM"]


def test_code_not_yet_started_is_denied(lib):
    r = one(lib, rec("2025-12", loan(item="STREAM", date="2025-12-15", days=2), member={"age": 30},
                     agreements=[{"program": "MEDIA", "date": "2025-01-01"}]))
    f = [f for f in r.findings if f.rule == "catalog.window"][0]
    assert "valid for services from 2026-01-01" in f.message


def test_unknown_code_warns_and_allows(lib):
    r = one(lib, rec("2026-03", loan(item="VINYL")))
    assert r.lines[0].verdict == "allow" and r.lines[0].warnings == ("catalog.unknown-code",)


# ---------------------------------------------------------------- two clocks


def test_as_of_leaves_out_rules_published_later(lib):
    r = rec("2026-01", loan(units=11, date="2026-01-02"))
    now = one(lib, r)
    then = one(lib, r, as_of="2025-06-01")
    # Under the 2025 clock the 2026 bylaws are unknown: the raised limit is not yet known,
    # and no other rule applies to a 2026 service date.
    assert verdicts(now) == {1: ("allow", ())}
    assert verdicts(then) == {1: ("allow", ())}
    assert now.as_of is None and then.as_of == "2025-06-01"
    big = rec("2026-01", loan(units=13, date="2026-01-02"))
    assert verdicts(one(lib, big))[1] == ("deny", ("loans.limit",))
    assert verdicts(one(lib, big, as_of="2025-06-01"))[1] == ("allow", ())


def test_as_of_changes_outcomes_only_through_publication_dates(lib):
    records = [rec("2025-03", loan(units=12, date="2025-03-01")),
               rec("2025-05", loan(item="DVD", date="2025-05-03", days=9), member={"age": 9})]
    # Every rule judging 2025 services cites sources published by 2024-11-15.
    for as_of in ("2024-11-15", "2025-01-01", "2030-01-01", None):
        got = [r.to_dict()["lines"] for r in evaluate(lib, records, as_of=as_of)]
        assert got == [r.to_dict()["lines"] for r in evaluate(lib, records)]
    before = [r.to_dict()["lines"] for r in evaluate(lib, records, as_of="2024-11-14")]
    assert before != [r.to_dict()["lines"] for r in evaluate(lib, records)]


# ---------------------------------------------------------------- history


def test_history_sees_earlier_months_of_the_same_subject(lib):
    jan = rec("2026-01", loan(item="EBOOK"), member_id="H1")
    feb = rec("2026-02", loan(item="EBOOK"), member_id="H1")
    a, b = list(evaluate(lib, [jan, feb]))
    assert any(f.rule == "ebook.first-month" for f in a.findings)
    assert not any(f.rule == "ebook.first-month" for f in b.findings)
    # Input order does not matter inside a group: history is by month.
    b2, a2 = list(evaluate(lib, [feb, jan]))
    assert not any(f.rule == "ebook.first-month" for f in b2.findings)
    assert any(f.rule == "ebook.first-month" for f in a2.findings)


def test_history_is_per_subject(lib):
    a = rec("2026-01", loan(item="EBOOK"), member_id="A")
    b = rec("2026-02", loan(item="EBOOK"), member_id="B")
    out = list(evaluate(lib, [a, b]))
    assert all(any(f.rule == "ebook.first-month" for f in r.findings) for r in out)


def test_ungrouped_input_is_noted(lib):
    a1 = rec("2026-01", loan(item="EBOOK"), member_id="A")
    b = rec("2026-01", loan(item="BOOK"), member_id="B")
    a2 = rec("2026-02", loan(item="EBOOK"), member_id="A")
    out = list(evaluate(lib, [a1, b, a2]))
    assert out[2].notes and "appears earlier" in out[2].notes[0]
    assert not out[0].notes and not out[1].notes


CAP_RULE = '''
rule cap.units {
  title "At most ten units a loan"
  cite BYLAWS2025 section "2. Limits"
  for l in loans where l.item in ANY_ITEM
  deny when l.units > 10
  message "{l.units} units"
}
'''  # reads no history


def test_a_pack_without_history_streams_with_the_same_results(tmp_path, lib):
    """A pack no rule of which reads history judges each record as it reads it
    (``subjects.run_each``); results, rejections, order and notes are those of the
    grouping path."""
    from rulecite.interpreter.engine.evaluator import Evaluator
    from rulecite.interpreter.engine.subjects import run_each, run_groups

    pack = make_pack(tmp_path, CAP_RULE)
    ev = Evaluator(pack.compiled(None))
    assert not ev.uses_history and Evaluator(lib.compiled(None)).uses_history
    records = [rec("2026-01", loan(units=11), member_id="A"), {"member_id": "A", "month": "2026-02"},
               rec("2026-02", loan(units=2), member_id="A"), "not json", rec("2026-01", loan(), member_id="B"),
               rec("2026-03", loan(units=12), member_id="A"), json.dumps(rec("2026-02", member_id="B")),
               rec("2024-01", member_id="B"), rec("2026-04", member_id="C"), rec("2026-05", member_id="A")]
    streamed = [x.to_dict() for x in run_each(ev, records, 1, True)]
    grouped = [x.to_dict() for x in run_groups(ev, records, 1, True)]
    assert streamed == grouped
    assert [x.to_dict() for x in ev.run(records)] == streamed
    assert len(streamed) == len(records)
    noted = [d.get("input_line") for d in streamed if d.get("notes")]
    assert noted == [6, 7, 10]  # A back after B, B back after A, A back after C


def test_a_group_is_named_by_its_first_id_on_every_path(tmp_path):
    """Ids equal as 1, 1.0 and True are one group; the group's notes follow its first
    record's id whether the pack reads history (groups) or not (streaming), and in
    parallel runs."""
    import json as _json

    from rulecite.interpreter.engine import parallel
    from rulecite.interpreter.engine.evaluator import Evaluator
    from rulecite.interpreter.engine.subjects import run_each, run_groups

    def pack_dir(name, rule):
        d = tmp_path / name
        d.mkdir()
        for f in ("pack.toml", "sources.policy", "catalog.policy"):
            shutil.copy(LIBRARY / f, d / f)
        schema = _json.loads((LIBRARY / "facts.schema.json").read_text())
        schema["properties"]["member_id"] = {"type": "integer"}
        (d / "facts.schema.json").write_text(_json.dumps(schema))
        (d / "rules.policy").write_text(rule)
        return d

    plain = pack_dir("plain", CAP_RULE)
    hist = pack_dir("hist", """
rule first.month {
  title "A member's first month"
  cite BYLAWS2025 section "2. Limits"
  for l in loans where l.item in ANY_ITEM
  deny when count(h in history) > 5
  message "{l.item}"
}
""")
    lines = [_json.dumps({"member_id": i, "month": m, "loans": [{"line": 1, "item": "BOOK"}]})
             for i, m in [(1, "2026-01"), (2, "2026-01"), (1.0, "2026-02"), (1, "2026-03"), (True, "2026-04")]]
    for d in (plain, hist):
        ev = Evaluator(load_pack(d).compiled(None))
        assert ev.uses_history == (d is hist)
        outs = [[x.to_dict() for x in run] for run in (
            run_each(ev, lines, 1, True), run_groups(ev, lines, 1, True),
            parallel.evaluate_parallel(d, iter(lines), jobs=2))]
        assert outs[0] == outs[1] == outs[2]
        assert [o.get("notes") for o in outs[0]][:2] == [None, None]
        assert outs[0][2]["notes"] == outs[0][3]["notes"]  # one group, named by 1.0, seen before as 1
        assert outs[0][2]["notes"][0].startswith("member_id 1.0 also appears earlier")
        assert outs[0][4]["rejected"]  # true is not an integer


def test_subject_tracker_tells_ids_apart_as_groups_do():
    from rulecite.interpreter.engine.subjects import SubjectTracker
    from rulecite.policy_lang.model import RecordShape

    seen = SubjectTracker(RecordShape("patient_id", "month", "claims", "line", "code", "date"))
    ids = ["1", 1, 1.5, None, "x" * 65, "x" * 64, 2 ** 70, -(2 ** 63), ("t",), float("nan"), "True"]
    assert [seen.note(i) for i in ids] == [None] * len(ids)
    assert all(seen.note(i) is not None for i in ids)
    assert seen.note(1.0) and seen.note(True)  # equal to 1, as in a group
    assert "x" * 65 in seen.note("x" * 65)


@pytest.mark.parametrize("seed", range(6))
def test_subject_tracker_notes_exactly_the_subjects_seen_before(seed):
    """Against a set of the ids themselves: runs of increasing text ids (kept as text until
    the run ends), ids that come back, smaller ones, numbers, text holding NUL, the empty
    text, and the digests the parallel merger reads (``seen``) at any point."""
    import random

    from rulecite.interpreter.engine.subjects import SubjectTracker, subject_key
    from rulecite.policy_lang.model import RecordShape

    rng = random.Random(seed)
    tracker = SubjectTracker(RecordShape("patient_id", "month", "claims", "line", "code", "date"))
    model: set = set()
    ids = [f"P{i:05d}" for i in range(rng.randrange(0, 400))]  # a sorted start, of any length
    for _ in range(300):
        r = rng.random()
        ids.append(rng.choice(ids) if ids and r < 0.2 else rng.choice(["", "a\0b", "\ud800x", 7, 7.0, None])
                   if r < 0.3 else f"P{rng.randrange(100000):05d}" if r < 0.6 else f"Q{len(ids):06d}")
    for k, gid in enumerate(ids):
        if k == len(ids) // 2 and seed % 2:  # the merger reads the digests mid-way (ends the run)
            assert tracker.seen.add(subject_key("never-a-subject")) is False
        note = tracker.note(gid)
        key = 7 if gid == 7 else gid  # 7 and 7.0 are one subject, as in a group
        assert (note is not None) == (key in model), (k, gid)
        model.add(key)


def test_key_set_is_a_set():
    import random

    from rulecite.interpreter.engine.subjects import KeySet

    rng = random.Random(3)
    keys = KeySet(1024)  # small, so that it grows several times
    model: set = set()
    # Keys equal modulo the table size (1024 at first) probe past each other; keys near 2**64 too.
    pool = ([rng.getrandbits(64) or 1 for _ in range(3000)] + [1024 * i + 5 for i in range(1, 3000)]
            + [2 ** 64 - i for i in range(1, 50)])
    for _ in range(20000):
        k = rng.choice(pool)
        assert keys.add(k) == (k in model)
        model.add(k)
    assert len(keys) == len(model) > 4000
    assert all(keys.add(k) for k in model)
    assert len(keys.table) * 3 // 4 >= len(model)  # it grew, and stays at most three quarters full


# ---------------------------------------------------------------- findings, suggestions, explain


def test_findings_carry_citations_evidence_and_paths(lib):
    r = one(lib, rec("2025-05", loan(item="DVD", date="2025-05-03", days=9), member={"age": 9},
                     agreements=[{"program": "MEDIA", "date": "2025-01-01"}]))
    f = {f.rule: f for f in r.findings}
    age = f["media.age"].to_dict()
    assert age["message"] == "DVD lent to a member aged 9"
    assert age["evidence"] == {"member.age": 9}
    assert age["evidence_paths"] == {"member.age": "$.member.age"}
    assert age["citations"][0]["quote"] == "Discs are lent to members aged thirteen and over."
    assert age["citations"][0]["page"] == "unverified"
    assert age["suggestion"] == "lend a BOOK instead"
    days = f["dvd.days"].to_dict()
    assert days["evidence_paths"] == {"l.days": "$.loans[0].days"}


def test_record_level_deny_denies_every_line(lib):
    r = one(lib, rec("2025-07", loan(1, "BOOK"), loan(2, "EBOOK"), member={"fines": 50}))
    assert all(v.verdict == "deny" and "fines.block" in v.rules for v in r.lines)
    assert [f.line for f in r.findings if f.rule == "fines.block"] == [None]


def test_warnings_do_not_deny(lib):
    r = one(lib, rec("2025-06", loan(), member={"fines": 7.5}))
    assert r.lines[0].verdict == "allow"
    assert any(f.rule == "fines.warning" and f.severity == "warn" for f in r.findings)
    assert "member owes $7.5" in [f.message for f in r.findings][0]


def test_suggestions_come_back(lib):
    r = one(lib, rec("2026-02", loan(item="DVD", units=2, date="2026-02-03", days=2), member={"age": 30},
                     agreements=[{"program": "MEDIA", "date": "2025-01-01"}]))
    s = [s for s in r.suggestions if s.source == "loans.stream-instead"]
    assert s and s[0].code == "STREAM" and s[0].units == 2
    assert s[0].reason == "DVD ended 2025-12-31; lend 2 STREAM pass(es) instead"


def test_explain_names_the_smallest_fix(lib):
    r = rec("2025-12", loan(units=11, date="2025-12-31"))
    ex = explain(lib, r, line=1)
    trace = [t for t in ex["rules"] if t["rule"] == "loans.limit" and t["in_window"]][0]
    assert trace["fires"] and trace["fix"] == ["needs total_units <= 10; has 11"]
    assert trace["condition"]["children"][0] == {"expr": "total_units", "value": 11}
    later = [t for t in ex["rules"] if t["rule"] == "loans.limit" and not t["in_window"]][0]
    assert later["outcome"] == "not in force"
    na = [t for t in ex["rules"] if t["rule"] == "media.age"][0]
    assert na["outcome"] == "not applicable" and "DVD" in na["why"]


def test_explain_fix_for_membership_and_quantifier(lib):
    r = rec("2026-02", loan(item="STREAM", date="2026-02-03", days=3), member={"age": 30})
    ex = explain(lib, r, line=1)
    t = [t for t in ex["rules"] if t["rule"] == "media.agreement"][0]
    assert t["fix"][0].startswith("needs some a in agreements where a.program == \"MEDIA\"")


def test_explain_agrees_with_evaluate(lib):
    records = [rec("2025-05", loan(1, "DVD", date="2025-05-03", days=9), loan(2, "BOOK", units=12),
                   member={"age": 9}),
               rec("2026-02", loan(1, "MAGAZINE"), loan(2, "STREAM", date="2026-02-01", days=20))]
    for r in records:
        res = one(lib, r)
        ex = explain(lib, r)
        fired = {(t["rule"], t["line"]) for t in ex["rules"] if t.get("fires") and t["severity"] == "deny"}
        from_eval = {(f.rule, f.line) for f in res.findings if f.severity == "deny"
                     and not f.rule.startswith("catalog.")}
        assert fired == from_eval


# ---------------------------------------------------------------- absent values


ABSENT = '''
rule a.eq {
  title "eq" cite BYLAWS2025
  for l in loans
  deny when member.age == 5
  message "m"
}
rule a.ne {
  title "ne" cite BYLAWS2025
  for l in loans
  deny when member.age != 5
  message "m"
}
rule a.list {
  title "absent list is empty" cite BYLAWS2025
  for l in loans
  deny when count(a in agreements) != 0
  message "m"
}
rule a.default {
  title "absent units default to 1" cite BYLAWS2025
  for l in loans
  deny when l.units != 1
  message "m"
}
rule a.bool {
  title "absent boolean is false" cite BYLAWS2025
  for l in loans
  deny when member.verified
  message "m"
}
rule a.arith {
  title "arithmetic with absent is absent; comparison false" cite BYLAWS2025
  for l in loans
  deny when l.days + 1 > 0 or l.days + 1 <= 0
  message "m {l.days}"
}
rule a.present {
  title "present" cite BYLAWS2025
  for l in loans
  info unless present(l.days)
  message "no days: {l.days}"
}
'''


def test_absent_values_have_one_meaning(tmp_path):
    pack = make_pack(tmp_path, ABSENT)
    r = one(pack, rec("2025-03", loan()))
    assert r.lines[0].verdict == "allow", r.to_dict()
    assert [f.rule for f in r.findings] == ["a.present"]
    assert r.findings[0].message == "no days: (none)"
    present = one(pack, rec("2025-03", loan(units=2, days=3), member={"age": 7, "verified": True}))
    assert set(present.lines[0].rules) == {"a.ne", "a.default", "a.bool", "a.arith"}


# ---------------------------------------------------------------- bad input


def test_bad_records_become_rejections_with_line_path_and_reason(lib):
    items = ['{"member_id": "A", "month": "2025-01", "loans": []}', "not json", "[1, 2]",
             '{"member_id": "A", "month": "2025-01", "loans": [{"line": "one", "item": "BOOK"}]}',
             '{"member_id": "A", "month": "2025-02", "loans": [], "loans": []}', "", 42, None]
    out = list(evaluate(lib, items))
    assert len(out) == len(items)
    assert isinstance(out[0], Result)
    rej = [o for o in out if isinstance(o, Rejection)]
    assert [r.input_line for r in rej] == [2, 3, 4, 5, 6, 7, 8]
    by_line = {r.input_line: r for r in rej}
    assert by_line[2].reason.startswith("not JSON")
    assert by_line[3].reason == "expected a JSON object, got an array"
    assert by_line[4].path == "$.loans[0].line" and "'one' is not of type 'integer'" in by_line[4].reason
    assert "duplicate key" in by_line[5].reason
    assert by_line[6].reason.startswith("empty line")


def test_rejection_counts_other_errors(lib):
    r = one(lib, {"member_id": 5, "month": "2025-13", "loans": "x"})
    assert isinstance(r, Rejection) and r.other_errors >= 2


def test_outside_coverage_is_rejected_not_guessed(lib):
    r = one(lib, rec("2024-12", loan()))
    assert isinstance(r, Rejection) and r.path == "$.month" and "outside" in r.reason


def test_a_line_dated_outside_coverage_is_denied_alone_and_the_others_judged(lib):
    """One line the pack cannot judge neither rejects the whole record nor slips through:
    it is denied by the built-in `coverage.outside`, and every other line gets its verdict."""
    r = one(lib, rec("2025-01", loan(date="2027-01-01"), loan(line=2, date="2025-01-02")))
    assert isinstance(r, Result)
    first, second = r.lines
    assert first.verdict == "deny" and first.rules == ("coverage.outside",)
    assert second.verdict == "allow"
    (f,) = [f for f in r.findings if f.rule == "coverage.outside"]
    assert "2027-01-01 is outside the dates this pack covers" in f.message and f.line == first.line
    # a line inside coverage that the rules deny keeps that verdict beside it
    r = one(lib, rec("2025-01", loan(date="2027-01-01"), loan(line=2, units=20, date="2025-01-02")))
    assert r.lines[1].verdict == "deny" and "coverage.outside" not in r.lines[1].rules


# ---------------------------------------------------------------- API guarantees


def test_load_pack_raises_every_error_at_once(library_copy):
    (library_copy / "bad.policy").write_text("let zz_one = nope\nlet zz_two = nada\n")
    with pytest.raises(PackError) as e:
        load_pack(library_copy)
    assert [d.code for d in e.value.diagnostics if d.severity == "error"] == ["E200", "E200"]


def test_bundled_pack_by_name_not_found_is_a_pack_error():
    with pytest.raises(PackError):
        load_pack("no-such-bundled-pack")


def test_evaluation_does_no_io(lib, monkeypatch):
    records = [rec("2025-05", loan(1, "DVD", date="2025-05-03", days=9), member={"age": 9})]
    expected = [r.to_json() for r in evaluate(lib, records)]

    def no_io(*a, **k):
        raise AssertionError("evaluation opened a file")

    monkeypatch.setattr(builtins, "open", no_io)
    assert [r.to_json() for r in evaluate(lib, records)] == expected


def test_thread_safe(lib):
    records = [rec(f"2025-{m:02d}", loan(units=m), member_id=f"T{m}") for m in range(1, 13)]
    expected = [r.to_json() for r in evaluate(lib, records)]
    got = []

    def work():
        got.append([r.to_json() for r in evaluate(lib, records, as_of="2030-01-01")])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8
    for g in got:
        assert [json.loads(x)["lines"] for x in g] == [json.loads(x)["lines"] for x in expected]


def test_evaluate_is_lazy(lib):
    def gen():
        yield rec("2025-01", loan(), member_id="A")
        yield rec("2025-01", loan(), member_id="B")
        raise AssertionError("read too far")

    it = evaluate(lib, gen())
    first = next(it)
    assert first.id == "A"


def test_extending_pack_evaluates_override_and_new_rule():
    branch = load_pack(BRANCH)
    r = one(branch, rec("2026-02", loan(item="STREAM", date="2026-02-01", days=3), member={"age": 9},
                        agreements=[{"program": "MEDIA", "date": "2026-01-01"}]))
    assert r.lines[0].verdict == "allow"
    r = one(branch, rec("2026-02", loan(item="EBOOK", units=4)))
    assert r.lines[0].rules == ("branch.ebook-cap",)
    assert r.pack.name == "library-branch"


def test_generated_code_maps_back_to_policy_spans(lib):
    cp = lib.compiled(None)
    assert cp.filename.startswith("<rulecite library-loans@")
    import linecache

    assert linecache.getline(cp.filename, 1)
    spans = set(cp.source_map.values())
    assert any(s.file.endswith("rules.policy") for s in spans)


def test_program_of_reads_the_catalog(tmp_path):
    pack = make_pack(tmp_path, '''
rule p.media {
  title "media lines need a media agreement for the item's program" cite BYLAWS2025
  for l in loans where program_of(l.item) == "MEDIA"
  deny unless any(a in agreements where a.program == program_of(l.item))
  message "{l.item} is {program_of(l.item)}"
}
''')
    r = one(pack, rec("2025-03", loan(1, "DVD", date="2025-03-01", days=1), loan(2, "BOOK")))
    assert verdicts(r) == {1: ("deny", ("p.media",)), 2: ("allow", ())}
    assert r.findings[0].message == "DVD is MEDIA"
    ex = explain(pack, rec("2025-03", loan(1, "DVD", date="2025-03-01", days=1)))
    assert [t["fires"] for t in ex["rules"] if t["rule"] == "p.media"] == [True]


def test_default_day_last_dates_undated_lines_at_month_end(library_copy):
    toml = library_copy / "pack.toml"
    agr = [{"program": "MEDIA", "date": "2025-03-15"}]
    r = rec("2025-03", loan(1, "DVD", days=1), member={"age": 30}, agreements=agr)
    first = one(load_pack(library_copy), r)
    toml.write_text(toml.read_text().replace('line_date = "date"', 'line_date = "date"\ndefault_day = "last"'))
    last = one(load_pack(library_copy), r)
    # media.agreement needs the agreement on or before the service date.
    assert "media.agreement" in verdicts(first)[1][1]
    assert verdicts(last)[1] == ("allow", ())


def test_date_functions(tmp_path):
    pack = make_pack(tmp_path, '''
rule d.window {
  title "loan within 30 days of the agreement" cite BYLAWS2025
  for l in loans where l.item == "BOOK"
  deny unless any(a in agreements where l.date <= add_days(a.date, 30) and days_between(a.date, l.date) >= 0)
  message "{add_days(l.date, -1)} {months_between(2025-01, month)} {last_day(month)} {add_months(month, 13)}"
}
''')
    ok = one(pack, rec("2025-02", loan(date="2025-02-09"), agreements=[{"program": "BOOKS", "date": "2025-01-10"}]))
    bad = one(pack, rec("2025-02", loan(date="2025-02-10"), agreements=[{"program": "BOOKS", "date": "2025-01-10"}]))
    assert ok.lines[0].verdict == "allow"
    assert bad.lines[0].verdict == "deny"
    assert bad.findings[0].message == "2025-02-09 1 2025-02-28 2026-03"


def test_explain_of_one_line_shows_record_level_rules(lib):
    ex = explain(lib, rec("2025-07", loan(1, "BOOK"), loan(2, "EBOOK"), member={"fines": 50}), line=2)
    block = [t for t in ex["rules"] if t["rule"] == "fines.block"]
    assert block and block[0]["fires"] and block[0]["line"] is None


def test_inherited_tests_run_when_asked():
    from rulecite.interpreter.tools.packtest import run_tests

    branch = load_pack(BRANCH)
    own = run_tests(branch)
    both = run_tests(branch, include_inherited=True)
    assert len(both.cases) > len(own.cases)
    assert {c.name for c in own.cases} < {c.name for c in both.cases}


def test_unusable_pack_path_is_a_pack_error():
    with pytest.raises(PackError):
        load_pack("x" * 300)


@pytest.mark.parametrize("pack_name", ["library", "cms-care-management"])
def test_counts_agree_with_to_dict(pack_name, lib):
    """``Result.counts()`` (what the CLI summary reads) gives the numbers ``to_dict``
    gives, before and after the lines and findings are wrapped into objects."""
    from rulecite.interpreter.tools.synth import synthesize

    pack = lib if pack_name == "library" else load_pack(pack_name)
    seen_deny = seen_findings = 0
    for i, r in enumerate(x for x in evaluate(pack, synthesize(pack, 300, seed=5)) if x.kind == "result"):
        d = r.to_dict()
        want = (sum(v["verdict"] == "allow" for v in d["lines"]), sum(v["verdict"] == "deny" for v in d["lines"]),
                tuple((f["rule"], f["severity"]) for f in d["findings"]))
        if i % 2:
            r.lines, r.findings  # noqa: B018 - wrap them
        assert r.counts() == want
        seen_deny += want[1]
        seen_findings += len(want[2])
    assert seen_deny and seen_findings  # the records exercise denials and findings


def test_evaluate_given_one_record_says_how_to_call_it(lib):
    with pytest.raises(TypeError, match=r"evaluate\(pack, \[record\]\)"):
        evaluate(lib, rec("2025-01", loan()))
    with pytest.raises(TypeError, match="one text"):
        evaluate(lib, json.dumps(rec("2025-01", loan())))


def test_a_pack_error_leads_with_its_first_error_not_a_warning(library_copy):
    (library_copy / "a.policy").write_text("set UNUSED = {BOOK}\n")  # W701, sorts first
    (library_copy / "b.policy").write_text("let broken = nope\n")  # E200
    with pytest.raises(PackError) as e:
        load_pack(library_copy)
    assert "first: " in str(e.value) and "E200" in str(e.value) and "W701" not in str(e.value)


def test_explain_of_a_line_the_record_lacks_raises_what_the_cli_reports(lib):
    from rulecite.interpreter import LineNotFound
    from rulecite.policy_lang import RuleciteError

    with pytest.raises(LineNotFound) as e:
        explain(lib, rec("2025-03", loan()), line=99)
    assert isinstance(e.value, RuleciteError) and isinstance(e.value, LookupError)
    assert str(e.value) == "member_id `M1` has no loans line 99" and e.value.hints == ("its lines: 1",)
    assert explain(lib, rec("2025-03", loan()), line=1)["lines"]  # the line that exists is traced


def test_the_package_is_typed():
    """py.typed ships with the package (PEP 561), and evaluate says what it yields."""
    import typing
    from importlib import resources

    import rulecite.interpreter.api as api

    assert resources.files("rulecite").joinpath("py.typed").is_file()
    hints = typing.get_type_hints(api.evaluate)
    assert set(typing.get_args(typing.get_args(hints["return"])[0])) == {Result, Rejection}


def test_what_is_read_off_a_packs_rules_is_worked_out_once_per_compiled_pack(lib, monkeypatch):
    """Each evaluate() call makes an evaluator; walking every expression of the pack (does a
    rule read history? may a finding's evidence be a list?) happens once per compiled pack,
    not once per call (it took milliseconds a call on the CMS pack)."""
    from rulecite.interpreter.engine import rulefacts

    walked = []
    real = rulefacts.uses_history
    monkeypatch.setattr(rulefacts, "uses_history", lambda cp: walked.append(cp) or real(cp))
    monkeypatch.setattr(rulefacts, "_FACTS", type(rulefacts._FACTS)())
    rec = {"member_id": "M1", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK"}]}
    first = [r.to_json() for r in evaluate(lib, [rec])]
    for _ in range(3):
        assert [r.to_json() for r in evaluate(lib, [rec])] == first
    assert len(walked) == 1
    list(evaluate(lib, [rec], as_of="2025-06-01"))  # another clock: another compiled pack
    assert len(walked) == 2
