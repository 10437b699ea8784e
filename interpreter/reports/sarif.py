"""Diagnostics as SARIF 2.1.0, so code hosts annotate pull requests.

Takes ``Diagnostic`` values (with file names as they should appear, usually relative
to the repository root); gives one SARIF log as a plain dict. The tool's rule list
is the whole catalogue of codes (``CODES``), so every result's ``ruleIndex`` points
into it. Same input, same output: nothing here reads a clock or the environment.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import quote

from rulecite.policy_lang.errors import CODES

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning"}


def to_sarif(diagnostics, tool_version: str, language_version: str = "1") -> dict:
    """One SARIF log with one run holding every diagnostic as a result."""
    codes = sorted(CODES)
    index = {c: i for i, c in enumerate(codes)}
    rules = [_rule(c) for c in codes]
    results = [_result(d, index) for d in diagnostics]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rulecite",
                "version": tool_version,
                "semanticVersion": tool_version,
                "rules": rules,
                "properties": {"languageVersion": language_version},
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _rule(code: str) -> dict:
    name, text = CODES[code]
    level = "warning" if code.startswith("W") else "error"
    return {"id": code, "name": name, "shortDescription": {"text": text},
            "defaultConfiguration": {"level": level}}


def _result(d, index: dict) -> dict:
    text = d.message
    if d.hints:
        text += "\n" + "\n".join(f"hint: {h}" for h in d.hints)
    out = {"ruleId": d.code, "level": _LEVEL.get(d.severity, "note"), "message": {"text": text}}
    if d.code in index:
        out["ruleIndex"] = index[d.code]
    loc = {"physicalLocation": {"artifactLocation": {"uri": file_uri(d.span.file)}}}
    if d.span.line >= 1:
        region = {"startLine": d.span.line, "startColumn": max(1, d.span.column)}
        if d.span.end_line >= d.span.line:
            region["endLine"] = d.span.end_line
            if d.span.end_column >= 1 and (d.span.end_line > d.span.line or d.span.end_column > region["startColumn"]):
                region["endColumn"] = d.span.end_column
        loc["physicalLocation"]["region"] = region
    out["locations"] = [loc]
    if d.label:
        out["properties"] = {"label": d.label}
    return out


def file_uri(name: str) -> str:
    """A relative path stays a relative URI reference; an absolute one becomes ``file://``."""
    posix = name.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        return "file://" + quote(posix)
    return quote(posix)
