"""The JSON text of results: ``dumps``, the one encoding of the Results contract, and
``orjson_text``, the fast road to the same bytes when orjson (the ``fast`` extra) is
installed. ``results.Result.to_json`` takes the fast road and falls back to
``dumps(result.to_dict())`` whenever the fast road gives up or raises.

Writers that write UTF-8 take ``json_line`` (``to_json() + "\\n"``) and ``json_bytes``:
the same road to the same text, as the bytes orjson makes (no decoding, no encoding
again), or None where ``to_json`` must decide."""

from __future__ import annotations

import json
import math

try:
    import orjson as ORJSON

    ORJSON.Fragment  # noqa: B018 - the fast road needs it (orjson 3.9 and later)
except (ImportError, AttributeError):  # the `fast` extra is not installed (tests set this to None too)
    ORJSON = None

CONTRACT = "urn:rulecite:results:v1"  # the `$id` of results.schema.json: every result and rejection names it
VERDICTS_KEPT = 4096  # distinct line verdicts (and their JSON) kept for reuse
KEYABLE = frozenset((str, int, type(None)))
_LINE_JSON: dict = {}  # line part -> (orjson.Fragment of its JSON, type of line, type of code): see _orjson


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
# So orjson_text builds the dict to_dict builds, with the same expressions (so that
# repeated keys, falsy parts and key order come out the same), while checking the type
# of every value that does not come from this module: a value of one of those kinds
# goes in as it is; a finite float goes in as an orjson.Fragment holding
# float.__repr__ of it, which is what json.dumps writes; anything else raises _Unsure,
# and orjson itself raises on the values it refuses. Result.to_json then falls back to
# dumps(self.to_dict()), which gives the text, or the exception, of the definition.
# Without orjson, to_json is that definition alone: the stdlib encoder, unchanged.

_PLAIN = frozenset((str, int, bool, type(None)))  # kinds orjson writes as json.dumps does
_SEQ = frozenset((tuple, list))
_OPTIONS = ORJSON.OPT_PASSTHROUGH_SUBCLASS if ORJSON is not None else 0
_LINE_OPTIONS = _OPTIONS | ORJSON.OPT_APPEND_NEWLINE if ORJSON is not None else 0


class _Unsure(Exception):
    """A value orjson might write differently from json.dumps."""


def _checked(v):
    """``v`` as orjson must be given it to write what json.dumps writes, or _Unsure."""
    t = type(v)
    if t in _PLAIN:
        return v
    if t is float:
        if math.isfinite(v):
            return ORJSON.Fragment(float.__repr__(v))
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


