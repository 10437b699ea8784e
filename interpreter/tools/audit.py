"""The decision log: one entry per input record, chained into runs.

Takes results as ``evaluate`` yields them (and the raw input items they came from);
gives plain data: one decision-log entry (a JSON-ready dict) per input record.
Nothing here opens a file or prints: the CLI reads and writes. (Verification is
``tools.verify``; evidence packets are ``tools.evidence``.)

A decision-log entry holds what it takes to reproduce a decision later: the sha256
of the canonical input record (and of the earlier records of the same subject that
it saw as history), the pack's name, version and lock, the publication clock
(``as_of``), the verdicts, and the sha256 of the whole result.

Each finding of an entry keeps what the rule said when it decided: the rule id and
version, severity, line, message, the evidence (expression, value, JSON path) and the
citations (as the Results contract writes them), so the log alone answers "why" years
later, without the pack at hand. A lean run (``lean=True``: ``eval --decision-log-lean``)
keeps only rule id, severity and line per finding, as format 2 did; its header says
``"findings": "lean"`` (a full run's says ``"full"``).

A log (format 3; format 2 is the same without kept findings) is a chain of runs.
``DecisionLogWriter`` writes one run to a file the caller opened: a header (pack, clock,
options, how findings are kept), one entry per input record, and
a footer (counts; whether the run got to its end), each line holding ``prev``, the
sha256 of the line before it. ``tools.verify.verify`` checks the chain and the counts
as well as the decisions.
"""

from __future__ import annotations

import hashlib
import json

import attrs

from rulecite.interpreter.engine.results import Rejection, Result

LOG_FORMAT = "rulecite-decision/3"  # chained, as format 2; each finding keeps message, evidence and citations
LOG_FORMAT_2 = "rulecite-decision/2"  # chained: header, entries, footer; each line holds the previous line's sha256
LOG_FORMAT_1 = "rulecite-decision/1"  # unchained entries only, as written before format 2
CHAINED_FORMATS = (LOG_FORMAT, LOG_FORMAT_2)


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
    d.pop("contract", None)  # named by every result since the contract said so: hashes of older logs still match
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

    def __init__(self, pack, as_of=None, rulecite_version: str = "", logged_at: str | None = None, *,
                 lean: bool = False):
        self.pack = {"name": pack.name, "version": pack.version, "sha256": pack.lock}
        self.lean = lean
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
            "findings": [lean_finding(f) if self.lean else kept_finding(f) for f in r.findings],
            "result_sha256": result_hash(r),
        })
        return self._tail(entry)

    def _rejection_entry(self, r: Rejection, h) -> dict:
        entry = self._head(r.input_line, h)
        entry.update({"input_form": "raw", "id": r.id, "period": r.period, "pack": dict(self.pack),
                      "as_of": self.as_of, "rejected": {"path": r.path, "reason": r.reason}})
        return self._tail(entry)


_NONE = object()


def lean_finding(f) -> dict:
    """A finding as a lean entry (and format 2) keeps it: rule id, severity, line."""
    return {"rule": f.rule, "severity": f.severity, "line": f.line}


def kept_finding(f) -> dict:
    """A finding as a full entry keeps it: what the rule said and why, as decided."""
    out = {"rule": f.rule, "version": f.version, "severity": f.severity, "line": f.line, "message": f.message,
           "evidence": [{"expr": e.expr, "value": e.value, "path": e.path} for e in f.evidence],
           "citations": [dict(c) for c in f.citations]}
    if f.suggestion:
        out["suggestion"] = f.suggestion
    return out


def decision_log(results_with_raw, pack, as_of=None, rulecite_version: str = "", logged_at=None, *,
                 lean: bool = False):
    """Every entry for a stream of ``(result, raw item)`` pairs, in input order."""
    logger = DecisionLogger(pack, as_of, rulecite_version, logged_at, lean=lean)
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


def is_blank(line: bytes) -> bool:
    return not line.strip()


def log_tail(f, *, chunk: int = 65536) -> tuple:
    """What a run appended to ``f`` (a binary file open for reading) must know of the log
    before it: ``(sha256 of its last non-blank line or None, whether it ends without a
    newline)``. A file that cannot seek or be read (a pipe) counts as empty. Read from the
    end in blocks of ``chunk`` bytes: a very long last line is read a few times over,
    never gathered and split once per block."""
    try:
        return _tail(f, chunk)
    except (OSError, ValueError):
        return None, False


def _tail(f, chunk: int) -> tuple:
    f.seek(0, 2)
    end = f.tell()
    if end == 0:
        return None, False
    f.seek(end - 1)
    torn = f.read(1) != b"\n"
    # where the last non-blank byte ends (``bytes.strip`` whitespace, as ``is_blank``)
    pos, stop = end, None
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        f.seek(pos)
        kept = f.read(step).rstrip()
        if kept:
            stop = pos + len(kept)
            break
    if stop is None:
        return None, torn
    # its line: from just after the newline before it to the newline after it (or the end)
    start, pos = 0, stop
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        f.seek(pos)
        i = f.read(step).rfind(b"\n")
        if i >= 0:
            start = pos + i + 1
            break
    line_end, pos = end, stop
    f.seek(stop)
    while pos < end:
        block = f.read(min(chunk, end - pos))
        if not block:
            break
        i = block.find(b"\n")
        if i >= 0:
            line_end = pos + i
            break
        pos += len(block)
    h = hashlib.sha256()
    f.seek(start)
    pos = start
    while pos < line_end:
        block = f.read(min(chunk, line_end - pos))
        if not block:
            break
        h.update(block)
        pos += len(block)
    return h.hexdigest(), torn


class DecisionLogWriter:
    """Writes one run of a chained decision log (format 2) to ``f``.

    ``f`` is a binary file the caller opened for appending, and for reading too
    (``open(path, "a+b")``) so that the run can chain to the log already there: the
    header's ``prev`` is the sha256 of the file's last line, and a last line without
    its newline (a run killed mid-write) is ended first, so the new run starts on a
    line of its own. With ``lean``, entries keep only rule id, severity and line per
    finding (the header says so). The header is written at once; ``add`` and ``finish`` write the
    entries as ``DecisionLogger`` releases them; ``close`` writes the footer, which
    says whether the run got to its end. Nothing here reads the clock: ``logged_at``
    (the footer's only wall-clock value) is the caller's.
    """

    def __init__(self, f, pack, as_of=None, rulecite_version: str = "", *, limits=None,
                 logged_at: str | None = None, lean: bool = False):
        from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS

        self.f = f
        self.logger = DecisionLogger(pack, as_of, rulecite_version, lean=lean)
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
                     "findings": "lean" if lean else "full", "rulecite": rulecite_version})

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


