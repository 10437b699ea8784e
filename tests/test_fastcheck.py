"""The compiled schema scan (interpreter/fastcheck.py) never accepts what jsonschema or the
engine's depth limit rejects, and accepts the ordinary valid records; the fast decode path
gives the same results as the full one."""

import copy
import json
import random
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from rulecite.interpreter import load_pack
from rulecite.interpreter.engine.decode import value_depth_ok
from rulecite.interpreter.engine.evaluator import Evaluator
from rulecite.interpreter.codegen.schema import compile_check, compile_scan
from rulecite.interpreter.engine.validate import FORMATS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "packs" / "cms-care-management" / "facts.schema.json").read_text())
ANCHOR = ROOT / "benchmarks" / "anchor-pack"

BASE = {
    "patient_id": "P1", "month": "2026-03",
    "practice": {"tin": "123456789", "type": "office"},
    "patient": {"chronic_conditions": ["E11.9", "I50.22"], "qmb": False, "last_visit": "2025-11-02"},
    "consents": [{"program": "APCM", "date": "2026-01-05", "npi": "1467503219"}],
    "time": [{"program": "CCM", "role": "clinical_staff", "minutes": 25, "date": "2026-03-04"}],
    "claims": [{"line": 1, "code": "G0557", "units": 1, "npi": "1467503219", "date": "2026-03-31",
                "pos": "11", "modifiers": []}],
    "external_claims": [{"code": "99490", "npi": "1558203943", "tin": "987654321"}],
}

BAD_VALUES = [None, True, 1, 1.5, -1, 2 ** 70, 1e19, float("nan"), "", "x", "2026-02-30", "2026-13",
              "12345678901", "1467503219\n", "g0557", [], ["E11.9", "E11.9"], {}, {"x_a": 1}, "\u00b2" * 10,
              "\ud800", "E11.9\udc00", "caf\u00e9 \ud83d", {"x_\udfff": "a"}, ["\ud800"]]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _set(value, path, new):
    for p in path[:-1]:
        value = value[p]
    value[path[-1]] = new


def _mutants(seed=7, n=1500):
    rng = random.Random(seed)
    paths = [p for p in _paths(BASE) if p]
    yield copy.deepcopy(BASE)
    for _ in range(n):
        rec = copy.deepcopy(BASE)
        kind = rng.random()
        path = rng.choice(paths)
        if kind < 0.6:
            _set(rec, path, copy.deepcopy(rng.choice(BAD_VALUES)))
        elif kind < 0.75:
            parent = rec
            for p in path[:-1]:
                parent = parent[p]
            if isinstance(parent, dict):
                del parent[path[-1]]
        elif kind < 0.9:
            parent = rec
            for p in path[:-1]:
                parent = parent[p]
            if isinstance(parent, dict):
                parent[rng.choice(["x_vendor", "extra", "X_no", "x_", "x_\ud800"])] = rng.choice(BAD_VALUES)
        else:
            deep = "leaf"
            for _ in range(rng.randint(25, 40)):
                deep = [deep] if rng.random() < 0.5 else {"x_k": deep}
            rec["x_deep"] = deep
        yield rec


def test_scan_accepts_only_what_jsonschema_and_the_depth_limit_accept():
    scan = compile_scan(SCHEMA, 32)
    assert scan is not None, "the CMS facts schema stays within the compiled subset"
    validator = Draft202012Validator(SCHEMA, format_checker=FORMATS)
    accepted = 0
    for rec in _mutants():
        if scan(rec) >= 0:
            accepted += 1
            assert validator.is_valid(rec), rec
            assert value_depth_ok(rec, 32), rec
            _utf8_text(rec)  # no string or key holds half a surrogate pair
    assert accepted > 100  # the valid mutants (extra x_ fields, absent optional fields) pass


def _utf8_text(rec):
    json.dumps(rec, ensure_ascii=False).encode("utf-8")  # raises on half a surrogate pair


@pytest.mark.parametrize("where", ["free text", "pattern", "date", "extension value", "extension key",
                                   "nested extension key", "enum", "extension tuple"])
