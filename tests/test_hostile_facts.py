"""Hostile and broken facts: every bad record is a rejection with its line, JSON path and
reason; the run goes on; records read = results + rejections.

The corpus lives in ``tests/hostile/facts/``: one ``.jsonl`` file per kind of damage,
kept byte-exact (invalid UTF-8, BOMs, CRLF), and ``expected.json`` saying what each of
its lines must give. The cases too large to keep in git (a 10 MB string) are made here
at run time.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest

from rulecite.interpreter import Limits, Rejection, Result, evaluate, load_pack

from .conftest import LIBRARY

CORPUS = Path(__file__).parent / "hostile" / "facts"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
GOOD = {"member_id": "M1", "month": "2025-03", "member": {"age": 40},
        "loans": [{"line": 1, "item": "BOOK", "date": "2025-03-02"}]}


@pytest.fixture(scope="module")
def lib():
    return load_pack(LIBRARY)


def file_lines(data: bytes) -> list:
    """Lines as a file object in binary mode yields them (what the CLI reads)."""
    return list(io.BytesIO(data))


def assert_well_formed(out, n: int):
    """Each output is a Result or a Rejection for input line n, and serializes to JSON
    that any UTF-8 consumer can read back."""
    assert isinstance(out, (Result, Rejection)), type(out)
    assert out.input_line == n
    text = out.to_json()
    text.encode("utf-8")  # no half surrogate pairs can reach the output
    again = json.loads(text)
    assert again["input_line"] == n
    if isinstance(out, Rejection):
        assert out.path.startswith("$")
        assert out.reason


def test_the_corpus_and_its_expectations_match():
    files = sorted(p.name for p in CORPUS.glob("*.jsonl"))
    assert files == sorted(EXPECTED), "every corpus file needs expectations in expected.json, and only those"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(lib, name):
    lines = file_lines((CORPUS / name).read_bytes())
    expected = EXPECTED[name]
    assert len(lines) == len(expected), f"{name}: {len(lines)} lines, {len(expected)} expectations"
    out = list(evaluate(lib, lines))
    assert len(out) == len(lines), "records read = results + rejections"
    for n, (o, want) in enumerate(zip(out, expected), start=1):
        assert_well_formed(o, n)
        if want.get("result"):
            assert isinstance(o, Result), f"{name}:{n} was rejected: {o.to_dict()}"
        else:
            assert isinstance(o, Rejection), f"{name}:{n} was evaluated, expected a rejection {want}"
            assert o.path == want["path"], f"{name}:{n}: path {o.path!r}, reason {o.reason!r}"
            assert want["reason"] in o.reason, f"{name}:{n}: reason {o.reason!r}"


def test_the_whole_corpus_in_one_run_goes_on(lib):
    """All files in one stream: nothing stops the run, and the output keeps input order."""
    lines, expected = [], []
    for name in sorted(EXPECTED):
        lines += file_lines((CORPUS / name).read_bytes())
        expected += EXPECTED[name]
    out = list(evaluate(lib, iter(lines)))
    assert len(out) == len(lines)
    results = sum(1 for o in out if isinstance(o, Result))
    rejections = sum(1 for o in out if isinstance(o, Rejection))
    assert results + rejections == len(lines)
    assert results == sum(1 for w in expected if w.get("result"))
    assert [o.input_line for o in out] == list(range(1, len(lines) + 1))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bytes_text_and_dicts_give_the_same_output(lib, name):
    """The same record as bytes, as text, or already decoded gives the same bytes of
    output: no fast path may read numbers or strings differently."""
    lines = file_lines((CORPUS / name).read_bytes())
    as_bytes = [o.to_json() for o in evaluate(lib, lines)]
    for i, raw in enumerate(lines):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        (o,) = evaluate(lib, [text])
        assert o.to_json().replace('"input_line":1', "") == as_bytes[i].replace(f'"input_line":{i + 1}', ""), \
            f"{name}:{i + 1}: text and bytes differ"
        try:
            value = json.loads(text.lstrip("\ufeff"))
        except (ValueError, RecursionError):
            continue
        if not isinstance(as_bytes[i], str) or '"rejected":true' in as_bytes[i]:
            continue
        (d,) = evaluate(lib, [value])
        assert d.to_json().replace('"input_line":1', "") == as_bytes[i].replace(f'"input_line":{i + 1}', ""), \
            f"{name}:{i + 1}: a decoded record and its text differ"


def test_a_ten_megabyte_string_is_rejected_by_the_default_limit(lib):
    big = json.dumps({**GOOD, "member_id": "M" * (10 * 1024 * 1024)})
    out = list(evaluate(lib, [big, big.encode(), json.dumps(GOOD)]))
    assert [type(o) for o in out] == [Rejection, Rejection, Result]
    for o in out[:2]:
        assert o.path == "$"
        assert "the limit is 1000000" in o.reason


def test_the_size_limit_is_configurable(lib):
    big = json.dumps({**GOOD, "member_id": "M" * (10 * 1024 * 1024)})
    (o,) = evaluate(lib, [big], limits=Limits(max_record_bytes=20 * 1024 * 1024))
    assert isinstance(o, Result)
    assert o.id == "M" * (10 * 1024 * 1024)
    small = Limits(max_record_bytes=50)
    out = list(evaluate(lib, [json.dumps(GOOD), json.dumps(GOOD).encode(), "{}"], limits=small))
    assert [type(o) for o in out] == [Rejection, Rejection, Rejection]
    assert "the limit is 50" in out[0].reason and "the limit is 50" in out[1].reason
    assert "required property" in out[2].reason


def test_the_depth_limit_is_configurable_for_text_and_dicts(lib):
    # GOOD nests three deep: the record, the loans list, a loan.
    shallow = Limits(max_depth=2)
    out = list(evaluate(lib, [json.dumps(GOOD), GOOD, {"member_id": "M1", "month": "2025-03", "loans": []}],
                        limits=shallow))
    assert [type(o) for o in out] == [Rejection, Rejection, Result]
    assert all("deeper than 2" in o.reason for o in out[:2])
    deep = {**GOOD, "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    out = list(evaluate(lib, [deep, json.dumps(deep)]))
    assert [type(o) for o in out] == [Rejection, Rejection]
    assert all("deeper than 32" in o.reason for o in out)
    roomy = Limits(max_depth=64)
    out = list(evaluate(lib, [deep, json.dumps(deep)], limits=roomy))
    assert all(isinstance(o, Rejection) and o.reason.startswith("unknown field `") for o in out)


def test_a_huge_integer_in_a_decoded_record_is_a_rejection(lib):
    rec = {**GOOD, "member": {"age": 10 ** 5000}}
    (o,) = evaluate(lib, [rec])
    assert isinstance(o, Rejection)
    assert o.path == "$.member.age"
    assert len(o.reason) <= 400
    o.to_json()


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_nan_and_infinity_in_a_decoded_record_are_a_rejection(lib, value):
    """JSON text cannot hold them (the decoder rejects `Infinity`, `NaN`); a dict handed to
    the API gets the same answer, on the fast path and the full one alike."""
    rec = {**GOOD, "member": {"age": 40, "fines": value}}
    (o,) = evaluate(lib, [rec])
    assert isinstance(o, Rejection), o.to_dict()
    assert (o.path, o.reason) == ("$.member.fines", "a number that is not finite (NaN or infinity)")
    json.loads(o.to_json())
    (t,) = evaluate(lib, ['{"member_id": "M1", "month": "2025-03", "member": {"fines": Infinity}}'])
    assert isinstance(t, Rejection)


def test_numbers_too_large_for_arithmetic_are_a_rejection_not_a_crash(tmp_path):
    """A pack that divides and floors: overflowing values reject the record they are in."""
    d = tmp_path / "p"
    d.mkdir()
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        (d / name).write_bytes((LIBRARY / name).read_bytes())
    (d / "rules.policy").write_text(
        'let total = sum(l.units for l in loans)\n'
        'rule r { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
        '  deny when floor(total / 3) > 1 and ceil(l.units * 2.5) > round(total) message "{total / 7}" }\n')
    pack = load_pack(d)
    big = 1.7976931348623157e308
    recs = [
        {"member_id": "M1", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK", "units": 9}]},
        {"member_id": "M2", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK", "units": big},
                                                           {"line": 2, "item": "BOOK", "units": big}]},
        {"member_id": "M3", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK", "units": 10 ** 400}]},
        {"member_id": "M4", "month": "2025-03", "loans": [{"line": 1, "item": "BOOK", "units": 4}]},
    ]
    for form in (recs, [json.dumps(r) for r in recs]):
        out = list(evaluate(pack, form))
        assert [type(o) for o in out] == [Result, Rejection, Rejection, Result]
        for n, o in enumerate(out, start=1):
            assert_well_formed(o, n)
        # The arithmetic bound (+-2**63, finite) names the rule and where it is written.
        assert "rule r (rules.policy:2): an arithmetic result went past +-2**63" in out[1].reason


def untyped_pack(tmp_path, rules: str):
    d = tmp_path / "p"
    d.mkdir()
    for name in ("pack.toml", "sources.policy", "catalog.policy"):
        (d / name).write_bytes((LIBRARY / name).read_bytes())
    schema = json.loads((LIBRARY / "facts.schema.json").read_text())
    schema["properties"]["member"]["properties"]["x"] = {}
    (d / "facts.schema.json").write_text(json.dumps(schema))
    (d / "rules.policy").write_text(rules)
    return load_pack(d)


UNTYPED = [5, 1, "abc", [1, "a"], {"y": 1}, {"y": [1]}, {"y": {"z": 1}}, None, True, 1e308, [], {}, "a"]


def untyped_records():
    return [{"member_id": "M", "month": "2025-03", "member": {"x": v}, "loans": [{"line": 1, "item": "BOOK"}]}
            for v in UNTYPED]


def test_values_of_an_untyped_field_cannot_crash_the_run(tmp_path):
    """A schema may leave a field untyped; a rule that compares it then meets any JSON."""
    pack = untyped_pack(tmp_path,
        'rule any.ops { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
        '  deny when member.x > 3 or member.x.y == 1 or len(member.x) > 2 or "a" in member.x\n'
        '  message "{member.x}" }\n')
    out = list(evaluate(pack, untyped_records()))
    assert len(out) == len(UNTYPED)
    for n, o in enumerate(out, start=1):
        assert_well_formed(o, n)
    assert isinstance(out[2], Rejection)
    assert all("cannot evaluate this record" in o.reason for o in out if isinstance(o, Rejection))


def test_a_field_of_an_untyped_value_that_is_no_object_is_absent(tmp_path):
    pack = untyped_pack(tmp_path,
        'rule any.field { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
        '  warn when member.x.y.z == 1 message "{member.x.y}" }\n')
    out = list(evaluate(pack, untyped_records()))
    assert all(isinstance(o, Result) for o in out), [o.to_dict() for o in out if isinstance(o, Rejection)]
    assert [o.lines[0].warnings for o in out] == [("any.field",) if v == {"y": {"z": 1}} else () for v in UNTYPED]


# ---------------------------------------------------------------- cost bounded by the input


def many_lines(n: int, member="M1", month="2025-03") -> dict:
    return {"member_id": member, "month": month, "member": {"age": 40},
            "loans": [{"line": i + 1, "item": "BOOK", "date": "2025-03-02"} for i in range(n)]}


def test_a_record_with_more_lines_than_the_limit_is_a_rejection(lib):
    """The lines field is the pack's ([record] lines): the core names no domain."""
    recs = [many_lines(1001), many_lines(1000), many_lines(6)]
    for form in (recs, [json.dumps(r) for r in recs]):
        out = list(evaluate(lib, form))
        assert [type(o) for o in out] == [Rejection, Result, Result]
        assert (out[0].path, out[0].reason) == ("$.loans", "record has 1001 lines at $.loans; the limit is 1000")
        assert (out[0].id, out[0].period) == ("M1", "2025-03")
    out = list(evaluate(lib, [many_lines(6), many_lines(5)], limits=Limits(max_lines=5)))
    assert [type(o) for o in out] == [Rejection, Result]
    assert out[0].reason == "record has 6 lines at $.loans; the limit is 5"


