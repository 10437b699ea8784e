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
``fast`` extra) is installed it takes a faster road to the same text: see
:func:`_orjson_text`. Decision logs hash this text and ``verify-log`` may run on a
machine without orjson, so the fast road gives exactly those bytes or is not taken.

Size: ``to_dict`` and the fast road ``_orjson_text`` mirror each other line for line and
must change together (the bytes every decision log hashes); one file keeps them side by side.
"""

from __future__ import annotations

import json
import math
from typing import NamedTuple

from attrs import field, frozen

try:
    import orjson as _orjson

    _orjson.Fragment  # noqa: B018 - the fast road needs it (orjson 3.9 and later)
except (ImportError, AttributeError):  # the `fast` extra is not installed (tests set this to None too)
    _orjson = None


CONTRACT = "urn:rulecite:results:v1"  # the `$id` of results.schema.json: every result and rejection names it


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
VERDICTS_KEPT = 4096


def _line_verdict(part: tuple) -> LineVerdict:
    """The ``LineVerdict`` of a part. Verdicts are immutable and most repeat from record to
    record (line 1, the same code, allowed), so equal ones share one object; only those
    whose line and code are str, int or None (so equal keys write the same JSON)."""
    if type(part[0]) not in _KEYABLE or type(part[1]) not in _KEYABLE:
        return LineVerdict(*part)
    v = _VERDICTS.get(part)
    if v is None:
        v = LineVerdict(*part)
        if len(_VERDICTS) >= VERDICTS_KEPT:
            _VERDICTS.clear()
        _VERDICTS[part] = v
    return v


_KEYABLE = frozenset((str, int, type(None)))
_LINE_JSON: dict = {}  # line part -> (orjson.Fragment of its JSON, line, code): see _orjson_text


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
            object.__setattr__(self, "_lines", tuple(map(_line_verdict, self._lines)))
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
        """``dumps(self.to_dict())``: the same text, faster with orjson (see :func:`_orjson_text`)."""
        text = self._json  # made where the result was evaluated (parallel runs)
        if text is not None:
            return text
        if _orjson is not None and type(self) is Result:
            try:
                return _orjson_text(self)
            except Exception:  # noqa: BLE001, S110 - anything unusual: the definition below decides
                pass
        return dumps(self.to_dict())

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


def result_from_wire(id_field, period_field, pack, as_of, wire: tuple) -> Result:
    """The result :meth:`Result.to_wire` sent, with the fields every result of its run
    shares (record fields, pack, clock) given by the receiver; it carries no record."""
    id_, period, input_line, notes, lines, findings, suggestions, text = wire
    r = Result.from_parts(id_field, period_field, id_, period, pack, as_of, lines, findings, suggestions,
                          input_line, notes)
    object.__setattr__(r, "_json", text)
    return r


def _restore_result(values) -> Result:
    r = object.__new__(Result)
    for name, value in zip(Result.__slots__, values):
        object.__setattr__(r, name, value)
    return r


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


def dumps(obj) -> str:
    """The one JSON encoding of results: compact, UTF-8, key order as built."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------------- the fast road to to_json
#
# json.dumps is most of what writing a result costs (about three times to_dict on
# Python 3.11); orjson does the same work about ten times faster. But orjson writes
# some values differently from json.dumps: floats (1e16 is "1e16" there, "1e+16" here;
# NaN and Infinity become null where json.dumps raises), enums (their value, where
# json.dumps refuses a plain Enum), and it refuses integers outside -2**63..2**64-1,
# strings holding halves of surrogate pairs, non-str dict keys and, with
# OPT_PASSTHROUGH_SUBCLASS, subclasses of str, int, dict and list. For exact str
# (every code point but the surrogates, escapes included), int within those bounds,
# bool, None, list, tuple and dict with str keys, both write the same bytes (the tests
# check every code point and the integer bounds).
#
# So _orjson_text builds the dict to_dict builds, with the same expressions (so that
# repeated keys, falsy parts and key order come out the same), while checking the type
# of every value that does not come from this module: a value of one of those kinds
# goes in as it is; a finite float goes in as an orjson.Fragment holding
# float.__repr__ of it, which is what json.dumps writes; anything else raises _Unsure,
# and orjson itself raises on the values it refuses. Result.to_json then falls back to
# dumps(self.to_dict()), which gives the text, or the exception, of the definition.
# Without orjson, to_json is that definition alone: the stdlib encoder, unchanged.

