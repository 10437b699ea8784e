"""Differential test: the fast validator (the facts schema compiled by jsonschema_rs, see
interpreter/engine/fastvalidate.py) and jsonschema, the oracle that writes rejection
reasons, agree on every generated value, over every bundled facts schema.

"Agree" is exact: the fast validator accepts a value if and only if jsonschema (with the
engine's formats and type checker) accepts it and the value keeps the fast path's
promises (nested within the depth limit, no half surrogate pair, no number of magnitude
2**63 or more, only JSON values). Where the two libraries' semantics differ (regex
dialect, formats, integers past 64 bits, tuples, lone surrogates, types Rust cannot
convert), the rewrite of the schema closes the gap; the cases below hit each one.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecite.interpreter import load_pack
from rulecite.interpreter.engine.decode import surrogate_path, unwritable, value_depth_ok
from rulecite.interpreter.engine.evaluator import Evaluator
from rulecite.interpreter.engine.fastvalidate import compile_fast, rust_pattern, rust_schema
from rulecite.interpreter.engine.validate import RecordValidator

import jsonschema_rs  # noqa: E402,F401 - the `fast` extra (make test installs it); this test needs it

ROOT = Path(__file__).resolve().parent.parent
PACKS = {"cms": ROOT / "packs" / "cms-care-management", "library": ROOT / "tests" / "packs" / "library",
         "clock": ROOT / "tests" / "packs" / "clock", "anchor": ROOT / "benchmarks" / "anchor-pack"}
SCHEMAS = {k: json.loads((p / "facts.schema.json").read_text()) for k, p in PACKS.items()}
DEPTH = 32
BIG = 9.2e18


def _valid_record(name: str) -> dict:
    """A record valid for the pack's schema (the first of its examples, or a minimal one)."""
    return {
        "cms": {"patient_id": "P1", "month": "2026-03",
                "practice": {"tin": "123456789", "type": "office"},
                "patient": {"chronic_conditions": ["E11.9", "I50.22"], "qmb": False, "last_visit": "2025-11-02"},
                "consents": [{"program": "APCM", "date": "2026-01-05", "npi": "1467503219"}],
                "time": [{"program": "CCM", "role": "clinical_staff", "minutes": 25, "date": "2026-03-04"}],
                "claims": [{"line": 1, "code": "G0557", "units": 1, "npi": "1467503219", "date": "2026-03-31",
                            "pos": "11", "modifiers": []}],
                "external_claims": [{"code": "99490", "npi": "1558203943", "tin": "987654321"}]},
        "clock": {"member_id": "M1", "month": "2026-03",
                  "loans": [{"line": 1, "item": "DRILL", "units": 1, "date": "2026-03-02", "trained": True}]},
        "library": {"member_id": "M1", "month": "2025-03", "member": {"age": 30, "card": "adult", "fines": 1.5},
                    "loans": [{"line": 1, "item": "BOOK", "units": 1}]},
        "anchor": {"patient_id": "P1", "month": "2026-03",
                   "claims": [{"line": 1, "code": "G0557", "units": 1, "npi": "1467503219", "date": "2026-03-31"}]},
    }.get(name) or _first_example(name)


def _first_example(name: str) -> dict:
    for f in sorted((PACKS[name]).rglob("*.jsonl")) + sorted(ROOT.glob(f"tests/**/{name}*.jsonl")):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            if isinstance(rec, dict) and RecordValidator(SCHEMAS[name]).problem(rec) is None:
                return rec
    raise AssertionError(f"no valid example record for {name}")


VALID = {k: _valid_record(k) for k in PACKS}
VALIDATORS = {k: RecordValidator(s) for k, s in SCHEMAS.items()}
FAST = {k: compile_fast(s, DEPTH) for k, s in SCHEMAS.items()}
FAST_DECODED = {k: compile_fast(s, DEPTH, read_text=False) for k, s in SCHEMAS.items()}


