"""``Result.to_json()`` is ``dumps(result.to_dict())`` byte for byte, with orjson and without.

Decision logs keep a sha256 of each result's JSON, and ``verify-log`` may run on another
machine, with or without orjson (the ``fast`` extra): ``to_json`` must give the bytes of
its definition, ``json.dumps(to_dict(), ensure_ascii=False, separators=(",", ":"),
allow_nan=False)``, whichever road it takes, or raise what that raises. Every test runs
twice, through ``road``: as installed (orjson) and with orjson made unavailable.

Covered: results of the library test pack and of the CMS pack (synthetic records);
generated library records carrying floats (large, small, exponents, negative zero, NaN),
huge integers, Unicode, control characters and U+2028; results built by hand with odd
values in every slot (subclasses, tuples, non-str keys, half surrogate pairs, repeated
keys); results of the parallel path (``evaluate_chunk``, pickling); citation dicts changed
after a result was written. And the premises of the orjson road: for text and for
integers within 64 bits, orjson writes what json.dumps writes.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import math
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulecite.interpreter import Finding, LineVerdict, Result, evaluate, load_pack
from rulecite.interpreter.engine import parallel, result_json, results
from rulecite.interpreter.engine.evaluator import Evaluator
from rulecite.interpreter.engine.results import Evidence, PackRef, SuggestionOut
from rulecite.interpreter.tools.synth import synthesize

from .conftest import LIBRARY
from .test_parallel import _record as _anchor_record

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = ROOT / "benchmarks" / "anchor-pack"
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                        HealthCheck.data_too_large, HealthCheck.filter_too_much]}


def canonical(r) -> str:
    """The definition of ``Result.to_json``."""
    return json.dumps(r.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def assert_same(r) -> None:
    """``r.to_json()`` is the canonical text, or raises as the canonical encoding does."""
    try:
        expected = canonical(r)
    except Exception as e:  # noqa: BLE001 - whatever it is, to_json must raise it too
        with pytest.raises(type(e)):
            r.to_json()
        assert result_json.json_line(r) is None and result_json.json_bytes(r) is None
        return
    assert r.to_json() == expected
    # the bytes a JSON writer writes, when the fast road makes them: the same text, as UTF-8
    line, text = result_json.json_line(r), result_json.json_bytes(r)
    assert line is None or line == (expected + "\n").encode()
    assert text is None or text == expected.encode()


@pytest.fixture(params=["orjson", "stdlib"])
def road(request, monkeypatch):
    """The encoding road: orjson as installed, or the standard library alone."""
    if request.param == "orjson":
        if result_json.ORJSON is None:
            pytest.skip("orjson (the fast extra) is not installed")
    else:
        monkeypatch.setattr(result_json, "ORJSON", None)
    return request.param


@functools.cache
def rulepack(name):
    return load_pack({"library": LIBRARY, "cms": "cms-care-management", "anchor": ANCHOR}[name])


def _results(pack, records):
    return [r for r in evaluate(pack, records) if r.kind == "result"]


# ---------------------------------------------------------------- the packs' own results


@pytest.mark.parametrize("name", ["library", "cms", "anchor"])
def test_pack_results_are_the_canonical_text(road, name):
    if name == "anchor":
        records = _anchor_lines(400)
    else:
        records = list(synthesize(rulepack(name), 400, seed=7))
    got = _results(rulepack(name), records)
    assert sum(len(r.to_dict()["findings"]) for r in got) > 50  # findings, citations, evidence
    for r in got:
        assert_same(r)
    if road == "orjson":  # and the fast road is taken, not given up for the definition
        for r in got:
            assert result_json.orjson_text(r) == canonical(r)
            assert result_json.json_line(r) == (canonical(r) + "\n").encode()
            assert result_json.json_bytes(r) == canonical(r).encode()
    else:
        assert all(result_json.json_line(r) is None for r in got)


def test_both_roads_give_the_same_bytes(monkeypatch):
    if result_json.ORJSON is None:
        pytest.skip("orjson (the fast extra) is not installed")
    records = list(synthesize(rulepack("cms"), 300, seed=3))
    fast = [r.to_json() for r in _results(rulepack("cms"), records)]
    monkeypatch.setattr(result_json, "ORJSON", None)
    assert [r.to_json() for r in _results(rulepack("cms"), records)] == fast


def test_read_results_are_the_canonical_text(road):
    # A caller that read lines, findings and suggestions (the objects) before writing.
    pack = rulepack("library")
    for r in _results(pack, synthesize(pack, 200, seed=11)):
        r.lines, r.findings, r.suggestions  # noqa: B018 - wraps the parts into objects
        assert_same(r)
        assert_same(r.with_notes(("a note", "\u2028")))


# ---------------------------------------------------------------- generated library records

finite = st.floats(allow_nan=False, allow_infinity=False)
floats = st.one_of(
    finite, st.floats(min_value=0), st.floats(), st.just(-0.0),
    st.sampled_from([0.0, 1e16, 1e15, 1e-4, 1e-5, 1e-7, 1e22, 1e300, 5e-324, 1.7976931348623157e308, 0.1, 2.5,
                     123456789012345680.0, 9007199254740993.0, 1e16 + 2, 99999999999999990.0, 50.0, 5.000001]))
huge = st.sampled_from([2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 63 - 1, 10 ** 30, 10 ** 4299])
ints = st.one_of(st.integers(min_value=1, max_value=40), huge, st.integers())
text = st.one_of(st.text(max_size=12),
                 st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
                 st.sampled_from(["\u2028", "\u2029", "a\x00b", "\x1f\x7f", "\t\n\r\b\f", '"\\/', "\ufeff", "é漢😀",
                                  "\ud800"]))
codes = st.one_of(st.sampled_from(["BOOK", "MAGAZINE", "DVD", "STREAM", "EBOOK"]), text)


@st.composite
def library_records(draw):
    month = draw(st.sampled_from(["2025-03", "2025-12", "2026-01", "2026-07"]))
    loans = [{"line": draw(ints), "item": draw(codes), "units": draw(ints), "date": f"{month}-{d:02d}",
              "days": draw(ints)}
             for d in draw(st.lists(st.integers(1, 28), min_size=1, max_size=4))]
    rec = {"member_id": draw(st.one_of(text, st.just("M1"))), "month": month, "loans": loans,
           "member": {"age": draw(st.one_of(st.integers(0, 130), huge)), "fines": draw(floats),
                      "card": "adult", "verified": draw(st.booleans())},
           "agreements": [{"program": "MEDIA", "date": f"{month}-01"}]}
    return rec


@settings(max_examples=150, **SETTINGS)
@given(st.lists(library_records(), min_size=1, max_size=4))
def test_generated_library_records(road, records):
    as_text = [json.dumps(r, ensure_ascii=False) for r in records if all(map(math.isfinite, _floats(r)))]
    for item in itertools.chain(evaluate(rulepack("library"), records), evaluate(rulepack("library"), as_text)):
        if item.kind == "result":
            assert_same(item)


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)


def test_generated_records_reach_the_odd_values():
    # The library pack puts them into results: fines as evidence, line ids and codes as written.
    rec = {"member_id": "M\u2028\x01", "month": "2026-01", "member": {"fines": 1e16, "age": 20},
           "loans": [{"line": 10 ** 30, "item": "X\x00\u2029"}]}
    (r,) = evaluate(rulepack("library"), [rec])
    text = r.to_json()
    assert "1e+16" in text and str(10 ** 30) in text and "\u2028" in text and "\\u0001" in text
    assert text == canonical(r)


# ---------------------------------------------------------------- results built by hand


class Tag(str):
    pass


class Level(enum.IntEnum):
    HIGH = 3


class Ratio(float):
    pass


class Big(enum.Enum):  # orjson writes an Enum's value (1e16 here); json.dumps refuses it
    TEN = 1e16


class Row(tuple):
    pass


scalars = st.one_of(
    st.none(), st.booleans(), ints, floats, text,
    st.builds(Tag, st.text(max_size=4)), st.sampled_from([Level.HIGH, Big.TEN]), st.builds(Ratio, finite),
    st.sampled_from(["\ud83d\ude00", "\udfff"]),
    st.just(5000).map(lambda k: 10 ** k))  # too long for str(): json.dumps raises
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
        st.lists(inner, max_size=2).map(lambda x: Row(x)),
        st.dictionaries(st.one_of(text, st.integers(), st.booleans(), st.none(), finite), inner, max_size=3)),
    max_leaves=6)
str_or_odd = st.one_of(text, text, values)
pack_refs = st.one_of(st.just(PackRef("p", "1.0", "ab" * 32)),
                      st.builds(PackRef, str_or_odd, str_or_odd, str_or_odd))
fields = st.one_of(st.sampled_from(["member_id", "patient_id", "pack", "lines", "notes", "as_of"]), text)
evidence = st.lists(st.tuples(st.one_of(st.sampled_from(["x", "y", "x"]), text, st.integers()), values,
                              st.one_of(st.none(), st.none(), text, values)), max_size=4)
citation = st.one_of(
    st.fixed_dictionaries({"source": text, "title": text, "citation": st.one_of(st.none(), text),
                           "page": st.sampled_from(["unverified", "12"])}),
    st.dictionaries(st.one_of(text, st.integers()), values, max_size=3))
citations = st.lists(citation, max_size=3).map(tuple)
rule_ids = st.one_of(st.lists(text, max_size=3).map(tuple), st.lists(values, max_size=2), st.just(()))


@st.composite
def results_from_parts(draw):
    lines = draw(st.lists(st.tuples(values, values, st.one_of(st.sampled_from(["allow", "deny"]), values),
                                    rule_ids, rule_ids).map(tuple), max_size=3))
    findings = draw(st.lists(st.tuples(text, st.integers(1, 3), st.one_of(st.sampled_from(["deny", "warn"]), values),
                                       values, str_or_odd, citations, evidence.map(tuple),
                                       st.one_of(st.none(), text, values), text), max_size=3))
    suggestions = draw(st.lists(st.tuples(str_or_odd, values, str_or_odd, str_or_odd, values), max_size=2))
    return Result.from_parts(draw(fields), draw(fields), draw(values), draw(values), draw(pack_refs),
                             draw(st.one_of(st.none(), text, values)), tuple(lines), tuple(findings),
                             tuple(suggestions), draw(st.one_of(ints, values)),
                             draw(st.one_of(st.just(()), st.lists(str_or_odd, max_size=2).map(tuple))))


@settings(max_examples=400, **SETTINGS)
@given(results_from_parts())
def test_results_from_parts_with_odd_values(road, r):
    assert_same(r)


@settings(max_examples=150, **SETTINGS)
@given(results_from_parts())
def test_results_built_from_objects(road, r):
    parts = r._finding_parts()
    built = Result(r.id_field, r.period_field, r.id, r.period, r.pack, r.as_of,
                   [LineVerdict(*x) for x in r._lines],
                   [Finding(x[0], x[1], x[2], x[3], x[4], x[5], tuple(Evidence(*e) for e in x[6]), x[7], x[8])
                    for x in parts],
                   [SuggestionOut(*x) for x in r._suggestions], r.input_line, r.notes)
    assert_same(built)


def test_hand_built_edge_cases(road):
    ref = PackRef("p", "1", "00")

    def part(**kw):
        base = {"id_field": "id", "period_field": "period", "id": "A", "period": "2026-01", "pack": ref,
                "as_of": None, "lines": (), "findings": (), "suggestions": (), "input_line": 1, "notes": ()}
        base.update(kw)
        return Result.from_parts(*base.values())

    loop: list = []
    loop.append(loop)
    cases = [
        part(id=float("nan")), part(id=float("inf")), part(id=-0.0), part(id=1e16), part(id=Ratio(1e16)),
        part(id=2 ** 64), part(id=10 ** 5000), part(id=True), part(id=Level.HIGH), part(id=Big.TEN), part(id=Tag("t")),
        part(id="\ud800"), part(id={1: "a", 1.5: "b", None: "c", False: "d"}), part(id={"a": (1, 2.5)}),
        part(id=loop), part(id={1, 2}), part(id=Row((1, 2))),
        part(id_field="lines", lines=(("1", "X", "allow", (), ()),)), part(id_field="period"),
        part(id_field="notes", notes=("n",)), part(id_field=1), part(id_field=Tag("id")),
        part(lines=((1, "X", "deny", "ab", ()),)), part(lines=((1, "X", "deny", ["r"], ("w", 1.5)),)),
        part(lines=((1, "X", "deny", frozenset([1e16]), Row((1e16,))),)), part(notes=Row(("n", 1e-7))),
        part(findings=(("r", 1, "deny", None, "m", ({"page": 1.5},), (("x", 1, None), ("x", 2, "$.x")), "", ""),)),
        part(findings=(("r", 1, "deny", None, "m", ((("source", "S"),),), (), None, ""),)),
        part(findings=(("r", 1, "deny", None, "m", [{"source": "S"}], ((1, 1, None), ("1", 2, None)), None, ""),)),
        part(suggestions=(("C", 2.0, "why", "s", None), ("C", None, "why", "s", 0))),
        part(notes=["a", 1e-7]), part(as_of=float("-inf")),
    ]
    for r in cases:
        assert_same(r)


def test_parts_given_as_iterators(road):
    # Not what from_parts documents, and to_dict reads them once only; but to_json's
    # first text is still to_dict's first.
    def make():
        ev = iter([("x", 1, "$.x"), ("y", 1e16, None)])
        cites = iter([{"source": "S"}])
        line = ("1", "X", "deny", iter(["r"]), ())
        return Result.from_parts("id", "period", "A", "2026-01", PackRef("p", "1", "00"), None, iter([line]),
                                 iter([("r", 1, "deny", "1", "m", cites, ev, None, "")]), iter([]), 1)

    assert make().to_json() == canonical(make())


def test_the_engines_citations_cannot_be_changed(road):
    # shared by every finding of a rule: changed in place they would change every later result
    pack = load_pack(LIBRARY)
    rec = {"member_id": "M", "month": "2025-06", "member": {"age": 9}, "loans": [{"line": 1, "item": "DVD"}]}
    (r,) = evaluate(pack, [rec])
    assert_same(r)
    c = r.findings[0].citations[0]
    before = r.to_json()
    for change in (lambda: c.update(page="9"), lambda: c.__setitem__("page", "9"), lambda: c.pop("source"),
                   lambda: c.clear(), lambda: c.setdefault("x", 1), lambda: c.popitem(),
                   lambda: c.__delitem__("source"), lambda: c.__ior__({"page": "9"})):
        with pytest.raises(TypeError, match="cannot be changed"):
            change()
    copy = dict(c)
    copy["page"] = "9"  # a copy is a plain dict
    assert c != copy and copy == {**c, "page": "9"}
    assert type(c.copy()) is dict and c.copy() == c
    for again in (pickle.loads(pickle.dumps(c)), __import__("copy").deepcopy(c)):
        assert again == c and type(again) is results.CitationDict
    (r2,) = evaluate(pack, [rec])
    assert r2.to_json() == before and r2.findings[0].citations[0] is c  # shared, and unchanged


def test_a_citation_changed_after_writing(road):
    # citations a caller builds are plain dicts it may change between writes: each write
    # gives the dicts as they are then
    saved = {"source": "S", "title": "T", "citation": "C", "page": "unverified"}
    cites = (dict(saved),)
    c = cites[0]

    def make():
        return Result.from_parts("id", "period", "A", "2026-01", PackRef("p", "1", "00"), None,
                                 [("1", "X", "deny", ("r",), ())],
                                 [("r", 1, "deny", "1", "m", cites, (("x", 1, "$.x"),), None, "")], [], 1)

    assert_same(make())
    for change in (lambda: c.update(page=1e16), lambda: c.update(page=Tag("12")), lambda: c.update(page="9"),
                   lambda: c.update(source=c.pop("source")), lambda: c.update(extra=float("nan")),
                   lambda: c.clear()):
        change()
        assert_same(make())
        c.clear()
        c.update(saved)
        assert_same(make())


# ---------------------------------------------------------------- the parallel path


def _anchor_lines(n):
    """Anchor-pack records (benchmarks/data is made by `make bench` and not in git)."""
    rng = random.Random(5)
    return [_anchor_record(rng, f"P{i // 2:05d}", f"2026-{i % 2 + 1:02d}").encode() for i in range(n)]


def test_chunk_results_and_pickled_results(road):
    # Workers send each result with its text made (detached), pickled; the caller writes that text.
    pack = rulepack("anchor")
    lines = _anchor_lines(300)
    direct = [r.to_json() for r in _results(pack, lines)]
    wire = pickle.loads(pickle.dumps(parallel.evaluate_chunk(str(ANCHOR), pack.lock, None, 1, lines)))
    assert all(type(x) is tuple for x in wire)  # plain values cross the process boundary
    moved = [x for x in parallel.from_chunk(Evaluator(pack.compiled(None)), wire) if x.kind == "result"]
    assert [x.to_json() for x in moved] == [canonical(x) for x in moved] == direct
    assert [x.to_dict() for x in moved] == [r.to_dict() for r in _results(pack, lines)]
    assert all(x.record is None for x in moved)
    # A result pickled before its text was made: the copy's parts (citations copied too).
    fresh = pickle.loads(pickle.dumps(_results(pack, lines)))
    for x in fresh:
        assert_same(x)
    assert [x.to_json() for x in fresh] == direct


@pytest.mark.parametrize("wrap", [False, True])
def test_to_wire_restores_the_same_result(road, wrap):
    """``to_wire`` and ``result_from_wire`` give back an equal result, its objects read or
    not (library pack: findings, evidence, suggestions, notes)."""
    pack = rulepack("library")
    ev = Evaluator(pack.compiled(None))
    seen = set()
    for r in _results(pack, synthesize(pack, 200, seed=11)):
        want = r.to_dict()
        if wrap:
            r.lines, r.findings, r.suggestions  # noqa: B018
        back = results.result_from_wire(ev.shape.id, ev.shape.period, ev.packref, ev.as_of,
                                        pickle.loads(pickle.dumps(r.to_wire())))
        assert back.to_dict() == want and back.to_json() == canonical(r)
        assert back.lines == r.lines and back.findings == r.findings and back.suggestions == r.suggestions
        seen.update(k for k in ("findings", "suggestions") if want[k])
    assert seen == {"findings", "suggestions"}


def test_two_jobs_write_the_canonical_text():
    lines = _anchor_lines(200)
    got = [r for r in parallel.evaluate_parallel(ANCHOR, iter(lines), jobs=2) if r.kind == "result"]
    assert [r.to_json() for r in got] == [canonical(r) for r in _results(rulepack("anchor"), lines)]


# ---------------------------------------------------------------- premises of the orjson road


def test_orjson_writes_text_and_64_bit_integers_as_json_does():
    orjson = pytest.importorskip("orjson")

    def std(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def fast(v):
        return orjson.dumps(v, option=orjson.OPT_PASSTHROUGH_SUBCLASS).decode()

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert fast(every) == std(every)
    assert fast({every: [every]}) == std({every: [every]})
    for c in range(0x80):  # each escape alone
        assert fast(chr(c)) == std(chr(c))
    for n in (0, -1, 2 ** 53 + 1, 2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 64 - 1):
        assert fast(n) == std(n)
    for v in (True, False, None, (1, "a"), [], {}, {"a": [None, True]}):
        assert fast(v) == std(v)
    for refused in (2 ** 64, -2 ** 63 - 1, "\ud800", Tag("x"), {1: 2}, {Tag("k"): 1}):
        with pytest.raises(TypeError):
            fast(refused)
    # What it writes differently, and the road never gives it: floats.
    for f in (1e16, 1e-5, 1e22):
        assert result_json.ORJSON is None or fast(orjson.Fragment(float.__repr__(f))) == std(f)
