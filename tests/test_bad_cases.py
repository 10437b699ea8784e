"""Bad cases: each file in cases/bad/ is dropped into a copy of the library pack's
context (its pack.toml, schema, sources and catalog), checked, and its rendered
diagnostics compared with the golden ``.expected`` file next to it.

The file name starts with the diagnostic code the case is about; the test also
asserts that this code is among the diagnostics, and that every error code of the
catalogue has a case here or in test_pack_errors.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rulecite.policy_lang import CODES, load, render_text

from .conftest import LIBRARY, TESTS, check_golden

BAD = TESTS / "cases" / "bad"
CASES = sorted(BAD.glob("*.policy"))
# Diagnostics about pack folders (pack.toml, schema, extends) live in test_pack_errors.py.
PACK_LEVEL = {"E208", "E209", "E214", "E500", "E501", "E502", "E503", "E504", "E505", "E506",
              "E507"}  # E507 (amounts): tests/test_amounts.py


def run_case(case: Path, tmp_path: Path) -> tuple:
    pack = tmp_path / "pack"
    pack.mkdir()
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        shutil.copy(LIBRARY / name, pack / name)
    shutil.copy(case, pack / "case.policy")
    loaded = load(pack)
    # Warnings about the borrowed context files are noise here; errors anywhere count.
    diags = [d for d in loaded.diagnostics if d.severity == "error" or d.span.file.endswith("case.policy")]
    text = render_text(diags, {**loaded.texts})
    return diags, text.replace(str(pack) + "/", "")


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_case(case, tmp_path, update_golden):
    diags, text = run_case(case, tmp_path)
    code = case.stem.split("_")[0]
    assert any(d.code == code for d in diags), f"{case.name}: expected {code}, got {[d.code for d in diags]}"
    if code.startswith("E"):
        assert any(d.severity == "error" for d in diags)
    for d in diags:
        assert d.span.line >= 1 or d.code in PACK_LEVEL, f"{d.code} has no line"
    check_golden(case.with_suffix(".expected"), text, update_golden)


def test_every_code_has_a_case():
    covered = {c.stem.split("_")[0] for c in CASES} | PACK_LEVEL
    missing = sorted(set(CODES) - covered)
    assert not missing, f"error codes without a bad case: {missing}"


def test_at_least_thirty_bad_cases():
    assert len(CASES) >= 30


def test_two_syntax_errors_reported_at_once(tmp_path):
    diags, _ = run_case(BAD / "E100_two_errors.policy", tmp_path)
    lines = sorted({d.span.line for d in diags if d.code.startswith("E1")})
    assert len(lines) >= 3, lines


def test_unknown_names_say_did_you_mean(tmp_path):
    for stem in ("E200_unknown_name", "E201_unknown_field", "E202_unknown_code", "E203_unknown_set_member",
                 "E204_unknown_source", "E205_unknown_rule", "E206_unknown_function", "E305_bad_enum_value",
                 "E601_test_unknown_rule"):
        sub = tmp_path / stem
        sub.mkdir()
        diags, _ = run_case(BAD / f"{stem}.policy", sub)
        code = stem.split("_")[0]
        hits = [d for d in diags if d.code == code]
        assert hits and all(any("did you mean" in h for h in d.hints) for d in hits), (stem, hits)


def test_each_author_mistake_is_one_diagnostic_with_a_hint(tmp_path):
    """The mistakes of a yearly update (issue 17): one diagnostic each, at a line and
    column of case.policy, with a hint; nothing cascades from it."""
    for stem in ("E100_misspelled_keyword", "E100_misspelled_unless", "E100_arrow_for_greater_equal",
                 "E100_single_equals_in_rule", "E100_words_out_of_order", "E100_quoted_date",
                 "E103_brace_left_open", "E103_missing_brace", "E400_until_before_effective"):
        sub = tmp_path / stem
        sub.mkdir()
        diags, _ = run_case(BAD / f"{stem}.policy", sub)
        errors = [d for d in diags if d.severity == "error"]
        assert len(errors) == 1, (stem, [(d.code, d.message) for d in errors])
        (d,) = errors
        assert d.span.file.endswith("case.policy") and d.span.line >= 1 and d.span.column >= 1, (stem, d)
        assert d.hints, (stem, d)
