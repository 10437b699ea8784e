"""Evaluate records against a compiled pack: read, validate, group, decide, report.

Takes a ``CompiledPack`` and an iterable of records (dicts, or JSON text lines);
gives, lazily and in input order, one ``Result`` or ``Rejection`` per record.

Reading: a text line that is not JSON, holds duplicate keys, non-finite numbers, is
too large or nested too deep, or is not an object becomes a ``Rejection`` with its
input line number. Validation against the pack's facts schema comes next, then the
pack's coverage (a service date the pack does not cover is rejected, not guessed).

History: records of the same subject (the pack's ``[record] id``) that are next to
each other in the input form a group; each record sees the group's records of
earlier periods as ``history``. Input grouped by subject (e.g. sorted by id, then
month) keeps memory bounded by the largest group. A subject that shows up again
after other subjects starts a new group: its results carry a note saying that
history saw only that group.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
from array import array

import attrs

from rulecite.interpreter.codegen.compiler import CompiledPack, default_service_date, fmt_value
from rulecite.interpreter.codegen.schema import _text_ok, compile_scan
from rulecite.interpreter.engine.reading import OversizedLine
from rulecite.interpreter.codegen.runtime import EvaluationLimit
from rulecite.interpreter.engine.results import PendingFindings, PackRef, Rejection, Result
from rulecite.interpreter.engine.validate import RecordValidator, _huge_int, json_path


@attrs.frozen
class Limits:
    """Bounds on one input record; hitting one gives a rejection, never a crash."""

    max_record_bytes: int = 1_000_000
    max_depth: int = 32
    max_steps: int = 10_000_000  # evaluation steps for one record (runtime.DEFAULT_MAX_STEPS)
    max_lines: int = 1000  # lines (the pack's [record] lines) in one record
    max_group: int = 1000  # records (and rejections among them) one subject's group holds, for history


DEFAULT_LIMITS = Limits()

# Bounds on one finding, so that output stays linear in the input: an evidence value that
# is a list keeps its first EVIDENCE_ITEMS items (a note on the result says how many were
# left out), and a message keeps its first
# MESSAGE_CHARS characters.
EVIDENCE_ITEMS = 50
MESSAGE_CHARS = 2000


class _Duplicate(ValueError):
    pass


def _pairs(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise _Duplicate(f"duplicate key {k!r}")
            seen.add(k)
    return d


def _finite(text):
    v = float(text)
    if math.isinf(v):
        raise ValueError(f"number {text[:40]} is too large")
    return v


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=_finite, parse_constant=_no_constant)


def _depth_ok(text: str, limit: int) -> bool:
    if text.count("{") + text.count("[") <= limit:
        return True
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
            if depth > limit:
                return False
        elif ch in "}]":
            depth -= 1
    return True


def _value_depth_ok(value, limit: int, depth: int = 1) -> bool:
    if depth > limit:
        return False
    if isinstance(value, dict):
        return all(_value_depth_ok(v, limit, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_value_depth_ok(v, limit, depth + 1) for v in value)
    return True


def decode_line(raw, n: int, limits: Limits):
    """One input line -> a record dict, or a Rejection."""
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > limits.max_record_bytes:
            return Rejection(n, "$", f"record is {len(raw)} bytes; the limit is {limits.max_record_bytes}")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            return Rejection(n, "$", f"not UTF-8 text (byte {e.start}: {e.reason})")
    text = raw
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.rstrip("\r\n")
    if len(text) > limits.max_record_bytes:
        return Rejection(n, "$", f"record is {len(text)} characters; the limit is {limits.max_record_bytes}")
    if not text.strip():
        return Rejection(n, "$", "empty line: expected one JSON object per line")
    if not _depth_ok(text, limits.max_depth):
        return Rejection(n, "$", f"JSON nested deeper than {limits.max_depth} levels")
    try:
        value = _DECODER.decode(text)
    except _Duplicate as e:
        return Rejection(n, _duplicate_path(text), f"not valid for evaluation: {e} (a later value would silently "
                         "replace an earlier one)")
    except (ValueError, RecursionError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        return Rejection(n, "$", f"not JSON: {msg[:200]}")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        where = _unpaired_surrogate(value)
        if where is not None:
            return Rejection(n, where, "a \\u escape holds half a surrogate pair: not Unicode text")
    if not _text_ok(text):  # text given as str can hold a half pair itself, unescaped
        where = _unpaired_surrogate(value)
        if where is not None:
            return Rejection(n, where, _HALF_PAIR)
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_HALF_PAIR = "a string holds half a surrogate pair: not Unicode text"


def _surrogate_path(value):
    """Like ``_unpaired_surrogate`` for a record given as a dict, fast when it holds none:
    one C-level serialization, and the walk only when that fails for any reason."""
    try:
        _dumps_utf8(value)
        return None
    except (TypeError, ValueError, RecursionError, OverflowError):
        return _unpaired_surrogate(value)


def _unpaired_surrogate(value):
    """The JSON path of the first string (or key) holding an unpaired surrogate, or None."""
    stack = [(value, ())]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return json_path(p)
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                stack.append((x, p + (k,)))
                stack.append((k, p))
        elif isinstance(v, (list, tuple)):  # a caller's dict may hold tuples
            stack.extend((x, p + (i,)) for i, x in reversed(list(enumerate(v))))
    return None


class _Keys(dict):
    duplicate = None


def _duplicate_path(text: str) -> str:
    """The JSON path of the object that repeats a key (decoded again, only on this rare path)."""
    def hook(pairs):
        d = _Keys(pairs)
        if len(d) != len(pairs):
            d.duplicate = True
        return d

    try:
        value = json.JSONDecoder(object_pairs_hook=hook).decode(text)
    except (ValueError, RecursionError):
        return "$"
    stack = [(value, ())]
    while stack:
        v, p = stack.pop()
        if isinstance(v, _Keys) and v.duplicate:
            return json_path(p)
        if isinstance(v, dict):
            stack.extend((x, p + (k,)) for k, x in reversed(list(v.items())))
        elif isinstance(v, list):
            stack.extend((x, p + (i,)) for i, x in reversed(list(enumerate(v))))
    return "$"


class Evaluator:
    """Evaluates a stream of records with one compiled pack."""

    def __init__(self, cp: CompiledPack, limits: Limits = DEFAULT_LIMITS):
        self.cp = cp
        self.pack = cp.pack
        self.limits = limits
        self.validator = _validator(cp.pack)
        self.shape = cp.pack.shape
        self.packref = PackRef(cp.pack.name, cp.pack.version, cp.pack.lock)
        self.as_of = cp.as_of.isoformat() if cp.as_of else None
        cov = cp.pack.coverage
        self.cov_lo = cov.start.isoformat() if cov.start else "0000-00-00"
        self.cov_hi = cov.end.isoformat() if cov.end else "9999-99-99"
        self.uses_history = _uses_history(cp)
        self.scan = _scanner(cp.pack, limits.max_depth)
        infos = cp.infos
        self._rule_ids = [i.rule.id for i in infos]
        self._denies = [i.rule.severity == "deny" for i in infos]
        self._paths: dict = {}  # (rule index, line index) -> evidence paths
        self._omitted: list = []  # (rule id, line id, evidence expr, items left out) of the record being judged


    # ------------------------------------------------------------ one record
    def prepare(self, item, n: int):
        """Decode, bound, validate and cover-check one input item: a dict or a Rejection."""
        # Fast path: a record the compiled schema scan accepts (and, for text, that a fast
        # decoder read without dropping a repeated key) goes straight to the coverage check.
        # Anything else takes the full path below, which gives the verdict and the reason.
        # (The scan's yes also says that no string holds half a surrogate pair.)
        scan = self.scan
        if scan is not None:
            t = type(item)
            if t is dict:
                if scan(item) >= 0:
                    return self._coverage(item, n)
            elif (t is bytes or t is str) and len(item) <= self.limits.max_record_bytes:
                value = _fast_loads(item)
                if type(value) is dict and scan(value) == item.count(_COLON[t]):
                    return self._coverage(value, n)
        if type(item) is OversizedLine:
            return Rejection(n, "$", f"record is {item.size} bytes; the limit is {self.limits.max_record_bytes}")
        if isinstance(item, (str, bytes, bytearray)):
            item = decode_line(item, n, self.limits)
            if isinstance(item, Rejection):
                return item
        elif isinstance(item, dict):
            if not _value_depth_ok(item, self.limits.max_depth):
                return Rejection(n, "$", f"record nested deeper than {self.limits.max_depth} levels")
            where = _surrogate_path(item)  # a caller's dict, never read as UTF-8 text
            if where is not None:
                return Rejection(n, where, _HALF_PAIR)
        if not isinstance(item, dict):
            return Rejection(n, "$", f"expected a JSON object, got {_json_type(item)}")
        problem = self.validator.check(item)
        if problem is not None:
            return Rejection(n, problem.path, problem.reason, problem.others, *self._ids(item))
        return self._coverage(item, n)

    def _ids(self, rec):
        rid = rec.get(self.shape.id)
        per = rec.get(self.shape.period)
        if type(rid) is int and _huge_int(rid) is not None:
            rid = None  # too long to write into the rejection
        return (rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None,
                per if isinstance(per, str) else None)

    def _coverage(self, rec, n):
        shape = self.shape
        lo, hi = self.cov_lo, self.cov_hi
        period = rec.get(shape.period)
        if not isinstance(period, str) or len(period) < 7:
            return Rejection(n, f"$.{shape.period}", "missing period (YYYY-MM)", 0, *self._ids(rec))
        month = period[:7]
        if month + "-01" > hi or month + "-31" < lo:
            return Rejection(n, f"$.{shape.period}",
                             f"{period} is outside the service dates this pack covers ({self.pack.coverage}); "
                             "the pack cannot judge it", 0, *self._ids(rec))
        lines = rec.get(shape.lines)
        if not isinstance(lines, list):
            return rec
        if len(lines) > self.limits.max_lines:
            return Rejection(n, f"$.{shape.lines}", f"record has {len(lines)} lines at $.{shape.lines}; the limit "
                             f"is {self.limits.max_lines}", 0, *self._ids(rec))
        key = shape.line_date
        for ln in lines:
            d = ln.get(key) if isinstance(ln, dict) else None
            if isinstance(d, str) and not (lo <= d <= hi):
                return self._outside(rec, n)
        return rec

    def _outside(self, rec, n):
        """The rejection for the first line whose service date the pack does not cover."""
        shape = self.shape
        for i, ln in enumerate(rec[shape.lines]):
            d = ln.get(shape.line_date) if isinstance(ln, dict) else None
            if isinstance(d, str) and not (self.cov_lo <= d <= self.cov_hi):
                return Rejection(n, f"$.{shape.lines}[{i}].{shape.line_date}",
                                 f"service date {d} is outside the dates this pack covers ({self.pack.coverage})",
                                 0, *self._ids(rec))
        return rec

    def result(self, rec: dict, hist: list, n: int, notes=()) -> Result:
        cp = self.cp
        shape = self.shape
        rfired, outs, sugs = cp.decide(rec, hist, self.limits.max_steps)
        lines = rec.get(shape.lines) or ()
        findings = []
        record_deny = []
        record_warn = []
        if rfired:
            d0 = default_service_date(shape, rec)
            for k in rfired:
                findings.append((k, None, d0, None))
                (record_deny if self._denies[k] else record_warn).append(self._rule_ids[k])
        verdicts = []
        suggestions = []
        line_id, line_code = shape.line_id, shape.line_code
        rule_ids, denies = self._rule_ids, self._denies
        i = -1
        for ln, (fired, state, sd) in zip(lines, outs):
            i += 1
            lid = ln.get(line_id)
            code = ln.get(line_code)
            if state == 1 and not fired and not record_deny:
                verdicts.append((lid, code, "allow", (), ()))
                continue
            deny = list(record_deny)
            warn = []
            for k in fired:
                findings.append((k, ln, sd, i))
                (deny if denies[k] else warn).append(rule_ids[k])
            if state == 2:
                f, sug = self._window_finding(code, lid, sd, ln, i)
                findings.append((None, f))
                suggestions.extend(sug)
                deny.append("catalog.window")
            elif state == 0 and self.pack.unknown_codes != "ignore":
                findings.append((None, self._unknown_finding(code, lid, i)))
                (deny if self.pack.unknown_codes == "deny" else warn).append("catalog.unknown-code")
            if len(deny) > 1:
                deny = sorted(set(deny))
            if len(warn) > 1:
                warn = sorted(set(warn))
            verdicts.append((lid, code, "deny" if deny else "allow", tuple(deny), tuple(warn)))
        for k, ln, (units, reason) in sugs:
            s = cp.sugg_infos[k].suggestion
            suggestions.append((s.code, _plain_number(units), reason, s.id,
                                ln.get(shape.line_id) if ln is not None else None))
        # Findings (messages, evidence) are rendered when first read: a caller that only
        # needs verdicts does not pay for them. They read the record, which the result keeps.
        render = PendingFindings(self, findings, rec, hist) if findings else ()
        return Result.from_parts(shape.id, shape.period, rec.get(shape.id), rec[shape.period], self.packref,
                                 self.as_of, tuple(verdicts), render, tuple(suggestions), n, tuple(notes),
                                 rec)

    def render_findings(self, requests, rec, hist) -> tuple:
        """Finding parts for the requests ``result`` queued: (rule index, line, service date,
        line index) to render, or (None, part) already made."""
        out = []
        state = self.cp.state(self.limits.max_steps)  # one budget for the record's findings
        for req in requests:
            if req[0] is None:
                out.append(req[1])
            else:
                k, ln, sd, i = req
                out.append(self._finding(k, rec, hist, ln, sd, i, state))
        return tuple(out)

    def _finding(self, k, rec, hist, ln, sd, i, state=None) -> tuple:
        """A finding as a part (see ``Result.from_parts``)."""
        info = self.cp.infos[k]
        r = info.rule
        try:
            message, values, fix = self.cp.find_fns[k](rec, hist, ln, sd, state)
        except Exception as e:  # noqa: BLE001 - evidence must never lose the verdict
            message, values, fix = e, (None,) * len(info.evidence_paths), None
        if isinstance(message, Exception):
            message = f"{r.title} (message could not be rendered: {message.__class__.__name__})"
        paths = self._paths.get((k, i))
        if paths is None:
            paths = tuple((text, path.replace("{i}", str(i)) if path and i is not None else path)
                          for text, path in info.evidence_paths)
            self._paths[(k, i)] = paths
        line_id = ln.get(self.shape.line_id) if ln is not None else None
        evidence = []
        for (text, path), v in zip(paths, values):
            v = _jsonable(v)
            if type(v) is list and len(v) > EVIDENCE_ITEMS:  # bounded: see EVIDENCE_ITEMS
                self._omitted.append((r.id, line_id, text, len(v) - EVIDENCE_ITEMS))
                v = v[:EVIDENCE_ITEMS]
            evidence.append((text, v, path))
        evidence = tuple(evidence)
        if type(message) is str and len(message) > MESSAGE_CHARS:
            message = f"{message[:MESSAGE_CHARS]}... ({len(message) - MESSAGE_CHARS:,} characters left out)"
        return (r.id, r.version, r.severity, line_id, message, info.citations, evidence, fix, r.title)

    def _window_finding(self, code, lid, sd, ln, i):
        c = self.cp.codes[code]
        w = c.window
        if w.start is not None and sd < w.start.isoformat():
            why = f"{code} is valid for services from {w.start.isoformat()}; this line's service date is {sd}"
        else:
            why = f"{code} ended {w.end.isoformat()}; this line's service date is {sd}"
        if c.replaced_by:
            why += "; bill " + ", ".join(c.replaced_by) + " instead"
        path = f"$.{self.shape.lines}[{i}].{self.shape.line_code}"
        ev = ((f"{self.shape.lines}[{i}].{self.shape.line_code}", code, path), ("service_date", sd, None))
        finding = ("catalog.window", 1, "deny", lid, why, tuple(ct.to_dict() for ct in c.citations), ev,
                   None, f"{code} is billed outside its effective window")
        sugs = [(r, None, f"{code} is not valid on {sd}; {r} replaces it", "catalog.window", lid)
                for r in c.replaced_by]
        return finding, sugs

    def _unknown_finding(self, code, lid, i) -> tuple:
        path = f"$.{self.shape.lines}[{i}].{self.shape.line_code}"
        sev = "deny" if self.pack.unknown_codes == "deny" else "warn"
        return ("catalog.unknown-code", 1, sev, lid,
                f"code {fmt_value(code)} is not in this pack's code catalog; no rule could judge it", (),
                ((f"{self.shape.lines}[{i}].{self.shape.line_code}", code, path),), None,
                "Code not in the catalog")

    # ------------------------------------------------------------ the stream
    def run(self, records, start: int = 1, track_subjects: bool = True, resume=None):
        """Results and rejections for ``records`` in input order; ``start`` is the input
        line number of the first record (a chunk of a larger input starts later). With
        ``track_subjects`` off (chunks of a parallel run), no result gets a note about a
        subject coming back: the process that merges the chunks adds those."""
        if not self.uses_history:
            return self._run_each(records, start, track_subjects)
        return self._run_groups(records, start, track_subjects, resume)

    def _run_each(self, records, start: int, track_subjects: bool):
        """``run`` for a pack no rule of which reads history: each record is judged as soon
        as it is read (the same results, in the same order, as ``_run_groups``; the note
        on a subject that comes back depends only on the groups before its own)."""
        shape_id = self.shape.id
        seen = SubjectTracker(self.shape) if track_subjects else None
        prepare, judge = self.prepare, self.judge
        gid = _NOGROUP
        notes = ()
        n = start - 1
        for item in records:
            n += 1
            rec = prepare(item, n)
            if isinstance(rec, Rejection):
                yield rec
                continue
            pid = rec.get(shape_id)
            if pid != gid:
                gid = pid
                if seen is not None:
                    note = seen.note(pid)
                    notes = () if note is None else (note,)
            yield judge(rec, [], n, notes)
        self.checkpoint = (n + 1, None, False)  # each record stands alone: any line is a restart point

    def _run_groups(self, records, start: int, track_subjects: bool, resume=None):
        """``run`` for a pack that reads history: a subject's group is judged when it ends.

        Memory is bounded: a rejection is given at once when no group is pending (one
        that comes while a group is pending waits for it, to keep input order), and a
        group holds at most ``limits.max_group`` entries (records and the rejections
        among them). A full group is judged as it stands; the subject's next records
        in a row form a new group whose results carry a note saying that history saw
        only that group, from its first input line on.

        ``self.checkpoint`` is kept as ``(line, gid, cut)``: the next input line at which
        no group was pending, and the state there (``resume`` for a run that starts at
        that line: the subject whose group was cut there, or None). The parallel merger
        restarts from it, so that it never holds more than a group and a chunk."""
        shape = self.shape
        cap = max(1, self.limits.max_group)
        group: list = []  # (n, record or Rejection)
        gid, cut = (_NOGROUP, False) if resume is None else resume
        notes: tuple = ()  # the tracker's note on the current subject's groups
        seen = SubjectTracker(shape) if track_subjects else None
        n = start - 1
        self.checkpoint = (start, None if gid is _NOGROUP else gid, cut)
        for item in records:
            n += 1
            prepared = self.prepare(item, n)
            if isinstance(prepared, Rejection):
                if group:
                    group.append((n, prepared))
                    if len(group) >= cap:
                        yield from self._flush(group, group_notes)
                        group = []
                        cut = True
                        self.checkpoint = (n + 1, gid, cut)
                else:
                    self.checkpoint = (n + 1, None if gid is _NOGROUP else gid, cut)
                    yield prepared
                continue
            pid = prepared.get(shape.id)
            if pid != gid or not group:  # a group is named by its first record's id (1 and 1.0 are one group)
                if group:
                    yield from self._flush(group, group_notes)
                    group = []
                self.checkpoint = (n, None if gid is _NOGROUP else gid, cut)
                if pid != gid or not cut:
                    gid, cut = pid, False
                    note = seen.note(pid) if seen is not None else None
                    notes = () if note is None else (note,)
                    group_notes = notes
                else:  # the subject's group was cut at the cap: this one goes on from here
                    group_notes = notes + (cut_note(shape, pid, cap, n),)
            group.append((n, prepared))
            if len(group) >= cap:
                yield from self._flush(group, group_notes)
                group = []
                cut = True
                self.checkpoint = (n + 1, gid, cut)
        if group:  # the input ended, not the group: the checkpoint stays where the group began
            yield from self._flush(group, group_notes)

    def _flush(self, group, notes):
        valid = [rec for _, rec in group if not isinstance(rec, Rejection)]
        period = self.shape.period
        # Sorted once per group (stable: input order within a period), so that building
        # each record's history costs a slice, not a sort: linear-ish in the group's size.
        ordered = sorted(valid, key=lambda r: r[period]) if len(valid) > 1 and self.uses_history else []
        periods = [r[period] for r in ordered]
        for n, rec in group:
            if isinstance(rec, Rejection):
                yield rec
                continue
            hist = ordered[:bisect.bisect_left(periods, rec[period])] if ordered else []
            yield self.judge(rec, hist, n, notes)

    def judge(self, rec: dict, hist: list, n: int, notes=()):
        """``result``, or a Rejection when the record cannot be evaluated: a number too
        large for arithmetic, or a value of another type than the rules expect (possible
        only where the facts schema leaves a field untyped). Never an exception."""
        try:
            self._omitted = []
            r = self.result(rec, hist, n, notes)
            # Findings are rendered here, not when first read: a value the JSON contract
            # cannot hold (infinity or NaN, from arithmetic that overflowed) must make this
            # record a rejection before its result is given, never fail the writer later.
            bad = _non_finite(r._finding_parts(), r._suggestions)
            if bad is not None:
                path, what = bad
                return Rejection(n, path, f"cannot evaluate this record: {what} is not a finite number (the "
                                 "arithmetic overflowed)", 0, *self._ids(rec))
            if self._omitted:
                r = r.with_notes(tuple(r.notes) + (_omitted_note(self._omitted),))
            return r
        except EvaluationLimit as e:  # names the rule that went past the step budget or number bound
            return Rejection(n, "$", self.cp.limit_reason(e, self.limits.max_steps), 0, *self._ids(rec))
        except RecursionError:
            return Rejection(n, "$", "record too deeply nested to evaluate", 0, *self._ids(rec))
        except (ArithmeticError, TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
            detail = str(e).splitlines()[0][:200] if str(e) else ""
            return Rejection(n, "$", f"cannot evaluate this record ({e.__class__.__name__}: {detail}): a value "
                             "is too large or not of the type the rules expect", 0, *self._ids(rec))


_NOGROUP = object()


def subject_key(gid) -> int:
    """A stable 64-bit key for a subject id (never 0): what the engine remembers of each
    group. Ids that compare equal as numbers (``1``, ``1.0``, ``True``) share a key, as
    they share a group; ``repr`` keeps the rest apart (``"1"`` and ``1``)."""
    t = type(gid)
    if t is bool or (t is float and gid.is_integer()):
        gid = int(gid)
    return int.from_bytes(hashlib.blake2b(repr(gid).encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little") or 1


class KeySet:
    """A set of non-zero 64-bit keys in one open-addressing table of 8-byte slots, at most
    three quarters full and grown by half: about 12 bytes a key (a Python set of the same
    keys takes about 60)."""

    __slots__ = ("table", "size", "n", "limit")

    def __init__(self):
        self.size = 1024
        self.table = array("Q", bytes(8 * self.size))
        self.n = 0
        self.limit = self.size * 3 // 4

    def add(self, key: int) -> bool:
        """Add ``key``; True if it was there already."""
        table, size = self.table, self.size
        i = key % size
        while True:
            k = table[i]
            if k == key:
                return True
            if not k:
                break
            i += 1
            if i == size:
                i = 0
        table[i] = key
        self.n += 1
        if self.n > self.limit:
            self._grow()
        return False

    def __len__(self) -> int:
        return self.n

    def _grow(self):
        old = self.table
        self.size = size = len(old) * 3 // 2
        self.limit = size * 3 // 4
        self.table = table = array("Q", bytes(8 * size))
        for key in old:
            if key:
                i = key % size
                while table[i]:
                    i += 1
                    if i == size:
                        i = 0
                table[i] = key


class SubjectTracker:
    """Notes a subject whose group comes back after other subjects' groups.

    It keeps a 64-bit digest per subject it has seen (``subject_key``, in a ``KeySet``:
    about 12 bytes each), so memory grows with the number of distinct subjects, not with
    the number of records (a subject's months are one group). Two ids sharing a digest
    would give a wrong note; the odds are about n^2 / 2^65 for n subjects (1 in 37
    million at a million subjects)."""

    def __init__(self, shape):
        self.shape = shape
        self.seen = KeySet()

    def note(self, gid):
        if self.seen.add(subject_key(gid)):
            return repeat_note(self.shape, gid)
        return None


def cut_note(shape, gid, cap: int, first_line: int) -> str:
    """The note on the results of a subject's group that goes on after a full one."""
    return (f"{shape.id} {gid} has more records in a row than one group holds (the limit is {cap}): history "
            f"sees only this group's, from input line {first_line} on")


def repeat_note(shape, gid) -> str:
    """The note on the results of a group whose subject already had an earlier group."""
    return (f"{shape.id} {gid} also appears earlier in the input, apart from this group: "
            "history sees only this group (sort the input by id, then period)")


def _uses_history(cp) -> bool:
    """Whether any expression the compiled pack runs reads ``history``."""
    from rulecite.policy_lang.syntax import nodes as ast
    from rulecite.policy_lang.model import Ref

    roots = [d.expr for d in cp.pack.derived]
    for r in cp.rules:
        roots += [r.where, r.condition, r.message, r.suggest] + [lt.expr for lt in r.lets]
    for sg in cp.suggestions:
        roots += [sg.where, sg.when, sg.units, sg.reason]
    return any(isinstance(x, Ref) and x.kind == "special" and x.name == "history"
               for root in roots if root is not None for x in ast.walk(root))


def _json_type(v) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(v), type(v).__name__)


