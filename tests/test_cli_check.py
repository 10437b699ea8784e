"""``rulecite check``: every diagnostic at once, as text, JSON or SARIF 2.1.0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rulecite.policy_lang import Diagnostic, Span
from rulecite.policy_lang.errors import CODES
from rulecite.interpreter.reports.sarif import file_uri, to_sarif

from tests.cli_support import BRANCH, LIBRARY, run, sarif_errors


@pytest.fixture
def broken(library_copy) -> Path:
    rules = library_copy / "rules.policy"
    text = rules.read_text().replace("deny unless total_units <= 10", "deny unless total_unit <= 10")
    text = text.replace('cite BYLAWS2025 section "3. Media" quote', 'cite BYLAWS2024 section "3. Media" quote')
    rules.write_text(text)
    catalog = library_copy / "catalog.policy"
    catalog.write_text(catalog.read_text() + "set UNUSED = {BOOK}\n")
    return library_copy


def test_clean_pack_exits_0():
    for pack in (LIBRARY, BRANCH):
        r = run(["check", pack])
        assert r.exit_code == 0, r.output
        assert r.stdout == ""
        assert "0 error(s)" in r.stderr


def test_every_error_at_once_with_caret_and_hints(broken):
    r = run(["check", broken])
    assert r.exit_code == 1
    out = r.stdout
    assert "rules.policy:10:15: error[E200]: unknown name `total_unit`" in out
    assert "  10 |   deny unless total_unit <= 10" in out
    assert "|               ^^^^^^^^^^" in out
    assert "= hint: did you mean `total_units`?" in out
    assert "error[E204]: unknown source `BYLAWS2024`" in out
    assert "warning[W701]" in out
    assert "2 error(s), 1 warning(s)" in r.stderr


def test_warnings_alone_exit_0(library_copy):
    cat = library_copy / "catalog.policy"
    cat.write_text(cat.read_text() + "set UNUSED = {BOOK}\n")
    r = run(["check", library_copy])
    assert r.exit_code == 0
    assert "warning[W701]" in r.stdout


def test_syntax_error_is_reported_not_raised(library_copy):
    (library_copy / "broken.policy").write_text('rule x {\n  title "unterminated\n}\n')
    r = run(["check", library_copy])
    assert r.exit_code == 1
    assert "broken.policy:2:" in r.stdout
    assert "Traceback" not in r.output


def test_json_format(broken):
    r = run(["check", broken, "--format", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["errors"] == 2 and doc["warnings"] == 1
    codes = sorted(d["code"] for d in doc["diagnostics"])
    assert codes == ["E200", "E204", "W701"]
    e200 = next(d for d in doc["diagnostics"] if d["code"] == "E200")
    assert e200["line"] == 10 and e200["column"] == 15 and e200["hints"]
    assert doc["pack"] is None  # a pack with errors has no model


def test_json_format_clean_pack_names_the_lock():
    doc = json.loads(run(["check", LIBRARY, "--format", "json"]).stdout)
    assert doc["pack"]["name"] == "library-loans"
    assert len(doc["pack"]["sha256"]) == 64
    assert doc["diagnostics"] == []


def test_sarif_validates_against_the_official_schema(broken):
    r = run(["check", broken, "--format", "sarif"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert sarif_errors(doc) == []
    results = doc["runs"][0]["results"]
    assert {x["ruleId"] for x in results} == {"E200", "E204", "W701"}
    e200 = next(x for x in results if x["ruleId"] == "E200")
    region = e200["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 10, "startColumn": 15, "endLine": 10, "endColumn": 25}
    assert e200["level"] == "error"
    assert "did you mean" in e200["message"]["text"]
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rules[e200["ruleIndex"]]["id"] == "E200"
    w = next(x for x in results if x["ruleId"] == "W701")
    assert w["level"] == "warning"


def test_sarif_of_a_clean_pack_validates():
    doc = json.loads(run(["check", LIBRARY, "--format", "sarif"]).stdout)
    assert sarif_errors(doc) == []
    assert doc["runs"][0]["results"] == []


def test_sarif_uris_are_relative_inside_the_working_directory(broken, monkeypatch):
    monkeypatch.chdir(broken.parent)
    doc = json.loads(run(["check", "library", "--format", "sarif"]).stdout)
    uris = {x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for x in doc["runs"][0]["results"]}
    assert uris == {"library/rules.policy", "library/catalog.policy"}


def test_the_schema_check_is_not_vacuous():
    doc = to_sarif([Diagnostic("E200", "x", Span("a.policy", 1, 1, 1, 2))], "0.1.0")
    assert sarif_errors(doc) == []
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    doc["runs"][0]["results"][0]["level"] = "fatal"
    assert len(sarif_errors(doc)) >= 2


def test_sarif_every_code_and_odd_spans_validate():
    diags = [Diagnostic(code, f"message {code}", Span("dir with space/ü.policy", 3, 4, 3, 9),
                        ("a hint",), "warning" if code.startswith("W") else "error", "label")
             for code in CODES]
    diags.append(Diagnostic("E501", "no schema", Span("/abs/facts.schema.json", 0, 0, 0, 0)))
    diags.append(Diagnostic("E500", "toml", Span("pack.toml", 1, 1, 1, 1)))
    doc = to_sarif(diags, "0.1.0")
    assert sarif_errors(doc) == []
    no_region = doc["runs"][0]["results"][-2]["locations"][0]["physicalLocation"]
    assert "region" not in no_region
    assert no_region["artifactLocation"]["uri"] == "file:///abs/facts.schema.json"


def test_file_uri_quotes_spaces():
    assert file_uri("dir with space/a.policy") == "dir%20with%20space/a.policy"


def test_check_an_unreadable_pack_toml_is_an_error_found(library_copy):
    (library_copy / "pack.toml").write_text("[pack\nname=")
    r = run(["check", library_copy])
    assert r.exit_code == 1
    assert "E500" in r.stdout


def test_quiet_prints_errors_only(broken):
    """`check -q`: the errors, nothing else: no warning, no summary line."""
    r = run(["check", "-q", broken])
    assert r.exit_code == 1
    assert "error[E200]: unknown name `total_unit`" in r.stdout and "error[E204]" in r.stdout
    assert "warning" not in r.stdout and "W701" not in r.stdout
    assert r.stderr == ""
    doc = json.loads(run(["check", "--quiet", "--format", "json", broken]).stdout)
    assert {d["severity"] for d in doc["diagnostics"]} == {"error"} and doc["warnings"] == 0


def test_quiet_on_a_pack_with_warnings_only_prints_nothing(library_copy):
    cat = library_copy / "catalog.policy"
    cat.write_text(cat.read_text() + "set UNUSED = {BOOK}\n")
    r = run(["check", "-q", library_copy])
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""


def test_syntax_error_in_one_file_and_type_error_in_another(library_copy):
    """The README's promise on the command line: every file parsed and checked."""
    (library_copy / "a.policy").write_text('rule x.y {\n  title "t"\n  supercedes loans.limit\n}\n')
    (library_copy / "b.policy").write_text('let bad = total_units + "x"\n')
    r = run(["check", "-q", library_copy])
    assert r.exit_code == 1
    assert "a.policy:3:3: error[E100]: unexpected `supercedes`" in r.stdout
    assert "= hint: did you mean `supersedes`?" in r.stdout
    assert "b.policy:1:11: error[E300]" in r.stdout
