"""The hot path's generated code (issue 18): cheaper forms that give the same answers.

A `collect` drops absent values in place, `len` of a value that is always a list is
Python's own, a loop reads the line's fields once before it starts, a definition charges
its step in place and a record's month end is remembered: each is checked here against
what the language says, with records that would tell a wrong form apart.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from rulecite.interpreter import Rejection, evaluate, load_pack
from rulecite.interpreter.codegen import runtime
from rulecite.policy_lang.builtins import last_day

from .conftest import LIBRARY

RULES = (
    'def before(a: line, b: line) = a.line < b.line\n'
    'rule dated.few { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
    '  let dated = collect(o.days for o in loans where o.line != l.line)\n'
    '  deny when len(dated) > 1 message "{dated}" }\n'
    'rule longer.before { title "t" cite BYLAWS2025 for l in loans where l.item == "DVD"\n'
    '  deny when any(o in loans where before(o, l) and o.days > l.days) message "m" }\n'
)


def _pack(tmp_path, rules=RULES, untyped=False):
    d = tmp_path / "p"
    d.mkdir()
    for name in ("pack.toml", "sources.policy", "catalog.policy"):
        shutil.copy(LIBRARY / name, d / name)
    schema = json.loads((LIBRARY / "facts.schema.json").read_text())
    if untyped:  # `loans[].x`: any JSON value
        schema["properties"]["loans"]["items"]["properties"]["x"] = {}
    (d / "facts.schema.json").write_text(json.dumps(schema))
    (d / "rules.policy").write_text(rules)
    return load_pack(d)


def _rec(*loans):
    return {"member_id": "M", "month": "2025-03", "loans": list(loans)}


def _denied(result, rule_id):
    return sorted(v.line for v in result.lines if v.verdict == "deny" and rule_id in v.rules)


def test_collect_leaves_out_absent_values_and_len_counts_what_is_left(tmp_path):
    pack = _pack(tmp_path)
    src = pack.compiled(None).source
    assert "_rt.collect(" not in src and "len(l_dated) > 1" in src  # the helpers are not called
    one, two = evaluate(pack, [
        _rec({"line": 1, "item": "BOOK"}, {"line": 2, "item": "DVD", "days": 3}, {"line": 3, "item": "DVD"}),
        _rec({"line": 1, "item": "BOOK"}, {"line": 2, "item": "DVD", "days": 3}, {"line": 3, "item": "DVD", "days": 1}),
    ])
    assert _denied(one, "dated.few") == []  # one day count and one absent: one value
    assert _denied(two, "dated.few") == [1]


def test_a_loop_reads_the_lines_field_once_and_still_compares_it_per_item(tmp_path):
    pack = _pack(tmp_path)
    src = pack.compiled(None).source
    body = src[src.index("def any_longer_before("):]
    body = body[:body.index("\ndef ")]
    head, loop = body.split("    for ", 1)
    assert "ln.get('days')" in head and "ln.get(" not in loop  # read once, before the walk
    (out,) = evaluate(pack, [_rec({"line": 1, "item": "DVD", "days": 9}, {"line": 2, "item": "DVD", "days": 4},
                                  {"line": 3, "item": "DVD", "days": 5})])
    assert _denied(out, "longer.before") == [2, 3]  # line 1 (9 days) came before both


def test_a_definition_call_still_costs_a_step(tmp_path):
    pack = _pack(tmp_path)
    cp = pack.compiled(None)
    rec = _rec(*({"line": i, "item": "DVD", "days": 1} for i in range(1, 4)))
    # three lines each walking three loans (9 steps) and calling `before` per item (9 steps)
    assert cp.decide(rec, [], 18) is not None
    with pytest.raises(runtime.StepLimitExceeded):
        cp.decide(rec, [], 17)


LET_RULES = (
    'let total = sum(o.days for o in loans)\n'
    'rule many.days { title "t" cite BYLAWS2025 for l in loans where l.item == "DVD"\n'
    '  deny when total > 5 message "{total}" }\n'
)


def test_a_derived_value_is_walked_once_a_record_and_read_from_its_slot(tmp_path):
    """The call site reads a derived value's slot itself and calls its function only while it
    is unset: three lines reading it pay its walk once (3 steps, not 9), and a record never
    sees the value of the record before it."""
    pack = _pack(tmp_path, LET_RULES)
    cp = pack.compiled(None)
    big = _rec(*({"line": i, "item": "DVD", "days": 2} for i in range(1, 4)))
    small = _rec(*({"line": i, "item": "DVD", "days": 1} for i in range(1, 4)))
    assert cp.decide(big, [], 3) is not None
    with pytest.raises(runtime.StepLimitExceeded):
        cp.decide(big, [], 2)
    one, two, three = evaluate(pack, [big, small, big])
    assert _denied(one, "many.days") == [1, 2, 3] and _denied(three, "many.days") == [1, 2, 3]
    assert _denied(two, "many.days") == []


def test_a_hoisted_read_that_fails_names_the_line_field_it_read(tmp_path):
    """A loop's read of its line, moved before the loop, keeps its fact path: a failure
    that involves it names the line's field, as before (here a field the schema leaves
    untyped, holding text)."""
    pack = _pack(tmp_path, RULES.replace("o.days > l.days", "o.days > l.x"), untyped=True)
    (out,) = evaluate(pack, [_rec({"line": 1, "item": "DVD", "days": 2, "x": 1},
                                  {"line": 2, "item": "DVD", "days": 4, "x": "s"})])
    assert isinstance(out, Rejection) and out.path == "$.loans[0].days"
    assert out.reason.startswith("cannot evaluate this record: rule longer.before (rules.policy:5) failed reading "
                                 "$.loans[0].days and $.loans[1].x (TypeError: ")


@pytest.mark.parametrize("month", ["2024-02", "2025-02", "2025-12", "2026-04", "1900-02", "2000-02"])
def test_month_end_is_last_day(month):
    assert runtime.month_end(month) == last_day(month) == runtime.month_end(month)


def test_month_end_of_what_is_not_text_fails_as_last_day_does():
    for bad in (None, 202502):
        try:
            want = ("value", last_day(bad))
        except Exception as e:  # noqa: BLE001 - the same failure is the point
            want = ("error", type(e))
        try:
            got = ("value", runtime.month_end(bad))
        except Exception as e:  # noqa: BLE001
            got = ("error", type(e))
        assert got == want


EMPTY_RULES = (
    'rule none.signed { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
    '  let progs = collect(a.program for a in agreements)\n'
    '  deny when not any(a in agreements where a.program == "BOOKS") and all(a in agreements where a.program == "DIGITAL")\n'
    '    and count(a in agreements where a.program == "MEDIA") == 0 and len(progs) == 0\n'
    '    and count_distinct(a.program for a in agreements) == 0 and not present(min(a.date for a in agreements))\n'
    '  message "{progs}" }\n'
)


@pytest.mark.parametrize("agreements", [None, [], [{"program": "BOOKS", "date": "2025-01-02"}],
                                        [{"program": "DIGITAL", "date": "2025-01-02"}]])
def test_a_loop_over_an_empty_list_gives_its_value_without_walking(tmp_path, agreements):
    """A call site gives the value over no items (`any` false, `all` true, counts 0, an empty
    `collect`, an absent `min`) when the list is empty or absent, without calling the loop;
    a list with items is still walked."""
    pack = _pack(tmp_path, EMPTY_RULES)
    src = pack.compiled(None).source
    held = re.search(r"(_h\d+) = \(rec\.get\('agreements'\) or \(\)\)", src).group(1)  # read once
    assert f"(any_none_signed(rec, hist, ln, sd, _m, l_progs, {held}) if {held} else False)" in src
    rec = _rec({"line": 1, "item": "BOOK"})
    if agreements is not None:
        rec["agreements"] = agreements
    (out,) = evaluate(pack, [rec])
    assert _denied(out, "none.signed") == ([1] if not agreements else [])


def test_a_list_fact_holding_other_truthy_json_is_still_walked_and_fails(tmp_path):
    """Trusted records are not validated: a list fact holding text is not empty, so the loop
    runs and fails as before, naming the rule."""
    pack = _pack(tmp_path, EMPTY_RULES)
    rec = _rec({"line": 1, "item": "BOOK"})
    rec["agreements"] = "BOOKS"
    (out,) = evaluate(pack, [rec], trusted=True)
    assert isinstance(out, Rejection) and "rule none.signed" in out.reason


def test_a_rule_reads_an_optional_fact_once_and_a_failure_still_names_it():
    """A rule's reads that cannot fail (an optional top-level fact, a field of its line) are
    read once atop the function that runs it; what fails on their value still names the fact."""
    pack = load_pack(LIBRARY)
    src = pack.compiled(None).source
    body = src[src.index("def rule_fines_warning("):]
    body = body[:body.index("\ndef ")]
    assert body.count("rec.get('member')") == 1 and "(_h" in body
    for member, path in (("x", "$.member"), ({"fines": "x"}, "$.member.fines")):
        rec = {"member_id": "M", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK"}], "member": member}
        (out,) = evaluate(pack, [rec], trusted=True)
        assert isinstance(out, Rejection) and out.path == path
        assert out.reason.startswith(f"cannot evaluate this record: rule fines.block (rules.policy:83) failed reading "
                                     f"{path} (")


SHARED_RULES = (
    'rule shared.reads { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
    '  deny when any(a in agreements where (a.program == "BOOKS" and a.date > service_date)\n'
    '    or a.date < service_date or a.program == "MEDIA")\n'
    '  message "m" }\n'
)


@pytest.mark.parametrize("agreements, denied", [
    ([{"program": "BOOKS", "date": "2025-03-10"}, {"program": "DIGITAL", "date": "2025-03-01"}], [1]),
    ([{"program": "BOOKS", "date": "2025-03-10"}, {"program": "DIGITAL", "date": "2025-03-20"}], []),
    ([{"program": "DIGITAL", "date": "2025-03-20"}, {"program": "MEDIA", "date": "2025-03-20"}], [1]),
    ([{"program": "BOOKS", "date": "2025-03-20"}], [1]),
    ([{"program": "DIGITAL", "date": "2025-03-01"}], [1]),
])
def test_a_read_is_shared_only_where_it_surely_ran(tmp_path, agreements, denied):
    """An item's field read by the first operand of `or` is read once; one read only where the
    first operand of `and` held is read again after it (the earlier item's value is not reused)."""
    pack = _pack(tmp_path, SHARED_RULES)
    src = pack.compiled(None).source
    body = src[src.index("def any_shared_reads("):]
    body = body[:body.index("\ndef ")]
    reads = lambda f: body.count(f".get({f!r})") + body.count(f"[{f!r}]")  # noqa: E731 - optional or required
    assert reads("program") == 1 and reads("date") == 2
    rec = _rec({"line": 1, "item": "BOOK", "date": "2025-03-10"})
    rec["agreements"] = agreements
    (out,) = evaluate(pack, [rec])
    assert _denied(out, "shared.reads") == denied


def test_a_required_item_field_is_read_as_required(tmp_path):
    """An item's field the facts schema requires is read with a subscript: a valid record has
    it, and a trusted record without it is rejected, naming the rule, the item's path and why
    (a `.get` would have judged the record on a missing value)."""
    pack = _pack(tmp_path, SHARED_RULES)
    src = pack.compiled(None).source
    body = src[src.index("def any_shared_reads("):]
    body = body[:body.index("\ndef ")]
    assert "['date']" in body and ".get('date')" not in body
    rec = _rec({"line": 1, "item": "BOOK", "date": "2025-03-10"})
    rec["agreements"] = [{"program": "DIGITAL", "date": "2025-03-20"}, {"program": "BOOKS"}]
    (out,) = evaluate(pack, [rec], trusted=True)
    assert isinstance(out, Rejection)
    assert out.path == "$.agreements[1].date"
    assert "rule shared.reads (rules.policy:" in out.reason
    assert out.reason.endswith("a field the facts schema requires is missing")
    (checked,) = evaluate(pack, [rec])  # validated: the schema names the missing field first
    assert isinstance(checked, Rejection) and checked.path.startswith("$.agreements[1]")


EQUAL_RULES = (
    'rule same.day { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
    '  deny when any(o in loans where o.line != l.line and o.date == l.date)\n'
    '  message "m" }\n'
)


@pytest.mark.parametrize("mine, other, denied", [
    ("2025-03-10", "2025-03-10", [1, 2]),
    ("2025-03-10", "2025-03-11", []),
    ("2025-03-10", None, []),  # a set value never equals an absent one
    (None, "2025-03-10", []),
    (None, None, []),  # nor do two absent values equal each other
])
def test_equality_of_two_optional_values(tmp_path, mine, other, denied):
    """`a == b` of two values that may be absent is true only when both are set and equal
    (the generated code tests only the first for absence: a set value is never None)."""
    pack = _pack(tmp_path, EQUAL_RULES)
    first, second = {"line": 1, "item": "BOOK"}, {"line": 2, "item": "BOOK"}
    if mine is not None:
        first["date"] = mine
    if other is not None:
        second["date"] = other
    for trusted in (False, True):
        (out,) = evaluate(pack, [_rec(first, second)], trusted=trusted)
        assert _denied(out, "same.day") == denied
