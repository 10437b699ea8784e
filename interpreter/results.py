"""Results contract v1: what evaluation gives for each record.

``Result`` (a record that was evaluated) and ``Rejection`` (a record that could not
be) are frozen attrs classes with ``to_dict()`` matching ``results.schema.json``.
Key order in ``to_dict()`` is fixed, so ``json.dumps`` of a result is the same bytes
on every run and machine.
"""

from __future__ import annotations

import json

from attrs import field, frozen


@frozen
class PackRef:
    name: str
    version: str
    sha256: str

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@frozen
class LineVerdict:
    line: object
    code: object
    verdict: str  # allow | deny
    rules: tuple = ()  # ids of the deny rules
    warnings: tuple = ()  # ids of warn/info rules

    def to_dict(self) -> dict:
        out = {"line": self.line, "code": self.code, "verdict": self.verdict}
        if self.rules:
            out["rules"] = list(self.rules)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@frozen
class Evidence:
    expr: str
    value: object
    path: str | None


@frozen
class Finding:
    rule: str
    version: int
    severity: str
    line: object  # the line's id, or None for a record-level finding
    message: str
    citations: tuple  # dicts
    evidence: tuple  # Evidence
    suggestion: str | None = None
    title: str = ""

    def to_dict(self) -> dict:
        out = {"rule": self.rule, "severity": self.severity, "line": self.line, "message": self.message,
               "citations": [dict(c) for c in self.citations],
               "evidence": {e.expr: e.value for e in self.evidence},
               "evidence_paths": {e.expr: e.path for e in self.evidence if e.path is not None}}
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out


@frozen
class SuggestionOut:
    code: str
    units: object
    reason: str
    source: str  # the suggestion or rule id that made it
    line: object = None

    def to_dict(self) -> dict:
        out = {"code": self.code}
        if self.units is not None:
            out["units"] = self.units
        out["reason"] = self.reason
        out["from"] = self.source
        if self.line is not None:
            out["line"] = self.line
        return out


@frozen
class Result:
    """The verdicts for one record (one patient-month in the CMS pack)."""

    id_field: str
    period_field: str
    id: object
    period: str
    pack: PackRef
    as_of: str | None
    lines: tuple
    findings: tuple
    suggestions: tuple
    input_line: int
    notes: tuple = ()
    record: dict | None = field(default=None, eq=False, repr=False)

    kind = "result"

    @property
    def denied(self) -> bool:
        return any(v.verdict == "deny" for v in self.lines)

    def to_dict(self) -> dict:
        out = {self.id_field: self.id, self.period_field: self.period, "pack": self.pack.to_dict(),
               "as_of": self.as_of,
               "lines": [v.to_dict() for v in self.lines],
               "findings": [f.to_dict() for f in self.findings],
               "suggestions": [s.to_dict() for s in self.suggestions],
               "input_line": self.input_line}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def to_json(self) -> str:
        return dumps(self.to_dict())


@frozen
class Rejection:
    """A record that could not be evaluated: where in the input, where in the record, why."""

    input_line: int
    path: str
    reason: str
    other_errors: int = 0
    id: object = None
    period: object = None

    kind = "rejection"

    def to_dict(self) -> dict:
        out = {"rejected": True, "input_line": self.input_line, "path": self.path, "reason": self.reason,
               "other_errors": self.other_errors}
        if self.id is not None:
            out["id"] = self.id
        if self.period is not None:
            out["period"] = self.period
        return out

    def to_json(self) -> str:
        return dumps(self.to_dict())


def dumps(obj) -> str:
    """The one JSON encoding of results: compact, UTF-8, key order as built."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
