"""Base records for pack tests: `base NAME {...}` and `facts from NAME {...}`, merged deeply."""

from __future__ import annotations

import shutil

import pytest

from rulecite.interpreter import load_pack
from rulecite.interpreter.tools.packtest import run_tests
from rulecite.policy_lang import PackError
from rulecite.policy_lang.check.pack_tests import merge

from .conftest import LIBRARY

TESTS = """
base adult_month {
  "member_id": "M1",
  "month": "2025-03",
  "member": {"age": 40, "card": "adult"},
  "loans": [{"line": 1, "item": "BOOK", "units": 2, "date": "2025-03-02"}]
}

test "the base alone is allowed" {
  facts from adult_month
  expect line 1 allow
}

test "a child borrowing a DVD" {
  facts from adult_month {
    "member": {"age": 9},
    "loans": [{"line": 1, "item": "DVD", "days": 3, "date": "2025-03-02"}]
  }
  expect line 1 deny media.age, media.agreement
}
"""


def make(tmp_path, tests: str):
    d = tmp_path / "p"
    shutil.copytree(LIBRARY, d)
    (d / "tests" / "base_test.policy").write_text(tests)
    return d


def test_merge_is_deep_for_objects_and_replaces_the_rest():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": [1], "c": "keep", "d": 1}
    got = merge(base, {"a": {"y": [3]}, "b": [], "d": None, "e": {"z": 1}})
    assert got == {"a": {"x": 1, "y": [3]}, "b": [], "c": "keep", "e": {"z": 1}}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": [1], "c": "keep", "d": 1}  # untouched


def test_the_merged_facts_are_what_the_tests_evaluate(tmp_path):
    pack = load_pack(make(tmp_path, TESTS))
    (child,) = [t for t in pack.model.tests if t.name == "a child borrowing a DVD"]
    assert child.records[0]["member"] == {"age": 9, "card": "adult"}  # deep: the card stays
    assert child.records[0]["loans"][0]["item"] == "DVD"  # lists are replaced
    outcomes = {c.name: c for c in run_tests(pack).cases}
    assert outcomes["the base alone is allowed"].passed
    assert outcomes["a child borrowing a DVD"].passed


def test_a_wrong_expectation_on_merged_facts_fails(tmp_path):
    pack = load_pack(make(tmp_path, TESTS.replace("deny media.age, media.agreement", "allow")))
    outcomes = {c.name: c for c in run_tests(pack).cases}
    assert not outcomes["a child borrowing a DVD"].passed


def test_an_unknown_base_is_an_error_with_did_you_mean(tmp_path):
    with pytest.raises(PackError) as e:
        load_pack(make(tmp_path, TESTS.replace("facts from adult_month {", "facts from adult_mnth {")))
    (d,) = [d for d in e.value.diagnostics if d.code == "E604"]
    assert "adult_mnth" in d.message and any("adult_month" in h for h in d.hints)
