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

``Result.to_json()`` is, by definition, ``dumps(result.to_dict())``. When orjson (the
``fast`` extra) is installed it takes a faster road to the same text:
``result_json.orjson_text``, which mirrors ``to_dict`` line for line (change them
together). Decision logs hash this text and ``verify-log`` may run on a machine without
orjson, so the fast road gives exactly those bytes or is not taken.
"""

from __future__ import annotations

from operator import attrgetter
from typing import NamedTuple

from attrs import frozen

from rulecite.interpreter.engine import result_json
from rulecite.interpreter.engine.result_json import CONTRACT, KEYABLE, VERDICTS_KEPT, CitationDict, dumps  # noqa: F401 (CitationDict: part of the results API)





@frozen
class PackRef:
    name: str
    version: str
    sha256: str

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@frozen
class LineVerdict:
    """The verdict on one line of a record: ``allow`` or ``deny``, with the ids of the
    rules that denied it (``rules``) and of the warn/info rules that fired (``warnings``).
    ``line`` and ``code`` are the line's id and code as the record gave them."""

    line: object
    code: object
    verdict: str  # allow | deny
    rules: tuple = ()  # ids of the deny rules
    warnings: tuple = ()  # ids of warn/info rules

    def to_dict(self) -> dict:
        return _line_dict(self.line, self.code, self.verdict, self.rules, self.warnings)


_VERDICTS: dict = {}  # (line, code, verdict, rules, warnings) -> the LineVerdict: they repeat across records


def _line_verdict(part: tuple) -> LineVerdict:
    """The ``LineVerdict`` of a part. Verdicts are immutable and most repeat from record to
    record (line 1, the same code, allowed), so equal ones share one object; only those
    whose line and code are str, int or None (so equal keys write the same JSON)."""
    if type(part[0]) not in KEYABLE or type(part[1]) not in KEYABLE:
        return LineVerdict(*part)
    v = _VERDICTS.get(part)
    if v is None:
        v = LineVerdict(*part)
        if len(_VERDICTS) >= VERDICTS_KEPT:
            _VERDICTS.clear()
        _VERDICTS[part] = v
    return v




def _line_dict(line, code, verdict, rules, warnings) -> dict:
    out = {"line": line, "code": code, "verdict": verdict}
    if rules:
        out["rules"] = list(rules)
    if warnings:
        out["warnings"] = list(warnings)
    return out


@frozen
class Evidence:
    """One value a rule read: the expression as written, its value, and where in the
    record it came from (a JSON path, or None for a computed value)."""

    expr: str
    value: object
    path: str | None


@frozen
class Finding:
    """What one rule said about a record or one of its lines: the rule id and version, its
    severity (deny, warn, info), the line it is about (None for the whole record), the
    message, the citations (dicts, in authority order: ``source``, ``title``, ``citation``,
    ``section``, ``page``, ``quote``, ``url``), the evidence it read, and the fix it
    suggests, if any."""

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