def _big_number(v) -> bool:
    """Whether ``v`` holds a number the fast path leaves to the full one (|n| >= 9.2e18)."""
    t = type(v)
    if t is int or t is float:
        return not (-BIG <= v <= BIG)
    if isinstance(v, dict):
        return any(_big_number(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(_big_number(x) for x in v)
    return False


def _json_only(v) -> bool:
    t = type(v)
    if t in (str, int, float, bool) or v is None:
        return True
    if t is dict:
        return all(type(k) is str for k in v) and all(_json_only(x) for x in v.values())
    if t is list or t is tuple:
        return all(_json_only(x) for x in v)
    return False


def oracle(name: str, value) -> bool:
    """What the fast validator must answer: jsonschema's verdict within the fast path's promises."""
    if not _json_only(value) or not value_depth_ok(value, DEPTH) or surrogate_path(value) is not None:
        return False
    if unwritable(value) is not None or _big_number(value):
        return False
    return VALIDATORS[name].problem(value) is None


class Str(str):
    pass


class Int(int):
    pass


def _deep(n: int):
    v = "leaf"
    for i in range(n):
        v = [v] if i % 2 else {"x_k": v}
    return v


# Values chosen for the places where the two libraries' semantics differ, and ordinary ones.
HOSTILE = st.sampled_from([
    None, True, False, 0, 1, -1, 1.0, 1.5, 31, 32, -0.0, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 2 ** 70, -2 ** 70, 10 ** 5000,
    -(10 ** 5000), 1e19, -1e19, 9.2e18, 1e300, float("nan"), float("inf"), "", "x", "P1", "2026-03", "2026-13",
    "2026-03\n", "2026-02-29", "2024-02-29", "2026-02-30", "0000-01-01", "2026-1-01", "2026-03-01\n",
    "\uff12\uff10\uff12\uff16-03-01", "123456789", "123456789\n", "1234567890", "1467503219", "1467503219\n",
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", "G0557", "g0557", "99490", "E11.9", "E11.9\n",
    "E11..9", "office", "office\n", "APCM", "clinical_staff", "\ud800", "E11.9\udc00", "caf\u00e9", "\U0001f600",
    Str("x"), Int(3), (1, 2), ("E11.9",), (), [], {}, {1: 2}, {"x_a": 1}, {"\ud800": 1}, frozenset(), {1},
    ["E11.9", "E11.9"], [1, 1.0], [1, True], [{"a": 1}, {"a": 1}], _deep(31), _deep(40),
    {"x_\udfff": "a"}, ["\ud800"], b"bytes",
])
KEYS = st.sampled_from(["x_vendor", "x_", "X_no", "extra", "x_\ud800", "line", "code", "date", "units", "npi",
                        "month", "patient_id", "claims", "program"])


@st.composite
def mutants(draw, name):
    rec = copy.deepcopy(VALID[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(rec))
        path = draw(st.sampled_from(paths))
        parent = rec
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["set", "set", "delete", "add", "tuple"]))
        if not path:
            continue
        last = path[-1]
        if action == "set":
            parent[last] = copy.deepcopy(draw(HOSTILE))
        elif action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][draw(KEYS)] = copy.deepcopy(draw(HOSTILE))
        elif action == "tuple" and isinstance(parent[last], list):
            parent[last] = tuple(parent[last])
    return rec


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, (list, tuple)) and type(value) is list:
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


@pytest.mark.parametrize("name", sorted(PACKS))
def test_every_bundled_schema_compiles_to_a_fast_validator(name):
    assert FAST[name] is not None
    assert FAST[name](VALID[name]) is True


@pytest.mark.parametrize("name", sorted(PACKS))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_validator_agrees_with_jsonschema(name, data):
    rec = data.draw(mutants(name))
    assert FAST[name](rec) is oracle(name, rec), rec


@pytest.mark.parametrize("name", sorted(PACKS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_validator_for_decoded_text_agrees_with_jsonschema(name, data):
    """For values a fast decoder made from JSON text (no half surrogate pairs, no tuples)."""
    import orjson

    rec = data.draw(mutants(name))
    try:
        value = orjson.loads(json.dumps(rec, ensure_ascii=False).encode("utf-8"))
    except (ValueError, TypeError):
        return
    assert FAST_DECODED[name](value) is oracle(name, value), value


@pytest.mark.parametrize("name", sorted(PACKS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_prepare_fast_and_full_give_the_same(name, data):
    """Through the engine, as text and as a dict: the fast path (jsonschema_rs, a fast
    decoder, the repeated-key check) gives the record or rejection the full path gives."""
    rec = data.draw(mutants(name))
    ev = Evaluator(load_pack(PACKS[name]).compiled(None))
    items = [rec]
    try:
        text = json.dumps(rec, ensure_ascii=False)
        items += [text, text.encode("utf-8", "surrogatepass")]
        dup = data.draw(st.sampled_from(["", ', "claims": []', ', "patient_id": "P2"', ', "x_a": "a:b"']))
        if dup and text.endswith("}"):
            items.append(text[:-1] + dup + "}")  # a repeated key (or an extra field) at the end
    except (ValueError, TypeError):
        pass
    for item in items:
        assert ev.prepare(item, 1) == ev._prepare_full(item, 1), item


@pytest.mark.parametrize("pattern,text,matches", [
    ("^[0-9]{9}$", "123456789\n", True),  # Python's $ matches before a final newline
    ("^[0-9]{9}$", "123456789\n\n", False),
    ("^a\\Z", "a\n", False),
    ("[$]", "$", True),
    ("^\\$$", "$", True),
    ("[^]$]x$", "ax\n", True),
])
def test_rust_patterns_match_what_python_matches(pattern, text, matches):
    import re

    import jsonschema_rs

    assert (re.search(pattern, text) is not None) is matches
    v = jsonschema_rs.validator_for({"type": "string", "pattern": rust_pattern(pattern)})
    assert v.is_valid(text) is matches


def test_the_rewrite_leaves_no_value_unread():
    """Every place the schema leaves open becomes the bounded any-value schema."""
    s = rust_schema(SCHEMAS["cms"], DEPTH)
    assert s["additionalProperties"] is False
    assert s["patternProperties"]["^x_"] == {"$ref": f"#/$defs/rulecite_any_{DEPTH - 1}"}
    assert "rulecite_any_1" in s["$defs"] and s["$defs"]["rulecite_any_1"]["items"] is False