def listing_pack(tmp_path):
    """A pack whose message and evidence list every line of the record."""
    d = tmp_path / "listing"
    d.mkdir()
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        (d / name).write_bytes((LIBRARY / name).read_bytes())
    (d / "rules.policy").write_text(
        'rule all.lines { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
        '  let others = collect(o.line for o in loans where o.line != l.line)\n'
        '  warn when not (0 in others) message "also lent on lines {others}" }\n')
    return load_pack(d)


def test_evidence_and_messages_are_bounded_per_finding(tmp_path):
    """Each finding's evidence lists keep their first items, a note on the result says how
    many were left out (notes are the Results contract's remarks on how a record was
    evaluated: no new field), and its message is cut: output grows linearly with the lines, not with their square."""
    from rulecite.interpreter.engine.evaluator import EVIDENCE_ITEMS, MESSAGE_CHARS

    pack = listing_pack(tmp_path)
    sizes = {}
    for n in (600, 1000):
        (o,) = evaluate(pack, [many_lines(n)])
        assert isinstance(o, Result)
        sizes[n] = len(o.to_json())
        f = o.findings[-1]
        assert len(f.message) <= MESSAGE_CHARS + 60
        assert f.message.endswith("characters left out)")
        (ev,) = [e for e in f.evidence if isinstance(e.value, list)]
        assert ev.value == list(range(1, EVIDENCE_ITEMS + 1))
        omitted = n - 1 - EVIDENCE_ITEMS
        assert any(f"{omitted} more" in note and "all.lines" in note for note in o.notes), o.notes
    assert sizes[1000] < 1.8 * sizes[600], sizes  # linear: 5/3 the lines, about 5/3 the bytes
    again = [o.to_json() for o in evaluate(pack, [many_lines(300, member=m) for m in ("A", "A")])]
    assert again[0] == again[1].replace('"input_line":2', '"input_line":1')


