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


@frozen
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


@frozen
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


_PENDING = "pending"


class PendingFindings:
    """Findings not rendered yet: what the engine needs to render them on first read."""

    __slots__ = ("evaluator", "requests", "record", "history")

    def __init__(self, evaluator, requests, record, history):
        self.evaluator = evaluator
        self.requests = requests
        self.record = record
        self.history = history

    def render(self) -> tuple:
        return self.evaluator.render_findings(self.requests, self.record, self.history)


class Result:
    """The verdicts for one record (one patient-month in the CMS pack).

    Immutable. ``lines``, ``findings`` and ``suggestions`` are tuples of
    :class:`LineVerdict`, :class:`Finding` and :class:`SuggestionOut`; the engine
    stores them compactly and wraps them into those objects when first read. Findings
    (messages and evidence) are rendered from the record on first read too, so a
    caller that needs only verdicts never pays for them; the result keeps a reference
    to its input record for that (``record``): do not change a record while you still
    hold its result.
    """

    __slots__ = ("id_field", "period_field", "id", "period", "pack", "as_of", "input_line", "notes", "record",
                 "_lines", "_findings", "_suggestions", "_json", "_wrapped")
    kind = "result"

    def __init__(self, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions, input_line,
                 notes=(), record=None):
        """A result from its objects (lines, findings, suggestions as tuples of objects)."""
        self._init(id_field, period_field, id, period, pack, as_of, tuple(lines), tuple(findings),
                   tuple(suggestions), input_line, tuple(notes), record, wrapped=True)

    def _init(self, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions, input_line,
              notes, record, wrapped):
        set_ = object.__setattr__
        set_(self, "id_field", id_field)
        set_(self, "period_field", period_field)
        set_(self, "id", id)
        set_(self, "period", period)
        set_(self, "pack", pack)
        set_(self, "as_of", as_of)
        set_(self, "input_line", input_line)
        set_(self, "notes", notes)
        set_(self, "record", record)
        set_(self, "_lines", lines)
        set_(self, "_findings", findings)
        set_(self, "_suggestions", suggestions)
        set_(self, "_json", None)
        set_(self, "_wrapped", 7 if wrapped else 0)  # bit mask: lines 1, findings 2, suggestions 4

    @classmethod
    def from_parts(cls, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions,
                   input_line, notes=(), record=None) -> "Result":
        """A result from parts: lines as (line, code, verdict, rules, warnings) tuples,
        findings as field tuples (evidence as (expr, value, path) triples) or a
        :class:`PendingFindings`, suggestions as field tuples."""
        r = object.__new__(cls)
        r._init(id_field, period_field, id, period, pack, as_of, lines, findings, suggestions, input_line, notes,
                record, wrapped=False)
        return r

    def __setattr__(self, name, value):
        raise AttributeError(f"Result is immutable (tried to set {name})")

    def _finding_parts(self) -> tuple:
        f = self._findings
        if isinstance(f, PendingFindings):
            f = f.render()
            object.__setattr__(self, "_findings", f)
        return f

    @property
    def lines(self) -> tuple:
        if not self._wrapped & 1:
            object.__setattr__(self, "_lines", tuple(LineVerdict(*x) for x in self._lines))
            object.__setattr__(self, "_wrapped", self._wrapped | 1)
        return self._lines

    @property
    def findings(self) -> tuple:
        if not self._wrapped & 2:
            parts = self._finding_parts()
            object.__setattr__(self, "_findings", tuple(Finding.from_part(x) for x in parts))
            object.__setattr__(self, "_wrapped", self._wrapped | 2)
        return self._findings

    @property
    def suggestions(self) -> tuple:
        if not self._wrapped & 4:
            object.__setattr__(self, "_suggestions", tuple(SuggestionOut(*x) for x in self._suggestions))
            object.__setattr__(self, "_wrapped", self._wrapped | 4)
        return self._suggestions

    @property
    def denied(self) -> bool:
        if self._wrapped & 1:
            return any(v.verdict == "deny" for v in self._lines)
        return any(x[2] == "deny" for x in self._lines)

    def to_dict(self) -> dict:
        w = self._wrapped
        lines = [v.to_dict() for v in self._lines] if w & 1 else [_line_dict(*x) for x in self._lines]
        if w & 2:
            findings = [f.to_dict() for f in self._findings]
        else:
            findings = [_finding_dict(x[0], x[2], x[3], x[4], x[5], x[6], x[7]) for x in self._finding_parts()]
        suggestions = ([s.to_dict() for s in self._suggestions] if w & 4
                       else [_suggestion_dict(*x) for x in self._suggestions])
        out = {self.id_field: self.id, self.period_field: self.period, "pack": self.pack.to_dict(),
               "as_of": self.as_of, "lines": lines, "findings": findings, "suggestions": suggestions,
               "input_line": self.input_line}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def to_json(self) -> str:
        text = self._json  # made where the result was evaluated (parallel runs)
        return text if text is not None else dumps(self.to_dict())

    def detached(self, text: str) -> "Result":
        """This result carrying its JSON text, made where it was evaluated, and no longer
        holding the input record (for results sent between processes)."""
        self._finding_parts()
        object.__setattr__(self, "_json", text)
        object.__setattr__(self, "record", None)
        return self

    def with_notes(self, notes: tuple) -> "Result":
        """A copy of this result with other notes."""
        values = [getattr(self, n) for n in Result.__slots__]
        values[Result.__slots__.index("notes")] = tuple(notes)
        values[Result.__slots__.index("_json")] = None
        return _restore_result(values)

    def __reduce__(self):
        self._finding_parts()  # pickle rendered findings, never the engine
        return (_restore_result, (tuple(getattr(self, n) for n in Result.__slots__),))

    def __eq__(self, other):
        if not isinstance(other, Result):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{x.line}:{x.verdict}" for x in self.lines)
        return f"Result({self.id_field}={self.id!r}, {self.period_field}={self.period!r}, lines=[{verdicts}])"


def _restore_result(values) -> Result:
    r = object.__new__(Result)
    for name, value in zip(Result.__slots__, values):
        object.__setattr__(r, name, value)
    return r


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
