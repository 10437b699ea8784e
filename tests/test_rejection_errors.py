"""Rejections list every error (bounded, deterministic), name an unknown field by its own
path, and name the pack and the contract; results name the contract (issue 19)."""

import json
from pathlib import Path

import jsonschema
import pytest

from rulecite.interpreter import Rejection, evaluate, load_pack
from rulecite.interpreter.engine.results import CONTRACT, RecordError
from rulecite.interpreter.engine.schemas import results_schema
from rulecite.interpreter.engine.validate import ERRORS_KEPT

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"patient_id": "P1", "month": "2026-03",
        "claims": [{"line": 1, "code": "G0556", "units": 1, "npi": "1467503219", "date": "2026-03-31"}]}


@pytest.fixture(scope="module")
def pack():
    return load_pack(ROOT / "benchmarks" / "anchor-pack")


def one(pack, rec):
    out = [list(evaluate(pack, [rec])), list(evaluate(pack, [json.dumps(rec)]))]
    assert out[0][0].to_dict() == out[1][0].to_dict()  # the same, as a dict and as text
    return out[0][0]


def test_an_unknown_field_is_named_with_its_path(pack):
    r = one(pack, {**GOOD, "colour": "red"})
    assert type(r) is Rejection
    assert r.path == "$.colour"
    assert r.reason == "unknown field `colour` at `$.colour` (vendor fields start with `x_`)"


def test_a_nested_unknown_field_has_its_nested_path(pack):
    rec = json.loads(json.dumps(GOOD))
    rec["claims"][0]["colour"] = "red"
    rec["practice"] = {"tin": "123456789", "shade": 1}
    r = one(pack, rec)
    assert sorted(e.path for e in r.errors) == ["$.claims[0].colour", "$.practice.shade"]
    shade = next(e for e in r.errors if e.path == "$.practice.shade")
    assert shade.reason == "unknown field `shade` at `$.practice.shade` (vendor fields start with `x_`)"
    assert (r.path, r.reason) == tuple(r.errors[0])


def test_every_error_is_listed_first_error_fields_kept(pack):
    rec = {**GOOD, "month": "2026-3", "colour": "red"}
    rec["claims"] = [{**GOOD["claims"][0], "units": "one", "line": "x"}]
    r = one(pack, rec)
    assert r.other_errors == len(r.errors) - 1 >= 3
    assert all(type(e) is RecordError for e in r.errors)
    d = r.to_dict()
    assert d["path"] == r.path and d["reason"] == r.reason  # the fields readers had stay
    assert d["errors"] == [{"path": e.path, "reason": e.reason} for e in r.errors]
    assert d["errors"][1:] == sorted(d["errors"][1:], key=lambda e: (e["path"], e["reason"]))
    assert "errors_left_out" not in d


def test_the_list_is_bounded_and_says_how_many_it_leaves_out(pack):
    rec = {**GOOD, **{f"f{i:02d}": i for i in range(30)}}
    r = one(pack, rec)
    assert len(r.errors) == ERRORS_KEPT and r.other_errors == 29 and r.errors_left_out == 30 - ERRORS_KEPT
    assert r.to_dict()["errors_left_out"] == 30 - ERRORS_KEPT
    assert [e.path for e in r.errors] == [f"$.f{i:02d}" for i in range(ERRORS_KEPT)]


def test_rejections_and_results_name_the_pack_and_the_contract(pack):
    results = list(evaluate(pack, [GOOD, "not json", {**GOOD, "colour": 1}]))
    schema = results_schema(pack.model)
    for r in results:
        d = json.loads(r.to_json())
        assert d["contract"] == CONTRACT == schema["$id"].rsplit(":", 1)[0]
        assert d["pack"] == {"name": pack.name, "version": pack.version, "sha256": pack.lock}
        jsonschema.validate(d, schema)
    assert results[1].errors == (RecordError("$", results[1].reason),)


def test_a_callers_dict_with_a_key_that_is_not_text_is_a_rejection_at_its_path():
    # found by the differential property test: {1: 2} reached jsonschema's pattern match on
    # keys and raised TypeError (an internal error) instead of a rejection
    from rulecite.interpreter import evaluate, load_pack

    pack = load_pack("cms-care-management")
    record = {"patient_id": "P1", "month": "2026-03", "time": [{1: 2}],
              "claims": [{"line": 1, "code": "G0557", "date": "2026-03-31"}]}
    (r,) = list(evaluate(pack, [record]))
    assert r.kind == "rejection" and r.path == '$.time[0]["1"]'
    assert "not text" in r.reason