# ---------------------------------------------------------------- streaming memory


class Endless:
    """An input that never ends, counting what was read; fails past ``most``."""

    def __init__(self, line: bytes, most: int, first=()):
        self.line, self.most, self.first, self.read = line, most, list(first), 0

    def __iter__(self):
        for x in self.first:
            self.read += 1
            yield x
        while True:
            self.read += 1
            assert self.read <= self.most, f"read {self.read} lines without giving output"
            yield self.line


def test_rejections_come_out_at_once_when_no_group_is_pending(lib):
    assert lib.compiled(None) and lib  # the library pack reads history
    src = Endless(b"not json\n", 1000)
    out = list(itertools.islice(evaluate(lib, src), 5))
    assert [o.input_line for o in out] == [1, 2, 3, 4, 5] and all(isinstance(o, Rejection) for o in out)
    assert src.read <= 6


def test_a_subjects_group_is_capped(lib):
    """One subject forever (or junk after one record) cannot hold the output back without bound."""
    line = json.dumps(many_lines(1)).encode() + b"\n"
    src = Endless(line, 5000)
    out = list(itertools.islice(evaluate(lib, src, limits=Limits(max_group=100)), 150))
    assert [o.input_line for o in out] == list(range(1, 151))
    assert all(isinstance(o, Result) for o in out)
    assert src.read <= 250
    assert all(not o.notes for o in out[:100])
    assert all(any("input line 101" in n and "100" in n for n in o.notes) for o in out[100:150]), out[100].notes
    junk = Endless(b"not json\n", 5000, first=[line])
    out = list(itertools.islice(evaluate(lib, junk, limits=Limits(max_group=100)), 150))
    assert [o.input_line for o in out] == list(range(1, 151))
    assert junk.read <= 250


