"""Results contract v1: what evaluation gives for each record.

``Result`` (a record that was evaluated) and ``Rejection`` (a record that could not
be) are frozen attrs classes with ``to_dict()`` matching ``results.schema.json``.
Key order in ``to_dict()`` is fixed, so ``json.dumps`` of a result is the same bytes
on every run and machine.

Evaluation builds millions of these, so the engine makes a ``Result`` with
``Result.from_parts``: every value (verdicts, messages, evidence values, suggestions)
is computed then, and only the wrapping of lines, findings and suggestions into
``LineVerdict``, ``Finding`` and ``SuggestionOut`` objects waits until a caller reads
them; ``to_dict`` builds the same dicts from the parts without the objects. Fields,
equality, ``repr`` and ``to_dict`` are those of a result built with all its objects.
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


@frozen(slots=False)
class LineVerdict:
    line: object
    code: object
    verdict: str  # allow | deny
    rules: tuple = ()  # ids of the deny rules
    warnings: tuple = ()  # ids of warn/info rules

    def to_dict(self) -> dict:
        return _line_dict(self.line, self.code, self.verdict, self.rules, self.warnings)


def _line_dict(line, code, verdict, rules, warnings) -> dict:
    out = {"line": line, "code": code, "verdict": verdict}
    if rules:
        out["rules"] = list(rules)
    if warnings:
        out["warnings"] = list(warnings)
    return out


@frozen(slots=False)
class Evidence:
    expr: str
    value: object
    path: str | None


@frozen(slots=False)
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
        return _finding_dict(self.rule, self.severity, self.line, self.message, self.citations,
                             [(e.expr, e.value, e.path) for e in self.evidence], self.suggestion)

    @classmethod
    def from_part(cls, part: tuple) -> "Finding":
        """A finding from its part: the field values, evidence as (expr, value, path) triples."""
        rule, version, severity, line, message, citations, evidence, suggestion, title = part
        return cls(rule, version, severity, line, message, citations,
                   tuple(Evidence(e, v, p) for e, v, p in evidence), suggestion, title)


def _finding_dict(rule, severity, line, message, citations, evidence, suggestion) -> dict:
    out = {"rule": rule, "severity": severity, "line": line, "message": message,
           "citations": [dict(c) for c in citations],
           "evidence": {e: v for e, v, _ in evidence},
           "evidence_paths": {e: p for e, _, p in evidence if p is not None}}
    if suggestion:
        out["suggestion"] = suggestion
    return out


@frozen(slots=False)
class SuggestionOut:
    code: str
    units: object
    reason: str
    source: str  # the suggestion or rule id that made it
    line: object = None

    def to_dict(self) -> dict:
        return _suggestion_dict(self.code, self.units, self.reason, self.source, self.line)


def _suggestion_dict(code, units, reason, source, line) -> dict:
    out = {"code": code}
    if units is not None:
        out["units"] = units
    out["reason"] = reason
    out["from"] = source
    if line is not None:
        out["line"] = line
    return out


_new = object.__new__
_PARTS = {"lines": 0, "findings": 1, "suggestions": 2}


@frozen(slots=False)
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

    @classmethod
    def from_parts(cls, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions,
                   input_line, notes=(), record=None) -> "Result":
        """A result whose lines, findings and suggestions are given as parts (tuples of
        field values; a finding's evidence as (expr, value, path) triples) and wrapped
        into objects when first read."""
        r = _new(cls)
        r.__dict__.update(id_field=id_field, period_field=period_field, id=id, period=period, pack=pack,
                          as_of=as_of, input_line=input_line, notes=notes, record=record,
                          _parts=(lines, findings, suggestions))
        return r

    def __getattr__(self, name):
        # Only called for a missing attribute: a part not wrapped yet.
        parts = self.__dict__.get("_parts")
        if parts is None or name not in _PARTS:
            raise AttributeError(name)
        raw = parts[_PARTS[name]]
        if callable(raw):
            raw = self._resolve_findings()
        if name == "lines":
            value = tuple(LineVerdict(*x) for x in raw)
        elif name == "findings":
            value = tuple(Finding.from_part(x) for x in raw)
        else:
            value = tuple(SuggestionOut(*x) for x in raw)
        self.__dict__[name] = value
        return value

    def _resolve_findings(self) -> tuple:
        """Render findings that were left for their first reading (see Evaluator.result)."""
        lines, findings, suggestions = self.__dict__["_parts"]
        if callable(findings):
            findings = findings()
            self.__dict__["_parts"] = (lines, findings, suggestions)
        return findings

    def to_dict(self) -> dict:
        d = self.__dict__
        parts = d.get("_parts")
        if parts is None or "lines" in d:
            lines = [v.to_dict() for v in self.lines]
        else:
            lines = [_line_dict(*x) for x in parts[0]]
        if parts is None or "findings" in d:
            findings = [f.to_dict() for f in self.findings]
        else:
            raw = self._resolve_findings() if callable(parts[1]) else parts[1]
            findings = [_finding_dict(x[0], x[2], x[3], x[4], x[5], x[6], x[7]) for x in raw]
        if parts is None or "suggestions" in d:
            suggestions = [s.to_dict() for s in self.suggestions]
        else:
            suggestions = [_suggestion_dict(*x) for x in parts[2]]
        out = {self.id_field: self.id, self.period_field: self.period, "pack": self.pack.to_dict(),
               "as_of": self.as_of, "lines": lines, "findings": findings, "suggestions": suggestions,
               "input_line": self.input_line}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def to_json(self) -> str:
        text = self.__dict__.get("_json")  # made where the result was evaluated (parallel runs)
        return text if text is not None else dumps(self.to_dict())


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
