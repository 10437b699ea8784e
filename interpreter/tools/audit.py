"""The audit trail: decision-log entries, their verification, and evidence packets.

Takes results as ``evaluate`` yields them (and the raw input items they came from);
gives plain data: one decision-log entry (a JSON-ready dict) per input record, a
``VerifyReport`` comparing logged decisions with a re-evaluation, and an evidence
packet (self-contained HTML and Markdown) for one record. Nothing here opens a file
or prints: the CLI reads and writes.

A decision-log entry holds what it takes to reproduce a decision later: the sha256
of the canonical input record (and of the earlier records of the same subject that
it saw as history), the pack's name, version and lock, the publication clock
(``as_of``), the verdicts, and the sha256 of the whole result.

A log (format 2) is a chain of runs. ``DecisionLogWriter`` writes one run to a file
the caller opened: a header (pack, clock, options), one entry per input record, and
a footer (counts; whether the run got to its end), each line holding ``prev``, the
sha256 of the line before it. ``verify`` checks the chain and the counts as well as
the decisions.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import attrs

from rulecite.interpreter.engine.results import Rejection, Result

LOG_FORMAT = "rulecite-decision/2"  # chained: header, entries, footer; each line holds the previous line's sha256
LOG_FORMAT_1 = "rulecite-decision/1"  # unchained entries only, as written before format 2


# ---------------------------------------------------------------- hashing


def canonical_json(value) -> bytes:
    """One byte string per JSON value: keys sorted, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def input_hash(record) -> str:
    """sha256 of a parsed input record in canonical form (key order and spacing do not count)."""
    return sha256(canonical_json(record))


def raw_hash(raw) -> str:
    """sha256 of an input item that could not be parsed: its bytes, without the line ending."""
    if isinstance(raw, (bytes, bytearray)):
        data = bytes(raw)
    elif isinstance(raw, str):
        data = raw.encode("utf-8", "surrogatepass")
    else:
        try:
            return input_hash(raw)
        except (TypeError, ValueError):
            data = repr(raw).encode("utf-8", "backslashreplace")
    return sha256(data.rstrip(b"\r\n"))


def result_hash(result: Result) -> str:
    """sha256 of the result as the Results contract gives it, less its position in the
    input and the pack reference (a decision-log entry records the pack on its own)."""
    d = result.to_dict()
    d.pop("input_line", None)
    d.pop("pack", None)
    return sha256(canonical_json(d))


# ---------------------------------------------------------------- the decision log


class RawTee:
    """Passes input items through while keeping each until its result asks for it.

    When nothing iterates the tee (an engine that reads the input itself), ``pop``
    reads ahead on its own to the item asked for.
    """

    def __init__(self, items):
        self._it = iter(items)
        self.kept: dict = {}
        self.n = 0

    def _next(self):
        item = next(self._it)
        self.n += 1
        self.kept[self.n] = item
        return item

    def __iter__(self):
        while True:
            try:
                yield self._next()
            except StopIteration:
                return

    def pop(self, n: int):
        while n > self.n:
            try:
                self._next()
            except StopIteration:
                break
        return self.kept.pop(n, None)


def _record_hash(result, raw) -> str | None:
    """The input hash of an evaluated record: from the record the result keeps, or else
    (a parallel engine's results keep none) from the raw item it came from."""
    if result.record is not None:
        return input_hash(result.record)
    if isinstance(raw, dict):
        return input_hash(raw)
    if isinstance(raw, (bytes, bytearray, str)):
        try:
            return input_hash(json.loads(raw))
        except (ValueError, RecursionError, UnicodeDecodeError):
            return raw_hash(raw)
    return None


class DecisionLogger:
    """Builds decision-log entries from a result stream, in input order.

    History is reconstructed the way the engine groups it: consecutive results with
    the same subject id form a group (rejections in between do not break it), and a
    record's history is the group's records of earlier periods. Entries of a group are
    released when the group ends, so ``add`` returns zero or more entries.
    """

    def __init__(self, pack, as_of=None, rulecite_version: str = "", logged_at: str | None = None):
        self.pack = {"name": pack.name, "version": pack.version, "sha256": pack.lock}
        self.as_of = as_of.isoformat() if hasattr(as_of, "isoformat") else as_of
        self.version = rulecite_version
        self.logged_at = logged_at
        self.group: list = []  # (item, input hash)
        self.gid = _NONE

    def add(self, item, raw=None) -> list:
        ready = []
        if isinstance(item, Result):
            if self.gid is not _NONE and item.id != self.gid and any(isinstance(i, Result) for i, _ in self.group):
                ready = self._flush()
            self.gid = item.id
            self.group.append((item, _record_hash(item, raw)))
        else:
            self.group.append((item, raw_hash(raw) if raw is not None else None))
        return ready

    def finish(self) -> list:
        return self._flush()

    def _flush(self) -> list:
        results = [(i, h) for i, h in self.group if isinstance(i, Result)]
        out = []
        for item, h in self.group:
            if isinstance(item, Result):
                hist = sorted(((r.period, rh) for r, rh in results if r.period < item.period))
                out.append(self._result_entry(item, h, [rh for _, rh in hist]))
            else:
                out.append(self._rejection_entry(item, h))
        self.group = []
        self.gid = _NONE
        return out

    def _head(self, n: int, h: str | None) -> dict:
        return {"log": LOG_FORMAT, "type": "decision", "input_line": n, "input_sha256": h}

    def _tail(self, entry: dict) -> dict:
        entry["rulecite"] = self.version
        if self.logged_at is not None:
            entry["logged_at"] = self.logged_at
        return entry

    def _result_entry(self, r: Result, h, history) -> dict:
        entry = self._head(r.input_line, h)
        entry.update({
            "history_sha256": history,
            "id": r.id, "period": r.period,
            "pack": r.pack.to_dict(), "as_of": r.as_of,
            "verdicts": [v.to_dict() for v in r.lines],
            "findings": [{"rule": f.rule, "severity": f.severity, "line": f.line} for f in r.findings],
            "result_sha256": result_hash(r),
        })
        return self._tail(entry)

    def _rejection_entry(self, r: Rejection, h) -> dict:
        entry = self._head(r.input_line, h)
        entry.update({"input_form": "raw", "id": r.id, "period": r.period, "pack": dict(self.pack),
                      "as_of": self.as_of, "rejected": {"path": r.path, "reason": r.reason}})
        return self._tail(entry)