def test_the_group_cap_defaults_and_order_with_history(lib):
    """Records past the cap start a new group: their history is that group's only."""
    recs = [json.dumps({"member_id": "M1", "month": f"2025-{m:02d}", "loans": [{"line": 1, "item": "EBOOK"}]})
            for m in range(1, 7)]
    out = list(evaluate(lib, recs, limits=Limits(max_group=3)))
    assert [o.input_line for o in out] == [1, 2, 3, 4, 5, 6]
    first = [o for o in out if "ebook.first-month" in str(o.to_dict())]
    assert [o.input_line for o in first] == [1, 4]
    assert Limits().max_group == 1000 and Limits().max_lines == 1000


def test_an_oversized_line_is_never_read_whole(tmp_path):
    """The reader reads at most the limit (and a little) of a line, then skips to the next one."""
    from rulecite.interpreter.engine.reading import OversizedLine, read_lines

    class Watch(io.BytesIO):
        biggest = 0

        def readline(self, size=-1):
            assert size is not None and size > 0, "unbounded readline"
            line = super().readline(size)
            Watch.biggest = max(Watch.biggest, len(line))
            return line

    good = json.dumps(GOOD).encode()
    data = good + b"\n" + b"x" * 5_000_000 + b"\n" + good + b"\n" + b"y" * 3000
    items = list(read_lines(Watch(data), 1000))
    assert Watch.biggest <= 70_000
    assert items[0] == good + b"\n" and items[2] == good + b"\n"
    assert isinstance(items[1], OversizedLine) and items[1].size == 5_000_001
    assert isinstance(items[3], OversizedLine) and items[3].size == 3000
    out = list(evaluate(load_pack(LIBRARY), items, limits=Limits(max_record_bytes=1000)))
    assert [type(o) for o in out] == [Result, Rejection, Result, Rejection]
    assert out[1].reason == "record is 5000001 bytes; the limit is 1000"