def _jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    return v  # a float that is not finite makes the record a rejection (see judge)


def _finite(v) -> bool:
    t = type(v)
    if t is float:
        return math.isfinite(v)
    if t is list or t is tuple:
        return all(map(_finite, v))
    if t is dict:
        return all(map(_finite, v.values()))
    return True


def _non_finite(findings, suggestions):
    """(JSON path, what) of the first value in rendered findings or suggestions that is a
    float but not finite; None when there is none."""
    for f in findings:
        rule, message, evidence = f[0], f[4], f[6]
        for expr, v, path in evidence:
            if not _finite(v):
                return path or "$", f"the evidence {expr} of rule {rule}"
        if not _finite(message):
            return "$", f"the message of rule {rule}"
    for s in suggestions:
        if not _finite(s[1]):
            return "$", f"the units of suggestion {s[3]}"
    return None


def _omitted_note(omitted: list) -> str:
    rule, line, expr, more = omitted[0]
    where = f" on line {line}" if line is not None else ""
    others = f"; and in {len(omitted) - 1:,} more evidence values" if len(omitted) > 1 else ""
    return (f"evidence lists are cut to their first {EVIDENCE_ITEMS} values: rule {rule}{where}, {expr}: "
            f"{more:,} more values left out{others}")


def _plain_number(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


_VALIDATORS: dict = {}
_SCANNERS: dict = {}


def _scanner(pack, max_depth: int):
    """The compiled schema scan for a pack and depth limit (see ``fastcheck``), or None."""
    key = (pack.lock, max_depth)
    if key not in _SCANNERS:
        _SCANNERS[key] = compile_scan(pack.schema, max_depth)
    return _SCANNERS[key]


def _fast_loads_stdlib(raw):
    # Without orjson: the standard decoder, minus the per-object hook (repeated keys are
    # caught by the key count); text with \u escapes (or a half pair of its own, given as
    # str) takes the full path, which checks for halves of surrogate pairs.
    try:
        text = raw.decode("utf-8") if type(raw) is bytes else raw
        if "\\u" in text or not _text_ok(text):
            return None
        return _PLAIN_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None


_PLAIN_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)
_COLON = {str: ":", bytes: b":"}

try:
    import orjson as _orjson

    def _fast_loads(raw):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            return None

    _dumps_utf8 = _orjson.dumps  # raises on half a surrogate pair
except ImportError:  # the `fast` extra is not installed
    _fast_loads = _fast_loads_stdlib

    def _dumps_utf8(value):
        return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _validator(pack) -> RecordValidator:
    v = _VALIDATORS.get(pack.lock)
    if v is None:
        v = RecordValidator(pack.schema)
        _VALIDATORS[pack.lock] = v
    return v