class PendingFindings(tuple):
    """Findings not rendered yet: ``(evaluator, requests, record, history)``, what the
    engine needs to render them on first read. A tuple (made in C, one per record that
    has findings), told apart from rendered findings by its type."""

    __slots__ = ()

    def render(self) -> tuple:
        evaluator, requests, record, history = self
        return evaluator.render_findings(requests, record, history)


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

    # Fields live in private slots behind read-only properties (so ``result.id = x``
    # raises): a result is made with plain slot stores, several times cheaper than
    # ``object.__setattr__`` per field, and evaluation makes one per record (the engine's
    # ``Evaluator.result`` stores the slots itself, as ``_init`` does). The fields every
    # result of a run shares (id and period field names, pack, clock) are one tuple,
    # ``_run``.
    __slots__ = ("_run", "_id", "_period", "_input_line", "_notes", "_record", "_lines", "_findings",
                 "_suggestions", "_json", "_wrapped")
    kind = "result"

    id_field = property(lambda self: self._run[0], doc="The name of the record's id field (the pack's ``[record] id``).")
    period_field = property(lambda self: self._run[1], doc="The name of the record's period field.")
    id = property(attrgetter("_id"), doc="The record's id (one patient in the CMS pack).")
    period = property(attrgetter("_period"), doc="The record's period (a month, ``YYYY-MM``).")
    pack = property(lambda self: self._run[2], doc="The pack that judged the record (:class:`PackRef`).")
    as_of = property(lambda self: self._run[3], doc="The publication clock (``YYYY-MM-DD``), or None for every source.")
    input_line = property(attrgetter("_input_line"), doc="The record's input line number (1-based).")
    notes = property(attrgetter("_notes"), doc="Notes on the result (a subject that comes back, items left out).")
    record = property(attrgetter("_record"), doc="The input record (None for a result read back from a worker).")

    def __init__(self, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions, input_line,
                 notes=(), record=None):
        """A result from its objects (lines, findings, suggestions as tuples of objects)."""
        self._init(id_field, period_field, id, period, pack, as_of, tuple(lines), tuple(findings),
                   tuple(suggestions), input_line, tuple(notes), record, 7)

    def _init(self, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions, input_line,
              notes, record, wrapped):
        self._run = (id_field, period_field, pack, as_of)
        self._id = id
        self._period = period
        self._input_line = input_line
        self._notes = notes
        self._record = record
        self._lines = lines
        self._findings = findings
        self._suggestions = suggestions
        self._json = None
        self._wrapped = wrapped  # bit mask of the parts wrapped into objects: lines 1, findings 2, suggestions 4

    @classmethod
    def from_parts(cls, id_field, period_field, id, period, pack, as_of, lines, findings, suggestions,
                   input_line, notes=(), record=None) -> "Result":
        """A result from parts: lines as (line, code, verdict, rules, warnings) tuples,
        findings as field tuples (evidence as (expr, value, path) triples) or a
        :class:`PendingFindings`, suggestions as field tuples."""
        r = _new(cls)
        r._init(id_field, period_field, id, period, pack, as_of, lines, findings, suggestions, input_line, notes,
                record, 0)
        return r

    def _finding_parts(self) -> tuple:
        f = self._findings
        if isinstance(f, PendingFindings):
            f = f.render()
            self._findings = f
        return f

    @property
    def lines(self) -> tuple:
        if not self._wrapped & 1:
            get = _VERDICTS.get  # _line_verdict's look-up, inline
            out = []
            for part in self._lines:
                v = get(part) if type(part[0]) in KEYABLE and type(part[1]) in KEYABLE else None
                out.append(v if v is not None else _line_verdict(part))
            self._lines = tuple(out)
            self._wrapped |= 1
        return self._lines

    @property
    def findings(self) -> tuple:
        if not self._wrapped & 2:
            parts = self._finding_parts()
            self._findings = tuple(Finding.from_part(x) for x in parts)
            self._wrapped |= 2
        return self._findings

    @property
    def suggestions(self) -> tuple:
        if not self._wrapped & 4:
            self._suggestions = tuple(SuggestionOut(*x) for x in self._suggestions)
            self._wrapped |= 4
        return self._suggestions

    # The parts (see ``from_parts``), whether or not they were read as objects.
    def _line_tuples(self):
        if self._wrapped & 1:
            return tuple((v.line, v.code, v.verdict, v.rules, v.warnings) for v in self._lines)
        return self._lines

    def _finding_tuples(self):
        if self._wrapped & 2:
            return tuple((f.rule, f.version, f.severity, f.line, f.message, f.citations,
                          tuple((e.expr, e.value, e.path) for e in f.evidence), f.suggestion, f.title)
                         for f in self._findings)
        return self._finding_parts()

    def _suggestion_tuples(self):
        if self._wrapped & 4:
            return tuple((s.code, s.units, s.reason, s.source, s.line) for s in self._suggestions)
        return self._suggestions

    @property
    def denied(self) -> bool:
        return any(x[2] == "deny" for x in self._line_tuples())

    def counts(self) -> tuple:
        """``(lines allowed, lines denied, ((rule, severity), ...))``: what a summary counts,
        read from the compact parts (cheaper than ``to_dict``; the same numbers)."""
        lines = self._line_tuples()
        denied = [x[2] for x in lines].count("deny")
        return len(lines) - denied, denied, tuple((x[0], x[2]) for x in self._finding_tuples())

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
        out["contract"] = CONTRACT
        return out

    def to_json(self) -> str:
        """``dumps(self.to_dict())``: the same text, faster with orjson (see ``result_json.orjson_text``)."""
        text = self._json  # made where the result was evaluated (parallel runs)
        if text is not None:
            return text
        if result_json.ORJSON is not None and type(self) is Result and self._exact_parts():
            try:
                return result_json.orjson_text(self)
            except Exception:  # noqa: BLE001, S110 - anything unusual: the definition below decides
                pass
        return dumps(self.to_dict())

    def _exact_parts(self) -> bool:
        """Whether every wrapped part is an object of exactly the result classes, and the
        pack a ``PackRef`` (a subclass may write itself otherwise): the fast road's
        precondition."""
        w = self._wrapped
        return not ((w & 1 and any(type(x) is not LineVerdict for x in self._lines))
                    or (w & 2 and any(type(x) is not Finding for x in self._findings))
                    or (w & 4 and any(type(x) is not SuggestionOut for x in self._suggestions))
                    or type(self.pack) is not PackRef)

    def to_wire(self) -> tuple:
        """This result as plain values, its JSON text made: what a worker process sends to
        the one that writes (a tuple pickles and unpickles several times faster than an
        object; :func:`result_from_wire` makes the result again). The input record stays
        behind."""
        return (self.id, self.period, self.input_line, self.notes, self._line_tuples(), self._finding_tuples(),
                self._suggestion_tuples(), self.to_json())

    def with_notes(self, notes: tuple) -> "Result":
        """A copy of this result with other notes."""
        values = [getattr(self, n) for n in Result.__slots__]
        values[Result.__slots__.index("_notes")] = tuple(notes)
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