# ---------------------------------------------------------------- nothing a record holds ends the run


def overflow_pack(tmp_path):
    d = tmp_path / "overflow"
    d.mkdir()
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        (d / name).write_bytes((LIBRARY / name).read_bytes())
    (d / "rules.policy").write_text(
        'let sq = collect(x.units * member.fines * member.fines for x in loans)\n'
        'rule fines.squared { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
        '  warn when member.fines > 100 and not (5 in sq) message "squares {sq}" }\n'
        'suggest fines.pay { title "s" for l in loans where l.item == "DVD" code BOOK\n'
        '  units l.units * member.fines * member.fines reason "r" }\n')
    return load_pack(d)


@pytest.mark.parametrize("item", ["BOOK", "DVD"])
def test_a_non_finite_value_in_a_result_is_a_rejection(tmp_path, item):
    """1e300 is schema-valid; squared it is infinity, in an evidence list (BOOK) or in a
    suggestion's units (DVD): that record is rejected, the others are judged."""
    pack = overflow_pack(tmp_path)
    recs = [{"member_id": "M1", "month": "2025-03", "member": {"fines": 1e300},
             "loans": [{"line": 1, "item": item, "units": 2}]},
            {"member_id": "M2", "month": "2025-03", "member": {"fines": 500},
             "loans": [{"line": 1, "item": item, "units": 2}]}]
    for form in (recs, [json.dumps(r) for r in recs]):
        out = list(evaluate(pack, form))
        assert [type(o) for o in out] == [Rejection, Result]
        assert "not a finite number" in out[0].reason
        for n, o in enumerate(out, start=1):
            assert_well_formed(o, n)
