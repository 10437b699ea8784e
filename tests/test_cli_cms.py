"""Every command on the bundled CMS pack and the bundled example patient-months."""

from __future__ import annotations

import json

import jsonschema
import pytest
from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.engine.schemas import results_schema

from tests.cli_support import EXAMPLES, run, sarif_errors

PACK = "cms-care-management"


@pytest.fixture(scope="module")
def cms():
    return load_pack(PACK)


def test_check(cms):
    r = run(["check", PACK])
    assert r.exit_code == 0, r.output
    doc = json.loads(run(["check", PACK, "--format", "sarif"]).stdout)
    assert sarif_errors(doc) == []


def test_pack_tests_pass():
    r = run(["test", PACK, "--coverage"])
    assert r.exit_code == 0, r.stdout[-2000:]
    assert r.stdout.strip().splitlines()[-1].endswith("passed, 0 failed")


def test_eval_jsonl_is_the_library_results(cms):
    r = run(["eval", PACK, EXAMPLES, "-q"])
    assert r.exit_code == 0
    with open(EXAMPLES, "rb") as f:
        assert r.stdout.splitlines() == [x.to_json() for x in evaluate(cms, list(f))]


def test_eval_output_validates_against_the_results_schema(cms):
    validator = jsonschema.Draft202012Validator(results_schema(cms.model))
    for line in run(["eval", PACK, EXAMPLES, "-q"]).stdout.splitlines():
        doc = json.loads(line)
        assert validator.is_valid(doc), [e.message for e in validator.iter_errors(doc)][:3]
    # the generic schema is written for this pack's key names
    generic = jsonschema.Draft202012Validator(results_schema(None))
    assert generic.is_valid(json.loads(run(["eval", PACK, EXAMPLES, "-q"]).stdout.splitlines()[0]))


def test_demo_table_shows_verdicts_rule_ids_and_citations():
    """What `make demo` runs."""
    r = run(["eval", PACK, EXAMPLES, "--output", "table"])
    assert r.exit_code == 0
    out = r.stdout
    assert "patient_id " in out and "DENY" in out and "allow" in out
    assert "apcm.once-per-month" in out
    assert "cite 89 FR 97710" in out or "cite 90 FR 49266" in out
    assert "https://www.federalregister.gov/" in out
    assert "records read" in r.stderr and "findings by rule" in r.stderr


def test_eval_csv_and_fail_on():
    r = run(["eval", PACK, EXAMPLES, "-o", "csv", "-q", "--fail-on", "deny"])
    assert r.exit_code == 1
    assert r.stdout.startswith("input_line,patient_id,month,line,code,verdict,")


def test_explain_an_apcm_addon_denial():
    r = run(["explain", PACK, EXAMPLES, "--record", "SC10-A1008"])
    assert r.exit_code == 0, r.output
    assert "apcm.addon.same-practitioner" in r.stdout
    assert "to pass:" in r.stdout


def test_evidence_packet(tmp_path, cms):
    r = run(["evidence", PACK, EXAMPLES, "--record", "SC10-A1008", "--out", tmp_path])
    assert r.exit_code == 0, r.output
    html = next(tmp_path.glob("*.html")).read_text()
    assert cms.lock in html and "apcm.addon.same-practitioner" in html and "federalregister.gov" in html


def test_decision_log_round_trip(tmp_path):
    log = tmp_path / "log.jsonl"
    run(["eval", PACK, EXAMPLES, "-q", "--decision-log", log])
    r = run(["verify-log", log, PACK, EXAMPLES])
    assert r.exit_code == 0, r.stdout
    assert "0 differ, 0 missing" in r.stdout


def test_synth_records_evaluate_without_rejections(cms):
    r = run(["synth", PACK, "300", "--seed", "11"])
    assert r.exit_code == 0
    results = list(evaluate(cms, r.stdout.splitlines()))
    assert len(results) == 300
    assert not [x for x in results if x.kind == "rejection"]
    assert {v.verdict for x in results for v in x.lines} == {"allow", "deny"}


def test_schema_facts_and_results():
    facts = json.loads(run(["schema", "facts", PACK]).stdout)
    assert facts["required"] == ["patient_id", "month", "claims"]
    results = json.loads(run(["schema", "results", PACK]).stdout)
    assert results["$defs"]["result"]["required"][:2] == ["patient_id", "month"]


def test_new_version_of_the_bundled_pack(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(["new-version", PACK, "--version", "2027.1.0"])
    assert r.exit_code == 0, r.output
    new = tmp_path / "cms-care-management-2027.1.0"
    assert run(["check", new]).exit_code == 0
    d = json.loads(run(["diff", PACK, new, "--format", "json"]).stdout)
    assert d["rules"] == [] and d["codes"] == [] and d["new"]["version"] == "2027.1.0"


def test_docs(tmp_path):
    r = run(["docs", PACK, "--out", tmp_path])
    assert r.exit_code == 0, r.output
    assert list(tmp_path.rglob("*.md"))


def test_diff_december_to_january_names_apcm_addons_and_fqhc_codes():
    r = run(["diff", PACK, "--date-a", "2025-12", "--date-b", "2026-01", "--facts", EXAMPLES])
    assert r.exit_code == 0, r.output
    impact = r.stdout.split("Decision impact")[1]
    for code in ("G0568", "G0569", "G0570"):
        assert code in impact, code
    assert "G0512" in impact or "G0071" in impact
    md = run(["diff", PACK, "--date-a", "2025-12", "--date-b", "2026-01", "--facts", EXAMPLES,
              "--format", "markdown"]).stdout
    assert "## Decision impact" in md and "G0570" in md