class CitationDict(dict):
    """A citation as the engine gives it in findings: a dict that cannot be changed.

    The engine's citations are made once per compiled rule and shared by every finding of
    that rule, so changing one in place would change every later result; ``dict(c)`` is
    a copy to change. Equal to the plain dict of its items, written as one, pickled and
    copied as one of its kind. Because they cannot change, a tuple of them holding only
    text is written from JSON made once (see ``_checked_citations``)."""

    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise TypeError("a finding's citation cannot be changed: the engine shares it with every finding of its "
                        "rule (dict(c) is a copy to change)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self):
        return (CitationDict, (dict(self),))

    def copy(self) -> dict:
        return dict(self)


_CITATIONS: dict = {}  # id(citations) -> (citations, copy of its dicts or None, what to give orjson)
_STR = frozenset((str,))
_TEXT = frozenset((str, type(None)))


def _checked_citations(citations):
    """A finding's citations as orjson must be given them to write what json.dumps
    writes for ``[dict(c) for c in citations]``.

    Citations are the pack's, shared by every finding of a rule, so the check is kept
    per tuple (``_CITATIONS``). A tuple of the engine's ``CitationDict``, which cannot
    change, holding only str keys and str or None values, is written from a Fragment
    of its JSON made once. A tuple of plain dicts holding only such text is given to
    orjson as it is while its dicts still equal a copy taken then. Equal to text or
    None means text or None (the values of an int and a bool may be equal, but never
    those of a str and anything else), so a dict changed since cannot slip a float
    through; and orjson writes the dicts as they are now, in their order now."""
    entry = _CITATIONS.get(id(citations))
    if entry is not None and entry[0] is citations and (entry[1] is None or entry[1] == citations):
        return entry[2]
    if type(citations) not in _SEQ:
        raise _Unsure
    if type(citations) is tuple:
        kinds = set(map(type, citations))
        entry = None
        for c in citations:
            if not _STR.issuperset(map(type, c)) or not _TEXT.issuperset(map(type, c.values())):
                break
        else:
            if kinds <= _FROZEN:  # written the same every time: its JSON, once
                entry = (citations, None,
                         ORJSON.Fragment(ORJSON.dumps([dict(c) for c in citations], option=_OPTIONS)))
            elif kinds <= _DICT:
                entry = (citations, tuple(dict(c) for c in citations), citations)
            if entry is not None:
                if len(_CITATIONS) >= 1024:  # tuples a caller makes fresh for each result must not pile up
                    _CITATIONS.clear()
                _CITATIONS[id(citations)] = entry
                return entry[2]
    out = []
    for c in citations:
        if type(c) is not dict and type(c) is not CitationDict:
            raise _Unsure  # dict(c) of pairs or another mapping: leave it to to_dict
        out.append(_checked(dict(c)))
    return out


_FROZEN = frozenset((CitationDict,))
_DICT = frozenset((dict,))


def orjson_text(r) -> str:
    """``dumps(r.to_dict())``, made with orjson; raises (_Unsure or orjson's own error)
    where it could differ. The caller has checked that every wrapped part is of exactly
    the result classes (``Result._exact_parts``). See :func:`_orjson`."""
    return _orjson(r, _OPTIONS).decode()


def orjson_line(r) -> bytes:
    """``orjson_text(r) + "\\n"`` as UTF-8 bytes, without making the text (what a JSON
    Lines writer writes); raises where ``orjson_text`` raises."""
    return _orjson(r, _LINE_OPTIONS)


def fast_road() -> bool:
    """Whether results can be written the fast road (orjson is installed)."""
    return ORJSON is not None


def json_line(item) -> bytes | None:
    """The UTF-8 bytes of ``item.to_json() + "\\n"`` when the fast road gives them, else
    None (then write ``to_json()`` as text: it decides, and raises what the definition
    raises). Takes the fast road exactly where ``Result.to_json`` takes it: a result of
    exactly ``results.Result`` whose text was not made elsewhere (a worker's), whose
    wrapped parts are exactly the result classes and whose pack is a ``PackRef``
    (``Result._exact_parts``, which is quick when nothing is wrapped), with orjson
    installed."""
    if (type(item) is _RESULT[0] and item._json is None and ORJSON is not None
            and (type(item._run[2]) is _RESULT[1] if not item._wrapped else item._exact_parts())):
        try:
            return _orjson(item, _LINE_OPTIONS)
        except Exception:  # noqa: BLE001 - anything unusual: to_json and the definition decide
            return None
    if _RESULT[0] is None:
        _result_classes()
        return json_line(item)
    return None


def json_bytes(item) -> bytes | None:
    """The UTF-8 bytes of ``item.to_json()``, or None, as :func:`json_line` gives them."""
    line = json_line(item)
    return line[:-1] if line is not None else None


_RESULT = [None, None]  # results.Result and results.PackRef (results imports this module): on first use


def _result_classes():
    from rulecite.interpreter.engine.results import PackRef, Result

    _RESULT[:] = (Result, PackRef)


_PACK_JSON = [None, None, None, None, None]  # the last pack written: PackRef, its three fields, their Fragment


def _pack_json(pack):
    """The pack block ``{"name":…,"version":…,"sha256":…}``: a Fragment made once per pack
    (a PackRef is frozen; the fields, exact str, are checked to be the same objects)."""
    last = _PACK_JSON
    name, version, sha256 = pack.name, pack.version, pack.sha256
    if last[0] is pack and last[1] is name and last[2] is version and last[3] is sha256:
        return last[4]
    if type(name) is not str or type(version) is not str or type(sha256) is not str:
        return {"name": _checked(name), "version": _checked(version), "sha256": _checked(sha256)}
    f = ORJSON.Fragment(ORJSON.dumps({"name": name, "version": version, "sha256": sha256}, option=_OPTIONS))
    last[:] = (pack, name, version, sha256, f)  # orjson raised above on text json.dumps may write otherwise
    return f


_EMPTY = ORJSON.Fragment(b"[]") if ORJSON is not None else None  # what to_dict's [] of no parts writes


def _orjson(r, option) -> bytes:
    """``dumps(r.to_dict())`` as UTF-8 bytes (``option`` may add the newline), made with
    orjson; raises (_Unsure or orjson's own error) where it could differ. Mirrors
    ``Result.to_dict`` and ``results``' line, finding and suggestion dicts line for line:
    change them together. Reads the result's slots (as ``to_dict`` reads them through
    its properties and part methods): a result is written for every record.

    It reads the parts as ``from_parts`` documents them, in tuples or lists, and gives
    up on any other container before reading it, so that ``to_dict`` never gets a
    half-read iterator after it gave up."""
    plain = _PLAIN
    ck = _checked
    w = r._wrapped
    line_parts = r._lines if not w & 1 else r._line_tuples()
    finding_parts = r._findings
    if w & 2 or type(finding_parts) not in _SEQ:  # wrapped, or not rendered yet
        finding_parts = r._finding_tuples()
    suggestion_parts = r._suggestions if not w & 4 else r._suggestion_tuples()
    if (type(line_parts) not in _SEQ or type(suggestion_parts) not in _SEQ
            or type(finding_parts) not in _SEQ):
        raise _Unsure

    if line_parts:
        lines = []
        fragments = _LINE_JSON
        for part in line_parts:
            try:
                f = fragments.get(part) if type(part) is tuple else None  # a part made by the engine: its JSON, once
            except TypeError:  # a part holding a list: written the long way
                f = None
            if f is not None and type(part[0]) is f[1] and type(part[1]) is f[2]:
                lines.append(f[0])
                continue
            line, code, verdict, rules, warnings = part
            if (f is None and type(line) in KEYABLE and type(code) in KEYABLE and type(verdict) is str
                    and type(part) is tuple and type(rules) is tuple
                    and type(warnings) is tuple and all(type(x) is str for x in rules)
                    and all(type(x) is str for x in warnings)):
                d = {"line": line, "code": code, "verdict": verdict}
                if rules:
                    d["rules"] = list(rules)
                if warnings:
                    d["warnings"] = list(warnings)
                f = ORJSON.Fragment(ORJSON.dumps(d, option=_OPTIONS))  # raises where json.dumps may differ
                if len(fragments) >= VERDICTS_KEPT:
                    fragments.clear()
                fragments[part] = (f, type(line), type(code))
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
    else:
        lines = _EMPTY

    if finding_parts:
        findings = []
        cited = _CITATIONS
        for rule, _, severity, line, message, citations, evidence, suggestion, _ in finding_parts:
            if type(evidence) not in _SEQ:  # to_dict reads it twice (values, then paths)
                raise _Unsure
            values = {}
            paths = {}
            for e, v, p in evidence:  # keys: orjson refuses any but exact str
                values[e] = v if type(v) in plain else ck(v)
                if p is not None:
                    paths[e] = p if type(p) in plain else ck(p)
            if not (type(rule) in plain and type(severity) in plain and type(line) in plain
                    and type(message) in plain):
                rule, severity, line, message = ck(rule), ck(severity), ck(line), ck(message)
            entry = cited.get(id(citations))  # _checked_citations' first test, inline
            if entry is not None and entry[0] is citations and (entry[1] is None or entry[1] == citations):
                citations = entry[2]
            else:
                citations = _checked_citations(citations)
            d = {"rule": rule, "severity": severity, "line": line, "message": message, "citations": citations,
                 "evidence": values, "evidence_paths": paths}
            if suggestion:
                d["suggestion"] = suggestion if type(suggestion) in plain else ck(suggestion)
            findings.append(d)
    else:
        findings = _EMPTY

    if suggestion_parts:
        suggestions = []
        for code, units, reason, source, line in suggestion_parts:
            d = {"code": code if type(code) in plain else ck(code)}
            if units is not None:
                d["units"] = units if type(units) in plain else ck(units)
            d["reason"] = reason if type(reason) in plain else ck(reason)
            d["from"] = source if type(source) in plain else ck(source)
            if line is not None:
                d["line"] = line if type(line) in plain else ck(line)
            suggestions.append(d)
    else:
        suggestions = _EMPTY

    id_field, period_field, pack, as_of = r._run
    id_, period, n = r._id, r._period, r._input_line
    if not (type(id_) in plain and type(period) in plain and type(as_of) in plain and type(n) in plain):
        id_, period, as_of, n = ck(id_), ck(period), ck(as_of), ck(n)
    last = _PACK_JSON
    if last[0] is pack and last[1] is pack.name and last[2] is pack.version and last[3] is pack.sha256:
        pack = last[4]  # _pack_json's first test, inline
    else:
        pack = _pack_json(pack)
    out = {id_field: id_, period_field: period, "pack": pack, "as_of": as_of,
           "lines": lines, "findings": findings, "suggestions": suggestions, "input_line": n}
    notes = r._notes
    if notes:
        out["notes"] = _checked_list(notes)
    out["contract"] = CONTRACT
    return ORJSON.dumps(out, option=option)