_PLAIN = frozenset((str, int, bool, type(None)))  # kinds orjson writes as json.dumps does
_SEQ = frozenset((tuple, list))
_OPTIONS = _orjson.OPT_PASSTHROUGH_SUBCLASS if _orjson is not None else 0


class _Unsure(Exception):
    """A value orjson might write differently from json.dumps."""


def _checked(v):
    """``v`` as orjson must be given it to write what json.dumps writes, or _Unsure."""
    t = type(v)
    if t in _PLAIN:
        return v
    if t is float:
        if math.isfinite(v):
            return _orjson.Fragment(float.__repr__(v))
        raise _Unsure  # json.dumps raises (allow_nan=False); orjson would write null
    if t is list or t is tuple:
        return [_checked(x) for x in v]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:  # json.dumps turns some other keys into text; orjson refuses them
                raise _Unsure
            out[k] = _checked(x)
        return out
    raise _Unsure


def _checked_list(seq):
    """``list(seq)`` checked as by :func:`_checked` (a tuple of rule ids is given as it is)."""
    t = type(seq)
    if t is not tuple and t is not list:
        raise _Unsure  # to_dict would take list() of any iterable
    for x in seq:
        if type(x) not in _PLAIN:
            return [_checked(y) for y in seq]
    return seq


_CITATIONS: dict = {}  # id(citations) -> (citations, copy of its dicts): citations seen to hold only text
_STR = frozenset((str,))
_TEXT = frozenset((str, type(None)))


def _checked_citations(citations):
    """A finding's citations as orjson must be given them to write what json.dumps
    writes for ``[dict(c) for c in citations]``.

    Citations are the pack's, shared by every finding of a rule, so the check is kept
    per tuple: a tuple whose dicts held only str keys and str or None values, and whose
    dicts still equal a copy taken then, is given to orjson as it is. Equal to text or
    None means text or None (the values of an int and a bool may be equal, but never
    those of a str and anything else), so a dict changed since cannot slip a float
    through; and orjson writes the dicts as they are now, in their order now."""
    entry = _CITATIONS.get(id(citations))
    if entry is not None and entry[0] is citations and entry[1] == citations:
        return citations
    if type(citations) not in _SEQ:
        raise _Unsure
    if type(citations) is tuple:
        for c in citations:
            if (type(c) is not dict or not _STR.issuperset(map(type, c))
                    or not _TEXT.issuperset(map(type, c.values()))):
                break
        else:
            if len(_CITATIONS) >= 1024:  # fresh tuples (catalog findings make theirs) must not pile up
                _CITATIONS.clear()
            _CITATIONS[id(citations)] = (citations, tuple(dict(c) for c in citations))
            return citations
    out = []
    for c in citations:
        if type(c) is not dict:
            raise _Unsure  # dict(c) of pairs or another mapping: leave it to to_dict
        out.append(_checked(c))
    return out


