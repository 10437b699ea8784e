"""Evaluate records against a compiled pack: read, validate, group, decide, report.

Takes a ``CompiledPack`` and an iterable of records (dicts, or JSON text lines);
gives, lazily and in input order, one ``Result`` or ``Rejection`` per record.

Reading (``decode``): a text line that is not JSON, holds duplicate keys, non-finite
numbers, is too large or nested too deep, or is not an object becomes a ``Rejection``
with its input line number. Validation against the pack's facts schema (``validate``)
comes next, then the pack's coverage (a service date the pack does not cover is
rejected, not guessed). Grouping by subject, which gives each record its ``history``,
is ``subjects``; deciding and reporting are here.
"""

from __future__ import annotations

from rulecite.interpreter.codegen.compiler import (
    CompiledPack,
    default_service_date,
    fmt_value,
)
from rulecite.interpreter.codegen.runtime import EvaluationLimit
from rulecite.interpreter.codegen.schema import compile_scan
from rulecite.interpreter.engine.decode import (
    DEFAULT_LIMITS,
    Limits,
    decode_record,
    dumps_utf8,
    fast_loads,
    huge_int,
    value_depth_ok,
)
from rulecite.interpreter.engine.fastvalidate import compile_fast
from rulecite.interpreter.engine.results import (
    CitationDict,
    PackRef,
    PendingFindings,
    Rejection,
    Result,
)
from rulecite.interpreter.engine.rulefacts import (
    EVIDENCE_ITEMS,
    LISTS,
    MESSAGE_CHARS,
    info_paths,
    non_finite,
    omitted_note,
    pack_facts,
    plain_number,
)
from rulecite.interpreter.engine.subjects import run_each, run_groups
from rulecite.interpreter.engine.validate import RecordValidator

__all__ = ["DEFAULT_LIMITS", "EVIDENCE_ITEMS", "MESSAGE_CHARS", "Evaluator", "Limits"]

COMBOS_KEPT = 4096  # distinct sets of rules fired on one line whose verdicts are kept