_NONE = object()


def decision_log(results_with_raw, pack, as_of=None, rulecite_version: str = "", logged_at=None):
    """Every entry for a stream of ``(result, raw item)`` pairs, in input order."""
    logger = DecisionLogger(pack, as_of, rulecite_version, logged_at)
    for item, raw in results_with_raw:
        yield from logger.add(item, raw)
    yield from logger.finish()


# ---------------------------------------------------------------- writing a chained log


def log_line(entry: dict) -> bytes:
    """One log line's bytes, without its newline: JSON, UTF-8, keys in the order given.
    Text that UTF-8 cannot carry (a lone surrogate) is written with ``\\u`` escapes."""
    try:
        return json.dumps(entry, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(entry, ensure_ascii=True).encode("ascii")


def _is_blank(line: bytes) -> bool:
    return not line.strip()


def log_tail(f) -> tuple:
    """What a run appended to ``f`` (a binary file open for reading) must know of the log
    before it: ``(sha256 of its last non-blank line or None, whether it ends without a
    newline)``. A file that cannot seek or be read (a pipe) counts as empty."""
    try:
        return _tail(f)
    except (OSError, ValueError):
        return None, False


def _tail(f) -> tuple:
    f.seek(0, 2)
    end = f.tell()
    if end == 0:
        return None, False
    pos, tail, torn = end, b"", None
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        f.seek(pos)
        tail = f.read(step) + tail
        if torn is None:
            torn = not tail.endswith(b"\n")
        lines = tail.split(b"\n")
        # lines[0] may be cut at the front unless we reached the start of the file
        whole = lines if pos == 0 else lines[1:]
        for line in reversed(whole):
            if not _is_blank(line):
                return sha256(line), torn
    return None, bool(torn)


class DecisionLogWriter:
    """Writes one run of a chained decision log (format 2) to ``f``.

    ``f`` is a binary file the caller opened for appending, and for reading too
    (``open(path, "a+b")``) so that the run can chain to the log already there: the
    header's ``prev`` is the sha256 of the file's last line, and a last line without
    its newline (a run killed mid-write) is ended first, so the new run starts on a
    line of its own. The header is written at once; ``add`` and ``finish`` write the
    entries as ``DecisionLogger`` releases them; ``close`` writes the footer, which
    says whether the run got to its end. Nothing here reads the clock: ``logged_at``
    (the footer's only wall-clock value) is the caller's.
    """

    def __init__(self, f, pack, as_of=None, rulecite_version: str = "", *, limits=None,
                 logged_at: str | None = None):
        from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS

        self.f = f
        self.logger = DecisionLogger(pack, as_of, rulecite_version)
        self.version = rulecite_version
        self.logged_at = logged_at
        self.records = self.results = self.rejections = 0
        self.finished = self.closed = False
        prev, torn = log_tail(f)
        if torn:
            f.write(b"\n")
        self.prev = prev
        options = attrs.asdict(limits if limits is not None else DEFAULT_LIMITS)
        self._write({"log": LOG_FORMAT, "type": "header", "prev": None, "pack": dict(self.logger.pack),
                     "as_of": self.logger.as_of, "options": {k: options[k] for k in sorted(options)},
                     "rulecite": rulecite_version})

    def _write(self, entry: dict):
        entry["prev"] = self.prev
        line = log_line(entry)
        self.f.write(line + b"\n")
        self.prev = sha256(line)

    def _entries(self, entries):
        for e in entries:
            if "rejected" in e:
                self.rejections += 1
            else:
                self.results += 1
            self._write({"log": e.pop("log"), "type": e.pop("type"), "prev": None, **e})

    def add(self, item, raw=None):
        """One result or rejection (with the raw input item it came from)."""
        self.records += 1
        self._entries(self.logger.add(item, raw))

    def finish(self):
        """Every input record was given: write the entries still held."""
        self._entries(self.logger.finish())
        self.finished = True

    def close(self, complete: bool = True, reason: str | None = None):
        """Write the footer (once) and flush. The run counts as complete only when
        ``finish`` was called and ``complete`` is true; an incomplete footer keeps
        ``reason``. Held entries are not written: a record's history may not be whole."""
        if self.closed:
            return
        self.closed = True
        complete = bool(complete and self.finished)
        entries = self.results + self.rejections
        foot = {"log": LOG_FORMAT, "type": "footer", "prev": None, "complete": complete,
                "records": self.records, "entries": entries, "results": self.results,
                "rejections": self.rejections}
        if not complete:
            foot["reason"] = reason or "the run stopped early"
        foot["rulecite"] = self.version
        if self.logged_at is not None:
            foot["logged_at"] = self.logged_at
        self._write(foot)
        self.f.flush()


# ---------------------------------------------------------------- verification


@attrs.frozen
class Mismatch:
    entry: dict  # as logged
    now: dict | None  # as re-evaluated; None when the input is not in the facts
    differences: tuple  # readable
    line: int | None = None  # the entry's line in the log


@attrs.frozen
class LogProblem:
    """Something wrong with the log itself rather than with one decision."""

    line: int | None  # the log line it is about (None: the whole log)
    kind: str  # CHAIN (a line does not follow the one before), RUN (a header, entry or footer does not
    # fit its run), INCOMPLETE (a run with no footer, or one that says it stopped early)
    message: str


@attrs.frozen
class VerifyReport:
    checked: int
    same: int
    mismatches: tuple  # Mismatch, input differs or decision differs
    missing: tuple  # Mismatch with now=None
    bad_entries: tuple  # (log line number, reason)
    pack_now: dict
    packs_logged: tuple  # distinct pack dicts in the log
    problems: tuple = ()  # LogProblem, in log order
    pack_changes: tuple = ()  # (log line, logged pack): a run (or format 1 entry) logged with another pack
    unlogged: tuple = ()  # re-evaluated entries (with the facts' input_line) that no log entry matches
    twice: tuple = ()  # Mismatch: a second entry of one run for a record the facts hold once
    runs: int = 0  # headers seen
    unchained: tuple = ()  # log line numbers of format 1 entries
    last_line: tuple | None = None  # (log line number, sha256 of its bytes): keep it to detect a rewrite
    allow_other_pack: bool = False

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.bad_entries or self.problems or self.unlogged
                    or self.twice or (self.pack_changes and not self.allow_other_pack))