def _orjson_text(r: Result) -> str:
    """``dumps(r.to_dict())``, made with orjson; raises (_Unsure or orjson's own error)
    where it could differ. Mirrors ``to_dict`` and ``_line_dict``, ``_finding_dict``,
    ``_suggestion_dict`` line for line: change them together.

    It reads the parts as ``from_parts`` documents them, in tuples or lists, and gives
    up on any other container before reading it, so that ``to_dict`` never gets a
    half-read iterator after it gave up."""
    plain = _PLAIN
    ck = _checked
    w = r._wrapped
    if type(r._lines) not in _SEQ or type(r._suggestions) not in _SEQ:
        raise _Unsure
    # Objects of exactly the result classes only: a subclass may write itself otherwise.
    if ((w & 1 and any(type(x) is not LineVerdict for x in r._lines))
            or (w & 2 and any(type(x) is not Finding for x in r._findings))
            or (w & 4 and any(type(x) is not SuggestionOut for x in r._suggestions))):
        raise _Unsure

    lines = []
    fragments = _LINE_JSON
    for part in r._line_tuples():
        try:
            f = fragments.get(part) if type(part) is tuple else None  # a part made by the engine: its JSON, once
        except TypeError:  # a part holding a list: written the long way
            f = None
        if f is not None and type(part[0]) is type(f[1]) and type(part[1]) is type(f[2]):
            lines.append(f[0])
            continue
        line, code, verdict, rules, warnings = part
        if (f is None and type(line) in _KEYABLE and type(code) in _KEYABLE and type(verdict) is str
                and type(part) is tuple and type(rules) is tuple
                and type(warnings) is tuple and all(type(x) is str for x in rules)
                and all(type(x) is str for x in warnings)):
            d = {"line": line, "code": code, "verdict": verdict}
            if rules:
                d["rules"] = list(rules)
            if warnings:
                d["warnings"] = list(warnings)
            f = _orjson.Fragment(_orjson.dumps(d, option=_OPTIONS))  # raises where json.dumps may differ
            if len(fragments) >= VERDICTS_KEPT:
                fragments.clear()
            fragments[part] = (f, line, code)
            lines.append(f)
            continue
        d = {"line": line if type(line) in plain else ck(line),
             "code": code if type(code) in plain else ck(code),
             "verdict": verdict if type(verdict) in plain else ck(verdict)}
        if rules:
            d["rules"] = _checked_list(rules)
        if warnings:
            d["warnings"] = _checked_list(warnings)
        lines.append(d)

    parts = r._finding_tuples()
    if type(parts) not in _SEQ:
        raise _Unsure
    findings = []
    for rule, _, severity, line, message, citations, evidence, suggestion, _ in parts:
        if type(evidence) not in _SEQ:  # to_dict reads it twice (values, then paths)
            raise _Unsure
        values = {}
        paths = {}
        for e, v, p in evidence:  # keys: orjson refuses any but exact str
            values[e] = v if type(v) in plain else ck(v)
            if p is not None:
                paths[e] = p if type(p) in plain else ck(p)
        d = {"rule": rule if type(rule) in plain else ck(rule),
             "severity": severity if type(severity) in plain else ck(severity),
             "line": line if type(line) in plain else ck(line),
             "message": message if type(message) in plain else ck(message),
             "citations": _checked_citations(citations),
             "evidence": values,
             "evidence_paths": paths}
        if suggestion:
            d["suggestion"] = suggestion if type(suggestion) in plain else ck(suggestion)
        findings.append(d)

    suggestions = []
    for code, units, reason, source, line in r._suggestion_tuples():
        d = {"code": code if type(code) in plain else ck(code)}
        if units is not None:
            d["units"] = units if type(units) in plain else ck(units)
        d["reason"] = reason if type(reason) in plain else ck(reason)
        d["from"] = source if type(source) in plain else ck(source)
        if line is not None:
            d["line"] = line if type(line) in plain else ck(line)
        suggestions.append(d)

    pack = r.pack
    if type(pack) is not PackRef:
        raise _Unsure
    name, version, sha256 = pack.name, pack.version, pack.sha256
    id_, period, as_of, n = r.id, r.period, r.as_of, r.input_line
    out = {r.id_field: id_ if type(id_) in plain else ck(id_),
           r.period_field: period if type(period) in plain else ck(period),
           "pack": {"name": name if type(name) in plain else ck(name),
                    "version": version if type(version) in plain else ck(version),
                    "sha256": sha256 if type(sha256) in plain else ck(sha256)},
           "as_of": as_of if type(as_of) in plain else ck(as_of),
           "lines": lines, "findings": findings, "suggestions": suggestions,
           "input_line": n if type(n) in plain else ck(n)}
    if r.notes:
        out["notes"] = _checked_list(r.notes)
    out["contract"] = CONTRACT
    return _orjson.dumps(out, option=_OPTIONS).decode()