def test_scan_refuses_half_surrogate_pairs_everywhere(where):
    """The engine trusts the scan's yes to mean UTF-8 text too (no second pass over a dict)."""
    scan = compile_scan(SCHEMA, 32)
    rec = copy.deepcopy(BASE)
    assert scan(rec) >= 0
    half = "\ud83d"
    if where == "free text":
        rec["time"][0]["activity"] = "call " + half
    elif where == "pattern":
        rec["patient"]["chronic_conditions"].append("E11.9" + half)
    elif where == "date":
        rec["claims"][0]["date"] = "2026-03-3" + half
    elif where == "extension value":
        rec["x_vendor"] = {"a": [half]}
    elif where == "extension key":
        rec["x_" + half] = 1
    elif where == "nested extension key":
        rec["x_vendor"] = {"a": {"b" + half: 1}}
    elif where == "extension tuple":  # not JSON, but a caller's dict may hold one
        rec["x_vendor"] = ("a", half)
    else:
        rec["practice"]["type"] = "office" + half
    assert scan(rec) == -1
    evaluator = Evaluator(load_pack("cms-care-management").compiled(None))
    out = evaluator.prepare(rec, 3)
    assert out.kind == "rejection" and "surrogate" in out.reason, out


def test_the_scan_checks_the_formats_the_engine_checks():
    from rulecite.interpreter.codegen.schema import CHECKED_FORMATS

    assert set(CHECKED_FORMATS) == set(FORMATS.checkers)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"d": {"format": "date"}}},
    {"type": "object", "additionalProperties": {"format": "date"}},
    {"type": "object", "patternProperties": {"^d": {"format": "month"}}},
    {"type": "array", "items": {"format": "date"}},
])
def test_a_format_without_a_type_is_not_any_value(schema):
    """A subschema holding only a checked format still checks it (the scan must not take
    it for an annotation and accept anything)."""
    bad = ["nope"] if schema["type"] == "array" else {"d": "nope"}
    good = ["2026-01-31"] if schema["type"] == "array" else {"d": "2026-01"}
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    assert not validator.is_valid(bad)
    scan = compile_scan(schema, 32)
    assert scan is None or scan(bad) == -1
    if "patternProperties" in schema:
        assert validator.is_valid(good) and (scan is None or scan(good) >= 0)


def test_scan_counts_every_key():
    scan = compile_scan(SCHEMA, 32)
    rec = copy.deepcopy(BASE)
    rec["x_vendor"] = {"a": {"b": [1, {"c": 2}]}}
    text = json.dumps(rec)
    assert scan(rec) == text.count(":")


def test_compile_check_is_a_boolean_view():
    check = compile_check(SCHEMA)
    assert check(copy.deepcopy(BASE)) is True
    assert check({"patient_id": 1}) is False
    assert compile_check({"type": "object", "anyOf": [{}]}) is None


@pytest.mark.parametrize("line", [
    '{"patient_id": "P1", "month": "2026-03", "claims": [], "claims": []}',
    '{"patient_id": "P1", "month": "2026-03", "claims": [], "x_big": 123456789012345678901234567890}',
    '{"patient_id": "P1", "month": "2026-03", "claims": [], "x_n": 1e400}',
    '{"patient_id": "P1", "month": "2026-03", "claims": [], "x_s": "\\ud800"}',
    '\ufeff{"patient_id": "P1", "month": "2026-03", "claims": []}',
    '{"patient_id": "P1", "month": "2026-03", "claims": [], "x_t": "10:30"}',
    '{"patient_id": "P1", "month": "2026-03", "claims": [{"line": 1, "code": "G0557", "date": "2026-03-02"}]}',
    "[" * 40 + "]" * 40,
    "not json",
])
def test_fast_path_gives_what_the_full_path_gives(line):
    cp = load_pack(ANCHOR).compiled(None)
    fast = Evaluator(cp)
    full = Evaluator(cp)
    full.scan = full.fast = None  # every record through decode_line, the depth walk and jsonschema
    items = [line, line.encode("utf-8", "surrogatepass")]
    try:
        items.append(json.loads(line.lstrip("\ufeff")))
    except ValueError:
        pass
    for item in items:
        assert [r.to_dict() for r in fast.run([item])] == [r.to_dict() for r in full.run([item])]
