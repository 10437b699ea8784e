"""The library example pack runs its own tests, all passing, with full coverage."""

from __future__ import annotations

import pytest

from rulecite.interpreter import load_pack
from rulecite.interpreter.tools.packtest import run_tests

from .conftest import BRANCH, LIBRARY


@pytest.mark.parametrize("path", [LIBRARY, BRANCH], ids=["library", "library-branch"])
def test_pack_tests_pass(path):
    report = run_tests(load_pack(path))
    failures = [f"{c.name}: {'; '.join(c.failures)}" for c in report.cases if not c.passed]
    assert not failures, "\n".join(failures)
    assert report.passed >= 2


def test_library_coverage_is_complete():
    cov = run_tests(load_pack(LIBRARY)).coverage
    assert not cov.without_deny, f"rules without a deny case: {cov.without_deny}"
    assert not cov.without_allow, f"rules without an allow case: {cov.without_allow}"


def test_coverage_reports_what_is_missing(tmp_path):
    import shutil

    shutil.copytree(LIBRARY, tmp_path / "lib")
    (tmp_path / "lib" / "tests" / "rules_test.policy").unlink()
    (tmp_path / "lib" / "tests" / "facts" / "two-months.jsonl").unlink()
    cov = run_tests(load_pack(tmp_path / "lib")).coverage
    assert "media.age" in cov.without_deny and "media.age" in cov.without_allow
    assert ("loans.limit", "2026-01-01") in cov.without_boundary