class Evaluator:
    """Evaluates a stream of records with one compiled pack."""

    def __init__(self, cp: CompiledPack, limits: Limits = DEFAULT_LIMITS, trusted: bool = False):
        self.cp = cp
        self.trusted = trusted
        self.pack = cp.pack
        self.limits = limits
        self.validator = _validator(cp.pack)
        self.shape = cp.pack.shape
        self.packref = PackRef(cp.pack.name, cp.pack.version, cp.pack.lock)
        self.as_of = cp.as_of.isoformat() if cp.as_of else None
        cov = cp.pack.coverage
        self.cov_lo = cov.start.isoformat() if cov.start else "0000-00-00"
        self.cov_hi = cov.end.isoformat() if cov.end else "9999-99-99"
        self.uses_history, plain = pack_facts(cp)
        self.scan = _scanner(cp.pack, limits.max_depth)
        self.fast = _fast(cp.pack, limits.max_depth, True)  # jsonschema_rs when installed (see fastvalidate)
        self.fast_decoded = _fast(cp.pack, limits.max_depth, False)  # for what fast_loads decoded
        # What ``run_each`` asks of a dict before it goes straight to the coverage check (the
        # rest takes ``prepare``): True in trusted mode (every dict), the compiled accept path
        # otherwise (None without one).
        self.accept_dict = True if trusted else self.fast
        if trusted:
            self.prepare = self._prepare_trusted
        infos = cp.infos
        # Per rule index: its id, whether it denies, and whether its findings are rendered at
        # once (see ``judge``): those whose evidence may be a list or a number that is not
        # finite; the others' when first read.
        self._meta = [(i.rule.id, i.rule.severity == "deny", not plain[k]) for k, i in enumerate(infos)]
        # Per rule index, what rendering a finding reads: the generated function, the rule's
        # fields, its evidence texts and paths, and whether a path names the line's index.
        self._finders = [(cp.find_fns[k], i.rule.id, i.rule.version, i.rule.severity, i.rule.title, i,
                          tuple(text for text, _ in i.evidence_paths), info_paths(i),
                          any(p and "{i}" in p for _, p in i.evidence_paths)) for k, i in enumerate(infos)]
        self._decide = cp.decide
        self._max_steps = limits.max_steps
        self._max_lines = limits.max_lines
        shape = self.shape
        self._lines_key, self._line_id, self._line_code = shape.lines, shape.line_id, shape.line_code
        self._id_key, self._period_key = shape.id, shape.period
        self._unknown = cp.pack.unknown_codes
        self._run = (shape.id, shape.period, self.packref, self.as_of)  # what every result shares (Result._run)
        self._paths: dict = {}  # (rule index, line index) -> evidence paths
        self._omitted: list = []  # (rule id, line id, evidence expr, items left out) of the record being judged
        self._months: dict = {}  # period text -> whether the pack covers it (see ``cover``)
        self._combos: dict = {}  # rules fired on a line -> its verdict's parts (see ``_combo``)
        self._windows: dict = {}  # code -> what its catalog-window findings share (see _window_finding)


    # ------------------------------------------------------------ one record
    def prepare(self, item, n: int):
        """Decode, bound, validate and cover-check one input item: a dict or a Rejection."""
        # Fast path: a record the compiled schema scan accepts (and, for text, that a fast
        # decoder read without dropping a repeated key) goes straight to the coverage check.
        # Anything else takes the full path below, which gives the verdict and the reason.
        # (The scan's yes also says that no string holds half a surrogate pair.)
        fast = self.fast
        if fast is not None:
            t = type(item)
            if t is dict:
                if fast(item):
                    return self.cover(item, n)
            elif (t is bytes or t is str) and len(item) <= self.limits.max_record_bytes:
                value = fast_loads(item)
                if type(value) is dict and self.fast_decoded(value) and _all_keys(item, value):
                    return self.cover(value, n)
            return self._prepare_full(item, n)
        scan = self.scan
        if scan is not None:
            t = type(item)
            if t is dict:
                if scan(item) >= 0:
                    return self.cover(item, n)
            elif (t is bytes or t is str) and len(item) <= self.limits.max_record_bytes:
                value = fast_loads(item)
                if type(value) is dict and scan(value) == item.count(_COLON[t]):
                    return self.cover(value, n)
        return self._prepare_full(item, n)

    def _prepare_full(self, item, n: int):
        """The full reading of one item: the record, or the Rejection that says why not."""
        item = decode_record(item, n, self.limits)  # the full reading: the record, or why there is none
        if type(item) is Rejection:
            return item
        problem = self.validator.check(item)
        if problem is not None:
            return Rejection(n, problem.path, problem.reason, problem.others, *self._ids(item), problem.errors)
        return self.cover(item, n)

    def _prepare_trusted(self, item, n: int):
        """``prepare`` in trusted mode: no schema validation. A dict goes straight to the
        coverage check; text is decoded as ever (not JSON, a repeated key, too large or too
        deep is still a rejection)."""
        t = type(item)
        if t is dict:
            return self.cover(item, n)
        if (t is bytes or t is str) and len(item) <= self.limits.max_record_bytes:
            value = fast_loads(item)
            if type(value) is dict and _all_keys(item, value) and value_depth_ok(value, self.limits.max_depth):
                return self.cover(value, n)
        item = decode_record(item, n, self.limits)
        if type(item) is Rejection:
            return item
        return self.cover(item, n)

    def _ids(self, rec):
        rid = rec.get(self.shape.id)
        per = rec.get(self.shape.period)
        if type(rid) is int and huge_int(rid) is not None:
            rid = None  # too long to write into the rejection
        return (rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None,
                per if isinstance(per, str) else None)

    def cover(self, rec, n):
        """The coverage check of a valid record: the record, or the Rejection of a period the
        pack does not cover or of too many lines."""
        period = rec.get(self._period_key)
        covered = self._months.get(period) if type(period) is str else None  # each period is judged once
        if covered is None:
            shape = self.shape
            if not isinstance(period, str) or len(period) < 7:
                return Rejection(n, f"$.{shape.period}", "missing period (YYYY-MM)", 0, *self._ids(rec))
            month = period[:7]
            covered = not (month + "-01" > self.cov_hi or month + "-31" < self.cov_lo)
            if len(self._months) >= 4096:
                self._months.clear()
            self._months[period] = covered
        if not covered:
            shape = self.shape
            return Rejection(n, f"$.{shape.period}",
                             f"{period} is outside the service dates this pack covers ({self.pack.coverage}); "
                             "the pack cannot judge it", 0, *self._ids(rec))
        lines = rec.get(self._lines_key)
        if type(lines) is list and len(lines) > self._max_lines:
            shape = self.shape
            return Rejection(n, f"$.{shape.lines}", f"record has {len(lines)} lines at $.{shape.lines}; the limit "
                             f"is {self.limits.max_lines}", 0, *self._ids(rec))
        # A line dated outside the coverage is judged on its own (denied by the built-in
        # rule `coverage.outside`); the record's other lines keep their verdicts.
        return rec

    def result(self, rec: dict, hist: list, n: int, notes=()) -> Result:
        rfired, outs, sugs = self._decide(rec, hist, self._max_steps)
        lines = rec.get(self._lines_key) or ()
        findings = []
        record_deny = record_warn = ()
        eager = False
        meta = self._meta  # rule index -> (rule id, denies, renders at once)
        if rfired:
            d0 = default_service_date(self.shape, rec)
            record_deny, record_warn = [], []
            for k in rfired:
                rid, deny, now = meta[k]
                eager = eager or now
                findings.append((k, None, d0, None))
                (record_deny if deny else record_warn).append(rid)
        verdicts = []
        suggestions = ()  # a list once there is one
        line_id, line_code = self._line_id, self._line_code
        i = -1
        combos = self._combos
        for ln, (fired, state, sd) in zip(lines, outs):
            i += 1
            if state == 1 and not record_deny:
                if not fired:
                    verdicts.append((ln.get(line_id), ln.get(line_code), "allow", (), ()))
                    continue
                # The verdict of a set of rules that fired is the same on every line: made once.
                key = tuple(fired)
                got = combos.get(key)
                if got is None:
                    got = self._combo(key)
                deny, warn, now = got
                eager = eager or now
                for k in fired:
                    findings.append((k, ln, sd, i))
                verdicts.append((ln.get(line_id), ln.get(line_code), "deny" if deny else "allow", deny, warn))
                continue
            lid = ln.get(line_id)
            deny = list(record_deny)
            warn = []
            for k in fired:
                rid, d, now = meta[k]
                eager = eager or now
                findings.append((k, ln, sd, i))
                (deny if d else warn).append(rid)
            if state != 1:
                code = ln.get(line_code)
                if state == 3:  # outside the pack's coverage: no rule ran, and none may allow it
                    findings.append((None, self._coverage_finding(code, lid, sd, i)))
                    deny.append("coverage.outside")
                elif state == 2:
                    f, sug = self._window_finding(code, lid, sd, ln, i)
                    findings.append((None, f))
                    suggestions = [*suggestions, *sug]
                    deny.append("catalog.window")
                elif self._unknown != "ignore":  # state 0: a code not in the catalog
                    findings.append((None, self._unknown_finding(code, lid, i)))
                    (deny if self._unknown == "deny" else warn).append("catalog.unknown-code")
            if len(deny) > 1:
                deny = sorted(set(deny))
            if len(warn) > 1:
                warn = sorted(set(warn))
            verdicts.append((lid, ln.get(line_code), "deny" if deny else "allow", tuple(deny), tuple(warn)))
        if sugs:
            suggestions = list(suggestions)
        for k, ln, (units, reason) in sugs:
            s = self.cp.sugg_infos[k].suggestion
            suggestions.append((s.code, plain_number(units), reason, s.id,
                                ln.get(line_id) if ln is not None else None))
        # Findings (messages, evidence) are rendered when first read, or by ``judge`` right
        # after this when a rule's evidence may hold a list (cut to EVIDENCE_ITEMS, with a
        # note) or a number that is not finite; ``PendingFindings`` holds what rendering reads.
        self._eager = eager
        r = _new_result(Result)  # the slots, stored here as Result._init stores them (one call less a record)
        r._run = self._run
        r._id = rec.get(self._id_key)
        r._period = rec[self._period_key]
        r._input_line = n
        r._notes = notes
        r._record = rec
        r._lines = verdicts
        r._findings = PendingFindings((self, findings, rec, hist)) if findings else ()
        r._suggestions = suggestions
        r._json = None
        r._wrapped = 0
        return r

    def _combo(self, fired: tuple) -> tuple:
        """(deny rule ids, warn rule ids, renders at once) of the rules ``fired`` on a line
        that no record-level rule denies and whose code is in force: what ``result`` keeps
        per distinct set of rules that fired (at most ``COMBOS_KEPT``)."""
        meta = self._meta
        deny = tuple(sorted({meta[k][0] for k in fired if meta[k][1]}))
        warn = tuple(sorted({meta[k][0] for k in fired if not meta[k][1]}))
        got = (deny, warn, any(meta[k][2] for k in fired))
        if len(self._combos) >= COMBOS_KEPT:
            self._combos.clear()
        self._combos[fired] = got
        return got

    def render_findings(self, requests, rec, hist) -> tuple:
        """Finding parts for the requests ``result`` queued: (rule index, line, service date,
        line index) to render, or (None, part) already made."""
        out = []
        state = self.cp.state(self._max_steps)  # one budget for the record's findings
        finding = self._finding
        for req in requests:
            if req[0] is None:
                out.append(req[1])
            else:
                k, ln, sd, i = req
                out.append(finding(k, rec, hist, ln, sd, i, state))
        return tuple(out)

    def _finding(self, k, rec, hist, ln, sd, i, state=None) -> tuple:
        """A finding as a part (see ``Result.from_parts``)."""
        fn, rid, version, severity, title, info, texts, paths, per_line = self._finders[k]
        try:
            message, values, fix = fn(rec, hist, ln, sd, state)
        except Exception as e:  # noqa: BLE001 - evidence must never lose the verdict
            message, values, fix = e, (None,) * len(texts), None
        if isinstance(message, Exception):
            message = f"{title} (message could not be rendered: {message.__class__.__name__})"
        if per_line and i is not None:  # a path that names the line's index: once per (rule, index)
            paths = self._paths.get((k, i))
            if paths is None:
                paths = self._paths[(k, i)] = tuple(path.replace("{i}", str(i)) if path else path
                                                    for path in info_paths(info))
        line_id = ln.get(self._line_id) if ln is not None else None
        if LISTS.isdisjoint(map(type, values)):
            evidence = tuple(zip(texts, values, paths))
        else:
            evidence = []
            for text, path, v in zip(texts, paths, values):
                t = type(v)
                if t is tuple:
                    v = list(v)
                    t = list
                if t is list and len(v) > EVIDENCE_ITEMS:  # bounded: see EVIDENCE_ITEMS
                    self._omitted.append((rid, line_id, text, len(v) - EVIDENCE_ITEMS))
                    v = v[:EVIDENCE_ITEMS]
                evidence.append((text, v, path))
            evidence = tuple(evidence)
        if type(message) is str and len(message) > MESSAGE_CHARS:
            message = f"{message[:MESSAGE_CHARS]}... ({len(message) - MESSAGE_CHARS:,} characters left out)"
        citations = info.citations if not info.param_cites or sd is None else info.citations_on(sd)
        return (rid, version, severity, line_id, message, citations, evidence, fix, title)

    def _window_finding(self, code, lid, sd, ln, i):
        known = self._windows.get(code)
        if known is None:  # what does not depend on the line, once per code (the citations shared by its findings)
            c = self.cp.codes[code]
            w = c.window
            known = self._windows[code] = (
                w.start.isoformat() if w.start is not None else None, w.end.isoformat() if w.end is not None else None,
                "; bill " + ", ".join(c.replaced_by) + " instead" if c.replaced_by else "", tuple(c.replaced_by),
                tuple(CitationDict(ct.to_dict()) for ct in c.citations),
                f"{self.shape.lines}[", f"].{self.shape.line_code}", f"{code} is billed outside its effective window")
        start, end, instead, replaced_by, cites, head, tail, title = known
        if start is not None and sd < start:
            why = f"{code} is valid for services from {start}; this line's service date is {sd}{instead}"
        else:
            why = f"{code} ended {end}; this line's service date is {sd}{instead}"
        at = f"{head}{i}{tail}"
        finding = ("catalog.window", 1, "deny", lid, why, cites, ((at, code, "$." + at), ("service_date", sd, None)),
                   None, title)
        sugs = [(r, None, f"{code} is not valid on {sd}; {r} replaces it", "catalog.window", lid) for r in replaced_by]
        return finding, sugs

    def _coverage_finding(self, code, lid, sd, i) -> tuple:
        path = f"$.{self.shape.lines}[{i}].{self.shape.line_date}"
        return ("coverage.outside", 1, "deny", lid,
                (f"service date {sd} is outside the dates this pack covers ({self.pack.coverage}); the pack cannot "
                "judge this line"), (), ((f"{self.shape.lines}[{i}].{self.shape.line_date}", sd, path),), None,
                "Service date outside the pack's coverage")

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
            return run_each(self, records, start, track_subjects)
        return run_groups(self, records, start, track_subjects, resume)

    def judge(self, rec: dict, hist: list, n: int, notes=()):
        """``result``, or a Rejection (naming the pack) when the record cannot be evaluated:
        a number too large for arithmetic, or a value of another type than the rules expect
        (possible only where the facts schema leaves a field untyped, or in trusted mode).
        Never an exception."""
        try:
            if self._omitted:
                self._omitted = []
            r = self.result(rec, hist, n, notes)
            # Findings whose evidence may hold a list or a number are rendered here, not when
            # first read: a value the JSON contract cannot hold (infinity or NaN, from
            # arithmetic that overflowed) must make this record a rejection before its result
            # is given, never fail the writer later, and a list cut short adds a note. Other
            # findings (evidence of text, dates, booleans, whole numbers read or counted)
            # wait until read; the same bytes either way (see ``rulefacts.plain_evidence``).
            bad = non_finite(r._finding_parts() if self._eager else (), r._suggestions) \
                if self._eager or r._suggestions else None
            if bad is not None:
                path, what = bad
                return Rejection(n, path, f"cannot evaluate this record: {what} is not a finite number (the "
                                 "arithmetic overflowed)", 0, *self._ids(rec), pack=self.packref)
            if self._omitted:
                r = r.with_notes(tuple(r.notes) + (omitted_note(self._omitted),))
            return r
        except EvaluationLimit as e:  # names the rule that went past the step budget or number bound
            return Rejection(n, "$", self.cp.limit_reason(e, self.limits.max_steps), 0, *self._ids(rec),
                             pack=self.packref)
        except RecursionError:
            return Rejection(n, "$", "record too deeply nested to evaluate", 0, *self._ids(rec), pack=self.packref)
        except Exception as e:
            told = self.cp.failure(e)  # (fact path, reason naming the rule and its file:line), if a rule ran
            if told is not None:
                return Rejection(n, told[0], told[1], 0, *self._ids(rec), pack=self.packref)
            if not self.trusted and not isinstance(e, (ArithmeticError, TypeError, ValueError, AttributeError,
                                                       KeyError, IndexError)):
                raise
            detail = str(e).splitlines()[0][:200] if str(e) else ""
            return Rejection(n, "$", f"cannot evaluate this record ({e.__class__.__name__}: {detail}): a value "
                             "is too large or not of the type the rules expect", 0, *self._ids(rec),
                             pack=self.packref)