def result_from_wire(id_field, period_field, pack, as_of, wire: tuple) -> Result:
    """The result :meth:`Result.to_wire` sent, with the fields every result of its run
    shares (record fields, pack, clock) given by the receiver; it carries no record."""
    id_, period, input_line, notes, lines, findings, suggestions, text = wire
    r = Result.from_parts(id_field, period_field, id_, period, pack, as_of, lines, findings, suggestions,
                          input_line, notes)
    r._json = text
    return r


def _restore_result(values) -> Result:
    r = _new(Result)
    for name, value in zip(Result.__slots__, values):  # plain slot stores (the properties have no setter)
        _SLOTS[name].__set__(r, value)
    return r


_new = object.__new__
_SLOTS = {name: Result.__dict__[name] for name in Result.__slots__}


class RecordError(NamedTuple):
    """One error of a rejected record: the JSON path of the offending value and why."""

    path: str
    reason: str


@frozen
class Rejection:
    """A record that could not be evaluated: where in the input, where in the record, why.

    ``path`` and ``reason`` are the first (most relevant) error; ``errors`` lists every
    error the record has (:class:`RecordError` pairs, the first being ``path`` and
    ``reason``, then the others sorted by path), at most ``validate.ERRORS_KEPT`` of them;
    ``other_errors`` counts all but the first, so ``errors_left_out`` says how many the
    list leaves out. ``pack`` is the pack that was to judge the record (set by the
    engine)."""

    input_line: int
    path: str
    reason: str
    other_errors: int = 0
    id: object = None
    period: object = None
    errors: tuple = ()
    pack: PackRef | None = None

    kind = "rejection"

    def __attrs_post_init__(self):
        if not self.errors:
            object.__setattr__(self, "errors", (RecordError(self.path, self.reason),))
        elif type(self.errors[0]) is not RecordError:
            object.__setattr__(self, "errors", tuple(RecordError(*e) for e in self.errors))

    @property
    def errors_left_out(self) -> int:
        """How many errors ``errors`` leaves out (it lists at most ``validate.ERRORS_KEPT``)."""
        return max(0, self.other_errors + 1 - len(self.errors))

    def with_pack(self, pack: "PackRef") -> "Rejection":
        """This rejection, naming ``pack``."""
        r = object.__new__(Rejection)
        for a in ("input_line", "path", "reason", "other_errors", "id", "period", "errors"):
            object.__setattr__(r, a, getattr(self, a))
        object.__setattr__(r, "pack", pack)
        return r

    def to_dict(self) -> dict:
        out = {"rejected": True, "input_line": self.input_line, "path": self.path, "reason": self.reason,
               "other_errors": self.other_errors}
        if self.id is not None:
            out["id"] = self.id
        if self.period is not None:
            out["period"] = self.period
        out["errors"] = [{"path": e.path, "reason": e.reason} for e in self.errors]
        left = self.errors_left_out
        if left:
            out["errors_left_out"] = left
        if self.pack is not None:
            out["pack"] = self.pack.to_dict()
        out["contract"] = CONTRACT
        return out

    def to_json(self) -> str:
        return dumps(self.to_dict())
