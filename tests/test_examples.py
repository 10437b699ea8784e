"""Every example patient-month (examples/patient-months.jsonl) against its intended verdicts
(examples/expectations.json): clean months are allowed with no finding; faulty ones are
denied (or warned, where that is the documented intent) by exactly the rules meant for them,
and each finding carries the citations the rule plan gives those rules."""

from __future__ import annotations

import pytest

from .cms_support import (EXAMPLES, cms_pack, evaluated_examples, example_records, expectations, expected_verdicts,
                          key_of, planned_sources, plan_rows, verdicts)

KEYS = sorted(expectations())


def test_every_record_has_an_expectation_and_every_expectation_a_record():
    keys = [key_of(r) for r in example_records()]
    assert len(keys) == len(set(keys)) == 105
    assert set(keys) == set(KEYS)


def test_records_read_equal_results_plus_rejections():
    results, rejections, read = evaluated_examples()
    with EXAMPLES.open(encoding="utf-8") as fh:
        lines = sum(1 for line in fh if line.strip())
    assert read == lines == len(results) + len(rejections)
    assert set(rejections) == {k for k, e in expectations().items() if e.get("rejected")}


def _citation_problems(result) -> list:
    """Findings whose citations miss a declared source the plan (or, for catalog.window, the
    code's catalog entry) gives."""
    model = cms_pack().model
    declared = {s.name for s in model.sources}
    codes = {c.name: c for c in model.codes}
    by_line = {v.line: v.code for v in result.lines}
    problems = []
    for f in result.findings:
        got = {c["source"] for c in f.citations}
        if not got or not got <= declared:
            problems.append(f"{f.rule} line {f.line}: citations {sorted(got)}")
            continue
        if f.rule == "catalog.window":
            want = {c.source.name for c in codes[by_line[f.line]].citations}
        elif f.rule in plan_rows():
            want = planned_sources(f.rule, declared)
        else:
            problems.append(f"{f.rule}: not a rule of the plan")
            continue
        if not want <= got:
            problems.append(f"{f.rule} line {f.line}: cites {sorted(got)}, the plan gives {sorted(want)}")
    return problems


@pytest.mark.parametrize("key", KEYS)
def test_example(key):
    exp = expectations()[key]
    results, rejections, _ = evaluated_examples()
    if exp.get("rejected"):
        assert key in rejections and key not in results
        assert rejections[key].path == "$.month"
        return
    assert key in results, f"rejected: {rejections.get(key)}"
    result = results[key]
    if exp["intent"] == "clean":
        assert all(v.verdict == "allow" for v in result.lines), verdicts(result)
        assert not [f.rule for f in result.findings], "a clean month has no finding"
        assert set(exp["lines"]) == {str(v.line) for v in result.lines}
        return
    assert exp["intent"] == "faulty"
    assert verdicts(result) == expected_verdicts(exp)
    assert result.findings, "a faulty month has at least one finding"
    assert not _citation_problems(result), _citation_problems(result)


def test_every_finding_message_reads_without_placeholders():
    results, _, _ = evaluated_examples()
    for key, result in results.items():
        for f in result.findings:
            assert f.message and "{" not in f.message and "}" not in f.message, (key, f.rule, f.message)