_COMPARED = ("id", "period", "verdicts", "findings", "rejected", "result_sha256")


# ------------------------------------------------ reading a log: shapes


def _hex64(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _int(v, least: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _date_problem(v) -> str | None:
    import datetime as _dt

    if v is None:
        return None
    if isinstance(v, str) and len(v) == 10:
        try:
            _dt.date.fromisoformat(v)
            return None
        except ValueError:
            pass
    return f"as_of must be null or a date (YYYY-MM-DD), not {_show(v)}"


def _pack_problem(v) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(v.get(k), str) for k in ("name", "version", "sha256")):
        return f"pack must be an object with name, version and sha256 (text), not {_show(v)}"
    return None


def _show(v) -> str:
    text = json.dumps(v, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:60] + "..."


def _entry_problem(e: dict) -> str | None:
    """Why a decision entry (either format) cannot be used, or None."""
    if not _int(e.get("input_line"), 1):
        return f"input_line must be a whole number from 1, not {_show(e.get('input_line'))}"
    if not _hex64(e.get("input_sha256")):
        return f"input_sha256 must be a sha256 (64 hex digits), not {_show(e.get('input_sha256'))}"
    h = e.get("history_sha256", [])
    if not isinstance(h, list) or not all(_hex64(x) for x in h):
        return f"history_sha256 must be a list of sha256s, not {_show(h)}"
    for problem in (_date_problem(e.get("as_of")), _pack_problem(e.get("pack"))):
        if problem:
            return problem
    if "rejected" in e:
        r = e["rejected"]
        if not isinstance(r, dict):
            return f"rejected must be an object (path, reason), not {_show(r)}"
        return None
    v = e.get("verdicts")
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        return f"verdicts must be a list of objects, not {_show(v)}"
    f = e.get("findings")
    if not isinstance(f, list) or not all(isinstance(x, dict) and isinstance(x.get("rule"), str) for x in f):
        return f"findings must be a list of objects with a rule id, not {_show(f)}"
    if not _hex64(e.get("result_sha256")):
        return f"result_sha256 must be a sha256 (64 hex digits), not {_show(e.get('result_sha256'))}"
    return None


def _line_problem(e: dict) -> str | None:
    """Why a format 2 line (header, decision or footer) cannot be used, or None."""
    kind = e.get("type")
    prev = e.get("prev")
    if kind == "header":
        if prev is not None and not _hex64(prev):
            return f"prev must be null or a sha256, not {_show(prev)}"
        for problem in (_pack_problem(e.get("pack")), _date_problem(e.get("as_of"))):
            if problem:
                return problem
        o = e.get("options", {})
        if not isinstance(o, dict) or not all(_int(x, 1) for x in o.values()):
            return f"options must be an object of whole numbers, not {_show(o)}"
        return None
    if not _hex64(prev):
        return f"prev must be a sha256 (64 hex digits), not {_show(prev)}"
    if kind == "decision":
        return _entry_problem(e)
    if kind == "footer":
        if not isinstance(e.get("complete"), bool):
            return f"complete must be true or false, not {_show(e.get('complete'))}"
        for k in ("records", "entries", "results", "rejections"):
            if not _int(e.get(k)):
                return f"{k} must be a whole number, not {_show(e.get(k))}"
        return None
    return f"type must be header, decision or footer, not {_show(kind)}"


def parse_log(lines) -> tuple:
    """Decision-log lines -> (decision entries with their line numbers, bad lines).

    Only the shape of each line is checked here; :func:`verify` checks the chain."""
    scan = _scan(lines, None)
    return [(n, e) for n, e, _ in scan["entries"]], scan["bad"]


def _as_bytes(line) -> bytes:
    if isinstance(line, (bytes, bytearray)):
        return bytes(line).rstrip(b"\n")
    return str(line).rstrip("\n").encode("utf-8", "surrogatepass")


def _scan(lines, pack_now) -> dict:
    """Read a log line by line: its entries, bad lines, chain and run problems."""
    entries, bad, problems, packs_v1, unchained, headers = [], [], [], [], [], []
    last_h = last_n = None
    run = None  # the open run: its header line, header, counts
    orphan = False
    for n, raw in enumerate(lines, 1):
        b = _as_bytes(raw)
        if _is_blank(b):
            continue
        h = sha256(b)
        try:
            e = json.loads(b)
        except (ValueError, RecursionError) as exc:
            bad.append((n, f"not JSON ({_why(exc)})"))
            last_h, last_n = h, n
            continue
        fmt = e.get("log") if isinstance(e, dict) else None
        if fmt == LOG_FORMAT_1:
            problem = _entry_problem(e)
            if problem:
                bad.append((n, problem))
            else:
                unchained.append(n)
                entries.append((n, e, None))
                if run is not None:
                    problems.append(LogProblem(n, "RUN", "a format 1 entry inside a chained run: format 2 "
                                                         "runs never hold one"))
                elif pack_now is not None and e["pack"] != pack_now and e["pack"] not in [p for _, p in packs_v1]:
                    packs_v1.append((n, e["pack"]))
            last_h, last_n = h, n
            continue
        if fmt != LOG_FORMAT:
            bad.append((n, f"not a decision-log line ({LOG_FORMAT} or {LOG_FORMAT_1})"))
            last_h, last_n = h, n
            continue
        problem = _line_problem(e)
        if problem:
            bad.append((n, problem))
            last_h, last_n = h, n
            continue
        prev = e["prev"]
        if prev != last_h:
            if last_h is None:
                msg = "the log starts in the middle of a chain: the lines before it are missing"
            elif prev is None:
                msg = (f"a new chain starts here, but log line {last_n} comes before it: lines before it "
                       "were deleted, or logs were joined")
            else:
                msg = (f"does not follow log line {last_n}: a line was deleted, inserted, moved or edited "
                       "here")
            problems.append(LogProblem(n, "CHAIN", msg))
        kind = e["type"]
        if kind == "header":
            if run is not None:
                problems.append(LogProblem(run["line"], "INCOMPLETE", "the run has no footer: it stopped before "
                                           f"its end or the log was cut (the next run starts at log line {n})"))
            run = {"line": n, "header": e, "entries": 0, "results": 0, "rejections": 0, "last_input": 0,
                   "id": len(headers)}
            headers.append((n, e))
            orphan = False
        elif kind == "decision":
            if run is None:
                if not orphan:
                    problems.append(LogProblem(n, "RUN", "a decision outside a run: no header before it "
                                                         "(it was deleted, or the entry was not written here)"))
                orphan = True
                entries.append((n, e, None))
            else:
                head = run["header"]
                run["entries"] += 1
                run["rejections" if "rejected" in e else "results"] += 1
                if e["pack"] != head["pack"]:
                    problems.append(LogProblem(n, "RUN", f"the entry names the pack {_pack_text(e['pack'])}; "
                                               f"its run's header names {_pack_text(head['pack'])}"))
                if e.get("as_of") != head.get("as_of"):
                    problems.append(LogProblem(n, "RUN", f"the entry's as_of is {_show(e.get('as_of'))}; its "
                                               f"run's header says {_show(head.get('as_of'))}"))
                if e["input_line"] <= run["last_input"]:
                    problems.append(LogProblem(n, "RUN", f"input line {e['input_line']} does not follow input "
                                               f"line {run['last_input']}: entries out of order or repeated"))
                run["last_input"] = max(run["last_input"], e["input_line"])
                entries.append((n, e, run))
        else:  # footer
            if run is None:
                problems.append(LogProblem(n, "RUN", "a footer with no run: its header is missing"))
            else:
                problems.extend(_footer_problems(n, e, run))
                run = None
        last_h, last_n = h, n
    if run is not None:
        problems.append(LogProblem(run["line"], "INCOMPLETE", "the run has no footer: it stopped before its end "
                                                              "or the log was cut"))
    if not headers and not entries:
        problems.append(LogProblem(None, "INCOMPLETE", "the log holds no run"))
    return {"entries": entries, "bad": bad, "problems": problems, "headers": headers, "packs_v1": packs_v1,
            "unchained": unchained, "last": (last_n, last_h) if last_n is not None else None}


def _why(exc) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__


def _footer_problems(n: int, foot: dict, run: dict):
    have = run["entries"]
    if foot["entries"] != have:
        yield LogProblem(n, "RUN", f"the footer counts {foot['entries']} entries; the run has {have}: entries "
                                   "were deleted or added")
    elif (foot["results"], foot["rejections"]) != (run["results"], run["rejections"]):
        yield LogProblem(n, "RUN", f"the footer counts {foot['results']} results and {foot['rejections']} "
                                   f"rejections; the run has {run['results']} and {run['rejections']}")
    if foot["complete"] and foot["records"] != foot["entries"]:
        yield LogProblem(n, "RUN", f"the footer says the run is complete, with {foot['records']} records read "
                                   f"but {foot['entries']} entries")
    if not foot["complete"]:
        reason = foot.get("reason")
        yield LogProblem(n, "INCOMPLETE", "the run stopped before its end"
                         + (f" ({reason})" if isinstance(reason, str) and reason else ""))


def _pack_text(p) -> str:
    if not isinstance(p, dict):
        return _show(p)
    return f"{p.get('name')} {p.get('version')} (lock {str(p.get('sha256'))[:12]})"


def _limits(options):
    """The record limits a run's header names, as the engine takes them (unknown options left out)."""
    from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS, Limits

    if not options:
        return DEFAULT_LIMITS
    known = attrs.fields_dict(Limits)
    return attrs.evolve(DEFAULT_LIMITS, **{k: v for k, v in options.items() if k in known})


def verify(log_lines, pack, facts_items, evaluate_fn, *, allow_other_pack: bool = False,
           subset: bool = False) -> VerifyReport:
    """Check a decision log: its chain and runs, then every logged decision against what
    the pack decides now.

    ``log_lines`` are the log's lines (bytes as written, or text), in order.
    ``facts_items`` is a callable giving a fresh iterable of input items (it is read
    once per distinct clock and options in the log); ``evaluate_fn(pack, items,
    as_of=..., limits=...)`` is :func:`rulecite.interpreter.evaluate` (``limits`` is
    passed only when a run's header names other limits than the default). Entries are
    matched by input hash and history hashes, so the facts may be in another order than
    when logged. Facts records that no entry matches are reported (unless ``subset``:
    the log covers only part of the facts), as are two entries of one run for a record
    the facts hold once. A run logged with another pack than ``pack`` fails the check
    unless ``allow_other_pack`` (an update's impact: the decisions that differ).
    """
    from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS

    pack_now = {"name": pack.name, "version": pack.version, "sha256": pack.lock}
    scan = _scan(log_lines, pack_now)
    by_clock = defaultdict(list)
    clocks = set()
    for _, head in scan["headers"]:
        clocks.add((head.get("as_of"), _limits(head.get("options"))))
    for n, e, run in scan["entries"]:
        limits = _limits(run["header"].get("options")) if run is not None else DEFAULT_LIMITS
        by_clock[(e.get("as_of"), limits)].append((n, e, run))
        clocks.add((e.get("as_of"), limits))
    mismatches, missing, unlogged, twice = [], [], [], []
    same = 0
    for as_of, limits in sorted(clocks, key=lambda c: (str(c[0]), repr(c[1]))):
        group = by_clock.get((as_of, limits), [])
        tee = RawTee(facts_items())
        kw = {} if limits == DEFAULT_LIMITS else {"limits": limits}
        pairs = ((r, tee.pop(r.input_line)) for r in evaluate_fn(pack, tee, as_of=as_of, **kw))
        now: dict = defaultdict(list)
        for entry in decision_log(pairs, pack, as_of):
            now[_key(entry)].append(entry)
        used: dict = defaultdict(list)  # (run, key) -> log lines
        for n, e, run in group:
            key = _key(e)
            rid = None if run is None else run["id"]
            lines_used = used[(rid, key)]
            lines_used.append(n)
            found = now.get(key)
            if not found:
                missing.append(Mismatch(e, None, ("the input record is not in the facts (or its history differs)",),
                                        n))
                continue
            cur = found[min(len(lines_used), len(found)) - 1]
            if run is not None and len(lines_used) > len(found):
                why = f"log line {n} and log line {lines_used[0]}: one run logged a record the facts hold once"
                twice.append(Mismatch(e, cur, (why,), n))
            diffs = tuple(_differences(e, cur))
            if diffs:
                mismatches.append(Mismatch(e, cur, diffs, n))
            else:
                same += 1
        if not subset:
            most: dict = defaultdict(int)
            for (_, key), ns in used.items():
                most[key] = max(most[key], len(ns))
            for key, found in now.items():
                unlogged.extend(found[most.get(key, 0):])
    unlogged.sort(key=lambda e: (e.get("input_line") or 0, str(e.get("as_of"))))
    packs = []
    for _, e, _ in scan["entries"]:
        if e.get("pack") not in packs:
            packs.append(e.get("pack"))
    for _, head in scan["headers"]:
        if head["pack"] not in packs:
            packs.append(head["pack"])
    changes = [(n, head["pack"]) for n, head in scan["headers"] if head["pack"] != pack_now] + scan["packs_v1"]
    return VerifyReport(
        len(scan["entries"]), same, tuple(mismatches), tuple(missing), tuple(scan["bad"]), pack_now, tuple(packs),
        problems=tuple(scan["problems"]), pack_changes=tuple(sorted(changes, key=lambda c: c[0])),
        unlogged=tuple(unlogged), twice=tuple(twice), runs=len(scan["headers"]),
        unchained=tuple(scan["unchained"]), last_line=scan["last"], allow_other_pack=allow_other_pack)


def _key(e: dict):
    return (e.get("input_sha256"), tuple(e.get("history_sha256") or ()))


def _differences(logged: dict, now: dict):
    for k in _COMPARED:
        a, b = logged.get(k), now.get(k)
        if a == b:
            continue
        if k in ("id", "period"):
            yield f"{k} was {_plain(a)}; now {_plain(b)}"
        elif k == "verdicts" and isinstance(a, list) and isinstance(b, list):
            yield from _verdict_differences(a, b)
        elif k == "result_sha256":
            if logged.get("verdicts") == now.get("verdicts") and logged.get("findings") == now.get("findings"):
                yield "same verdicts and findings, but the result differs (messages, evidence or suggestions)"
        elif k == "findings":
            ra = sorted({f.get("rule") for f in a or [] if isinstance(f, dict)}, key=str)
            rb = sorted({f.get("rule") for f in b or [] if isinstance(f, dict)}, key=str)
            if ra != rb:
                yield f"findings were {', '.join(map(str, ra)) or 'none'}; now {', '.join(map(str, rb)) or 'none'}"
            else:
                yield "findings differ in severity or line"
        elif k == "rejected":
            yield f"rejection was {_rej(a)}; now {_rej(b)}"


def _plain(v) -> str:
    return v if isinstance(v, str) else _show(v)


def _rej(r) -> str:
    if isinstance(r, dict):
        return f"{r.get('path')}: {r.get('reason')}" if r else "none"
    return "none" if r is None else _show(r)


def _verdict_differences(a: list, b: list):
    la = {str(v.get("line")): v for v in a if isinstance(v, dict)}
    lb = {str(v.get("line")): v for v in b if isinstance(v, dict)}
    for k in sorted(set(la) | set(lb)):
        va, vb = la.get(k), lb.get(k)
        if va == vb:
            continue
        yield f"line {k}: was {_v(va)}; now {_v(vb)}"


def _v(v) -> str:
    if v is None:
        return "absent"
    text = str(v.get("verdict"))
    if v.get("rules"):
        text += " by " + _names(v["rules"])
    if v.get("warnings"):
        text += " (warnings: " + _names(v["warnings"]) + ")"
    return text


def _names(v) -> str:
    return ", ".join(map(str, v)) if isinstance(v, list) else _show(v)


# ---------------------------------------------------------------- evidence packets


@attrs.frozen
class EvidencePacket:
    name: str  # a safe file stem: <id>-<period>
    html: str
    markdown: str


def evidence_packet(pack, record: dict, history=(), *, as_of=None, generated_by: str = "") -> EvidencePacket:
    """One record's evidence: the facts the rules read, each verdict, the rule text, the
    citations with links, and the pack lock. Every value from the facts is escaped."""
    from rulecite.interpreter.api import evaluate, explain

    shape = pack.model.shape
    history = [h for h in history if isinstance(h, dict)]
    results = list(evaluate(pack, [*history, record], as_of=as_of))
    result = results[-1] if results and results[-1].input_line == len(history) + 1 else \
        next((r for r in results if r.input_line == len(history) + 1), None)
    trace = explain(pack, record, as_of=as_of, history=history)
    data = _packet_data(pack, record, history, result, trace, as_of, generated_by)
    stem = _safe_name(f"{record.get(shape.id)}-{record.get(shape.period)}")
    return EvidencePacket(stem, _html(data), _markdown(data))


def _safe_name(text: str) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "record"
    return name[:100]


def _packet_data(pack, record, history, result, trace, as_of, generated_by) -> dict:
    model = pack.model
    shape = model.shape
    rules = {(r.id, r.version): r for r in model.rules}
    findings = []
    if isinstance(result, Result):
        for f in result.findings:
            rule = rules.get((f.rule, f.version))
            findings.append({
                "rule": f.rule, "version": f.version, "severity": f.severity, "line": f.line,
                "title": f.title or (rule.title if rule else ""), "message": f.message,
                "citations": [dict(c) for c in f.citations],
                "evidence": [(e.expr, e.value, e.path) for e in f.evidence],
                "text": rule.source_text if rule else _builtin_text(f.rule),
                "file": rule.file if rule else None,
            })
    read: dict = {}
    for node in trace.get("rules", []):
        if not node.get("applies"):
            continue
        key = node.get("line")
        bucket = read.setdefault(key, {})
        for part in ("where", "condition"):
            if part in node:
                _leaves(node[part], bucket)
        for name, value in (node.get("lets") or {}).items():
            bucket.setdefault(name, value)
    order = [None] + [v.line for v in result.lines] if isinstance(result, Result) else [None]
    read = {k: read[k] for k in sorted(read, key=lambda k: order.index(k) if k in order else len(order))}
    return {
        "id_field": shape.id, "period_field": shape.period,
        "id": record.get(shape.id), "period": record.get(shape.period),
        "pack": {"name": model.name, "version": model.version, "sha256": model.lock, "title": model.title},
        "as_of": as_of.isoformat() if hasattr(as_of, "isoformat") else as_of,
        "input_sha256": input_hash(record),
        "history": [(h.get(shape.period), input_hash(h)) for h in history],
        "result_sha256": result_hash(result) if isinstance(result, Result) else None,
        "rejected": result.to_dict() if isinstance(result, Rejection) else None,
        "lines": [v.to_dict() for v in result.lines] if isinstance(result, Result) else [],
        "findings": findings,
        "suggestions": [s.to_dict() for s in result.suggestions] if isinstance(result, Result) else [],
        "read": read,
        "record": record,
        "generated_by": generated_by,
    }


def _builtin_text(rule_id: str) -> str:
    return {
        "catalog.window": "Built-in rule: a line whose service date is outside its code's effective window "
                          "(from the pack's code catalog) is denied.",
        "catalog.unknown-code": "Built-in rule: a line whose code the pack's code catalog lacks.",
    }.get(rule_id, "")


def _leaves(node: dict, bucket: dict):
    kids = node.get("children") or []
    if not kids:
        expr = node.get("expr", "")
        if expr and not expr[:1].isdigit() and not expr.startswith('"') and expr not in ("true", "false"):
            bucket.setdefault(expr, node.get("value"))
        return
    for k in kids:
        _leaves(k, bucket)


def _json(value, indent=None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _href(url) -> str | None:
    if isinstance(url, str) and (url.startswith("https://") or url.startswith("http://")):
        return url
    return None


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;
margin-top:2rem}h3{font-size:1rem;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.deny{color:#b42318;font-weight:600}.allow{color:#116329;font-weight:600}.warn{color:#9a6700;font-weight:600}
.info{color:#0969da}.meta td:first-child{width:12rem;color:#57606a}.finding{border-left:4px solid #d0d7de;
padding-left:.8rem;margin:1rem 0}.finding.f-deny{border-color:#b42318}.finding.f-warn{border-color:#9a6700}
footer{margin-top:2rem;color:#57606a;font-size:.8rem}
"""


def _html(d: dict) -> str:
    from html import escape

    def e(v) -> str:
        return escape("" if v is None else str(v), quote=True)

    def cite(c: dict) -> str:
        text = e(c.get("citation") or c.get("source"))
        if c.get("section"):
            text += f", section “{e(c['section'])}”"
        page = c.get("page")
        text += ", page not verified" if page in (None, "unverified") else f", page {e(page)}"
        title = f" — {e(c.get('title'))}" if c.get("title") else ""
        href = _href(c.get("url"))
        link = f' <a href="{e(href)}" rel="noreferrer noopener">{e(href)}</a>' if href else \
            (f" {e(c.get('url'))}" if c.get("url") else "")
        quote = f"<br><q>{e(c['quote'])}</q>" if c.get("quote") else ""
        return f"<li>{text}{title}{link}{quote}</li>"

    who = f"{d['id_field']} {d['id']}, {d['period_field']} {d['period']}"
    pk = d["pack"]
    p = []
    w = p.append
    w("<!DOCTYPE html>")
    w('<html lang="en"><head><meta charset="utf-8">')
    w("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>Evidence packet: {e(who)}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>Evidence packet</h1><p>{e(who)}</p>")
    w('<table class="meta">')
    for k, v in (("Subject", f"{d['id_field']} {d['id']}"), ("Period", d["period"]),
                 ("Rule pack", f"{pk['name']} {pk['version']} ({pk['title']})"), ("Pack lock (sha256)", pk["sha256"]),
                 ("Publication clock (as_of)", d["as_of"] or "every source"),
                 ("Input record (sha256)", d["input_sha256"]),
                 ("Result (sha256)", d["result_sha256"] or "—")):
        w(f"<tr><td>{e(k)}</td><td><code>{e(v)}</code></td></tr>")
    if d["history"]:
        hist = "<br>".join(f"{e(per)}: <code>{e(h)}</code>" for per, h in d["history"])
        w(f"<tr><td>History seen (earlier periods)</td><td>{hist}</td></tr>")
    w("</table>")
    if d["rejected"]:
        r = d["rejected"]
        w("<h2>Rejected</h2>")
        w(f'<p class="deny">The record could not be evaluated: {e(r.get("reason"))} (at <code>{e(r.get("path"))}'
          "</code>).</p>")
    else:
        w("<h2>Verdicts</h2><table><tr><th>Line</th><th>Code</th><th>Verdict</th><th>Rules</th><th>Warnings</th></tr>")
        for v in d["lines"]:
            cls = "deny" if v["verdict"] == "deny" else "allow"
            w(f"<tr><td>{e(v['line'])}</td><td><code>{e(v['code'])}</code></td><td class=\"{cls}\">"
              f"{e(v['verdict'])}</td><td>{e(', '.join(v.get('rules', [])))}</td>"
              f"<td>{e(', '.join(v.get('warnings', [])))}</td></tr>")
        if not d["lines"]:
            w('<tr><td colspan="5">no claim lines</td></tr>')
        w("</table>")
    if d["findings"]:
        w("<h2>Findings</h2>")
    for f in d["findings"]:
        sev = f["severity"] if f["severity"] in ("deny", "warn", "info") else "info"
        where = "whole record" if f["line"] is None else f"line {f['line']}"
        w(f'<section class="finding f-{sev}"><h3><code>{e(f["rule"])}</code> '
          f'<span class="{sev}">{e(f["severity"])}</span> — {e(where)}</h3>')
        if f["title"]:
            w(f"<p><strong>{e(f['title'])}</strong></p>")
        w(f"<p>{e(f['message'])}</p>")
        if f["citations"]:
            w("<p>Citations:</p><ul>" + "".join(cite(c) for c in f["citations"]) + "</ul>")
        if f["evidence"]:
            w("<table><tr><th>Value read</th><th>Value</th><th>Where in the record</th></tr>")
            for expr, value, path in f["evidence"]:
                w(f"<tr><td><code>{e(expr)}</code></td><td><code>{e(_json(value))}</code></td>"
                  f"<td><code>{e(path or '')}</code></td></tr>")
            w("</table>")
        if f["text"]:
            w(f"<details><summary>Rule text (version {e(f['version'])})</summary><pre>{e(f['text'])}</pre></details>")
        w("</section>")
    if d["suggestions"]:
        w("<h2>Suggestions</h2><ul>")
        for s in d["suggestions"]:
            units = f" × {e(s['units'])}" if s.get("units") is not None else ""
            w(f"<li><code>{e(s['code'])}</code>{units}: {e(s['reason'])}</li>")
        w("</ul>")
    w("<h2>Facts the rules read</h2>")
    if not d["read"]:
        w("<p>No rule applied to this record.</p>")
    for key, values in d["read"].items():
        w(f"<h3>{'Whole record' if key is None else 'Line ' + e(key)}</h3>")
        w("<table><tr><th>Expression</th><th>Value</th></tr>")
        for expr, value in values.items():
            w(f"<tr><td><code>{e(expr)}</code></td><td><code>{e(_json(value))}</code></td></tr>")
        w("</table>")
    w("<h2>Input record</h2>")
    w(f"<pre>{e(_json(d['record'], 2))}</pre>")
    w(f"<footer>Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, "
      "clock and input (and history) to reproduce every verdict above.</footer>")
    w("</body></html>")
    return "\n".join(p) + "\n"


def _fence(text: str) -> str:
    import re

    longest = max((len(m) for m in re.findall(r"`+|~+", text)), default=0)
    return "`" * max(3, longest + 1)


def _markdown(d: dict) -> str:
    from rulecite.policy_lang.diff import md_escape as e

    def cite(c: dict) -> str:
        text = e(c.get("citation") or c.get("source"))
        if c.get("section"):
            text += f", section “{e(c['section'])}”"
        page = c.get("page")
        text += ", page not verified" if page in (None, "unverified") else f", page {e(page)}"
        href = _href(c.get("url"))
        if href:
            text += f" — <{href.replace('>', '%3E').replace('<', '%3C').replace(' ', '%20')}>"
        if c.get("quote"):
            text += f" — “{e(c['quote'])}”"
        return text

    pk = d["pack"]
    o = [f"# Evidence packet: {e(d['id_field'])} {e(d['id'])}, {e(d['period_field'])} {e(d['period'])}", ""]
    o += ["| | |", "|---|---|",
          f"| Rule pack | {e(pk['name'])} {e(pk['version'])} ({e(pk['title'])}) |",
          f"| Pack lock (sha256) | `{pk['sha256']}` |",
          f"| Publication clock (as_of) | {e(d['as_of'] or 'every source')} |",
          f"| Input record (sha256) | `{d['input_sha256']}` |",
          f"| Result (sha256) | `{d['result_sha256'] or '-'}` |"]
    for per, h in d["history"]:
        o.append(f"| History {e(per)} (sha256) | `{h}` |")
    o.append("")
    if d["rejected"]:
        r = d["rejected"]
        o += ["## Rejected", "", f"The record could not be evaluated: {e(r.get('reason'))} (at {e(r.get('path'))}).",
              ""]
    else:
        o += ["## Verdicts", "", "| Line | Code | Verdict | Rules | Warnings |", "|---|---|---|---|---|"]
        for v in d["lines"]:
            o.append(f"| {e(v['line'])} | {e(v['code'])} | **{e(v['verdict'])}** | {e(', '.join(v.get('rules', [])))} "
                     f"| {e(', '.join(v.get('warnings', [])))} |")
        o.append("")
    if d["findings"]:
        o += ["## Findings", ""]
    for f in d["findings"]:
        where = "whole record" if f["line"] is None else f"line {e(f['line'])}"
        o += [f"### {e(f['rule'])} ({e(f['severity'])}, {where})", ""]
        if f["title"]:
            o += [f"**{e(f['title'])}**", ""]
        o += [e(f["message"]), ""]
        for c in f["citations"]:
            o.append(f"- {cite(c)}")
        if f["citations"]:
            o.append("")
        if f["evidence"]:
            o += ["| Value read | Value | Where in the record |", "|---|---|---|"]
            for expr, value, path in f["evidence"]:
                o.append(f"| {e(expr)} | {e(_json(value))} | {e(path or '')} |")
            o.append("")
        if f["text"]:
            fence = _fence(f["text"])
            o += [f"Rule text (version {f['version']}):", "", fence, f["text"], fence, ""]
    if d["suggestions"]:
        o += ["## Suggestions", ""]
        for s in d["suggestions"]:
            units = f" × {e(s['units'])}" if s.get("units") is not None else ""
            o.append(f"- {e(s['code'])}{units}: {e(s['reason'])}")
        o.append("")
    o += ["## Facts the rules read", ""]
    if not d["read"]:
        o += ["No rule applied to this record.", ""]
    for key, values in d["read"].items():
        o += [f"### {'Whole record' if key is None else 'Line ' + e(key)}", "", "| Expression | Value |", "|---|---|"]
        for expr, value in values.items():
            o.append(f"| {e(expr)} | {e(_json(value))} |")
        o.append("")
    body = _json(d["record"], 2)
    fence = _fence(body)
    o += ["## Input record", "", fence + "json", body, fence, "",
          f"Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, clock and input "
          "(and history) to reproduce every verdict above.", ""]
    return "\n".join(o)
