"""evaluate(..., trusted=True): no schema validation; the same results on valid records; a
failure inside a rule is a rejection naming the rule, never an exception."""

import json
from pathlib import Path

import pytest

from rulecite.interpreter import Rejection, Result, evaluate, load_pack

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = ROOT / "benchmarks" / "anchor-pack"
BASE = {"patient_id": "P1", "month": "2026-03",
        "claims": [{"line": 1, "code": "99439", "units": 1, "npi": "1467503219", "date": "2026-03-31"}],
        "time": [{"program": "CCM", "role": "clinical_staff", "minutes": 25, "date": "2026-03-04"}]}


@pytest.fixture(scope="module")
def pack():
    return load_pack(ANCHOR)


def _records():
    import random

    rng = random.Random(3)
    out = []
    for i in range(300):
        claims = [{"line": j + 1, "code": rng.choice(["G0556", "G0558", "G0568", "99490", "99439", "G0511", "99484"]),
                   "units": rng.randint(1, 3), "npi": rng.choice(["1467503219", "1558203943"]),
                   "date": f"202{rng.randint(5, 6)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}
                  for j in range(rng.randint(0, 3))]
        out.append({"patient_id": f"P{i}", "month": "2026-03", "claims": claims,
                    "time": [{"program": "CCM", "role": "clinical_staff", "minutes": rng.randint(0, 60),
                              "date": "2026-03-04"}],
                    "consents": [{"program": rng.choice(["CCM", "APCM"]), "date": "2025-01-01"}],
                    "patient": {"qmb": rng.random() < 0.5}})
    return out


def test_trusted_gives_the_same_results_on_valid_records(pack):
    recs = _records()
    checked = list(evaluate(pack, recs))
    assert all(type(r) is Result for r in checked)
    assert [r.to_json() for r in evaluate(pack, recs, trusted=True)] == [r.to_json() for r in checked]
    lines = [json.dumps(r) for r in recs]
    assert [r.to_json() for r in evaluate(pack, lines, trusted=True)] == [r.to_json() for r in checked]


@pytest.mark.parametrize("field,value,rule", [
    ("minutes", "25", "rule ccm.99439.minutes (anchor.policy:"),
    ("units", "2", "rule ccm.99439.max-units (anchor.policy:"),
])
def test_a_failure_inside_a_rule_is_a_rejection_naming_the_rule(pack, field, value, rule):
    rec = json.loads(json.dumps(BASE))
    (rec["time"] if field == "minutes" else rec["claims"])[0][field] = value
    (strict,) = evaluate(pack, [rec])
    assert type(strict) is Rejection and "is not of type 'integer'" in strict.reason
    (o,) = evaluate(pack, [rec], trusted=True)
    assert type(o) is Rejection
    assert rule in o.reason and o.path.endswith(field)
    assert o.input_line == 1 and o.id == "P1"
    assert o.pack is not None and o.pack.name == pack.model.name  # as every rejection: the pack that was to judge
    assert json.loads(o.to_json())["pack"]["sha256"] == pack.lock


def test_a_rule_failure_names_the_pack_in_a_pack_that_reads_history():
    """The CMS pack groups records by subject (its rules read history): a rejection made
    while judging a group names the pack too."""
    cms = load_pack("cms-care-management")
    rec = {"patient_id": "P1", "month": "2026-03",
           "claims": [{"line": 1, "code": "99490", "units": 1, "npi": "1467503219", "date": "2026-03-31"}],
           "time": [{"program": "CCM", "role": "clinical_staff", "minutes": "25", "date": "2026-03-04"}]}
    (o,) = evaluate(cms, [rec], trusted=True)
    assert type(o) is Rejection and o.pack is not None and o.pack.sha256 == cms.lock


@pytest.mark.parametrize("rec", [{**BASE, "claims": [5]}, {**BASE, "claims": "x"}, {**BASE, "time": [None]},
                                 {**BASE, "month": 5}, {"patient_id": "P1"}])
def test_nothing_a_trusted_record_holds_raises(pack, rec):
    (o,) = evaluate(pack, [rec], trusted=True)
    assert type(o) in (Result, Rejection)
    o.to_json()


def test_trusted_skips_the_schema(pack):
    rec = {**BASE, "not_in_the_schema": 1}
    (strict,) = evaluate(pack, [rec])
    assert type(strict) is Rejection
    (o,) = evaluate(pack, [rec], trusted=True)
    assert type(o) is Result


def test_trusted_text_is_still_decoded_in_full(pack):
    text = json.dumps(BASE)
    bad = [text[:-1] + ', "patient_id": "P2"}', "not json", "[1]", "[" * 50 + "]" * 50]
    out = list(evaluate(pack, bad, trusted=True))
    assert [type(o) for o in out] == [Rejection] * 4
    assert "repeated" in out[0].reason or "duplicate" in out[0].reason
