"""Re-record the expectations of failing pack tests from what the pack now decides.

Takes a ``RulePack`` and its ``TestReport``; gives the new text of each ``.policy``
file that holds a failing test (``{absolute path: text}``), for the caller to review
and write. Only the ``expect`` lines of failing tests change; every other byte of
the file stays as it was. An expectation that still holds is kept; one that fails
is replaced by what the result shows (the line's verdict and deny rules, the finding
present or absent, the suggestion as made, or ``expect rejected``).
"""

from __future__ import annotations

from pathlib import Path

import attrs
from rulecite.policy_lang import parse
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.formatter import expectation_text

from rulecite.interpreter.tools.packtest import run_case
from rulecite.interpreter.engine.results import Rejection


def rerecord(pack, report) -> dict:
    """New texts for the files whose tests failed; empty when every test passed."""
    model = pack.model
    tests = {(t.file, t.span.line): t for t in model.tests}
    by_file: dict = {}
    for case in report.cases:
        if not case.passed:
            by_file.setdefault(case.file, []).append(case)
    texts = {str(Path(model.root) / rel): text for rel, text in model.files}
    out = {}
    for file, cases in sorted(by_file.items()):
        text = texts.get(file)
        if text is None:
            continue  # a test of an extended pack: not ours to rewrite
        module, _ = parse(text, file)
        if module is None:
            continue
        decls = {d.span.line: d for d in module.decls if isinstance(d, ast.TestDecl)}
        edits = []
        for case in cases:
            decl = decls.get(case.line)
            test = tests.get((file, case.line))
            if decl is None or test is None:
                continue
            new = recorded_expectations(pack, test, case.result)
            edits.append((decl, new))
        new_text = _splice(text, edits)
        if new_text != text:
            out[file] = new_text
    return out


def recorded_expectations(pack, test, result) -> tuple:
    """The test's expectations with every failing one replaced by what ``result`` shows."""
    if isinstance(result, Rejection):
        return (ast.Expectation("rejected"),)
    out: list = []
    for x in test.expectations:
        if not run_case(pack, attrs.evolve(test, expectations=(x,))).failures:
            out.append(x)
        else:
            out.extend(_actual(x, result))
    seen, unique = set(), []
    for x in out:
        if x not in seen:
            seen.add(x)
            unique.append(x)
    return tuple(unique)


def _actual(x, result) -> list:
    by_line = {v.line: v for v in result.lines}
    if x.kind == "rejected":
        return [_verdict(v) for v in result.lines]
    if x.kind in ("allow", "deny"):
        v = by_line.get(x.line)
        return [_verdict(v)] if v is not None else []
    if x.kind == "warn":
        v = by_line.get(x.line)
        return [ast.Expectation("warn", v.line, tuple(v.warnings))] if v is not None and v.warnings else []
    if x.kind == "finding":
        return [ast.Expectation("no_finding", rules=x.rules)]
    if x.kind == "no_finding":
        return [ast.Expectation("finding", rules=x.rules)]
    if x.kind == "suggestion":
        made = [s for s in result.suggestions if s.code == x.code]
        if not made:
            return []
        units = made[0].units if isinstance(made[0].units, int) and x.units is not None else None
        return [ast.Expectation("suggestion", code=x.code, units=units)]
    return []


def _verdict(v) -> ast.Expectation:
    if v.verdict == "allow":
        return ast.Expectation("allow", v.line)
    return ast.Expectation("deny", v.line, tuple(v.rules))


def _splice(text: str, edits) -> str:
    """Replace the expect lines of each edited test, bottom-up so line numbers stay valid."""
    lines = text.splitlines(keepends=True)
    for decl, new in sorted(edits, key=lambda e: -e[0].span.line):
        spots = [(ln, end) for key, ln, end in decl.layout if key == "expectations"]
        if spots:
            first = spots[0][0]
            indent = _indent(lines[first - 1])
            for ln, end in sorted(spots, reverse=True):
                del lines[ln - 1:end]
            at = first - 1
        else:
            at = decl.span.end_line - 1
            indent = "  "
        lines[at:at] = [indent + expectation_text(x) + "\n" for x in new]
    return "".join(lines)


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]