_new_result = object.__new__
_COLON = {str: ":", bytes: b":"}
_VALIDATORS: dict = {}
_SCANNERS: dict = {}


def _scanner(pack, max_depth: int):
    """The compiled schema scan for a pack and depth limit (see ``fastcheck``), or None."""
    key = (pack.lock, max_depth)
    if key not in _SCANNERS:
        _SCANNERS[key] = compile_scan(pack.schema, max_depth)
    return _SCANNERS[key]


_FAST: dict = {}


def _fast(pack, max_depth: int, read_text: bool):
    """The compiled jsonschema_rs accept path for a pack and depth limit, or None."""
    key = (pack.lock, max_depth, read_text)
    if key not in _FAST:
        _FAST[key] = compile_fast(pack.schema, max_depth, read_text)
    return _FAST[key]


_BACKSLASH = {str: "\\", bytes: b"\\"}
_ESCAPED_COLON = {str: ("\\u003a", "\\u003A"), bytes: (b"\\u003a", b"\\u003A")}


def _all_keys(text, value) -> bool:
    """Whether decoding ``text`` into ``value`` dropped no repeated key (a fast decoder keeps
    the last value of a repeated key, silently).

    When ``value`` written again is ``text`` itself (compact JSON, as most producers write
    it), no key was dropped: ``text`` is then the writing of a value with no repeated key.
    Otherwise the colons are counted: every key brings one ``:`` to the text and to
    ``value`` written again (which has no ``:`` the text had not, unless the text wrote
    one as an escape: then the full reading decides); a dropped key takes its ``:`` away."""
    t = type(text)
    try:
        again = dumps_utf8(value)
    except Exception:  # noqa: BLE001 - not writable as it stands: the full reading decides
        return False
    if t is bytes and text.startswith(again):
        rest = len(text) - len(again)
        if rest == 0 or (rest == 1 and text[-1] == 10) or (rest == 2 and text[-2:] == b"\r\n"):
            return True
    if _BACKSLASH[t] in text:  # one scan; most lines hold no escape at all
        a, b = _ESCAPED_COLON[t]
        if a in text or b in text:
            return False
    return text.count(_COLON[t]) == again.count(b":")


def _validator(pack) -> RecordValidator:
    v = _VALIDATORS.get(pack.lock)
    if v is None:
        v = RecordValidator(pack.schema)
        _VALIDATORS[pack.lock] = v
    return v
