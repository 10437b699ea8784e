"""What ``rulecite eval`` writes: the results (JSON Lines, a JSON array, a table for
people, CSV with one row per claim line) and the summary on stderr (the ``Tally``).

Every writer takes results and rejections in input order, one ``write`` each, then
``close``; the JSON writers write ``to_json()`` of each, so their bytes are the
Results contract's by definition.
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections import Counter

import click

from rulecite.cli._output import plural, terminal_width
from rulecite.interpreter.engine.result_json import fast_road, json_bytes, json_line
from rulecite.interpreter.reports.citations import citation_text
from rulecite.interpreter.reports.markup import plain_text
from rulecite.policy_lang.authority import PRIMARY, tier_of

REJECTIONS_SHOWN = 10


# ---------------------------------------------------------------- the tally and summary


class Tally:
    def __init__(self):
        self.records = self.results = self.rejections = 0
        self.allowed = self.denied = 0
        self.by_rule: Counter = Counter()
        self.severity: dict = {}
        self.rejected: list = []
        self.deny_findings = self.warn_findings = 0

    def add(self, item, counted: bool = True):
        """Count one result or rejection (``counted`` off: count the record only)."""
        self.records += 1
        if item.kind == "rejection":
            self.rejections += 1
            if len(self.rejected) < REJECTIONS_SHOWN:
                self.rejected.append(item)
            return
        self.results += 1
        if not counted:
            return
        allowed, denied, found = item.counts()
        self.allowed += allowed
        self.denied += denied
        for rule, severity in found:
            self.by_rule[rule] += 1
            self.severity[rule] = severity
            if severity == "deny":
                self.deny_findings += 1
            elif severity == "warn":
                self.warn_findings += 1

    def add_chunk(self, chunk, counted: bool = True):
        """Count a parallel run's ``FinishedChunk`` as ``add`` counts each of its items."""
        rejections = chunk.rejections
        for r in rejections.values():
            self.add(r, counted)
        n = len(chunk) - len(rejections)
        self.records += n
        self.results += n
        if not counted:
            return
        allowed, denied, found = chunk.counts
        self.allowed += allowed
        self.denied += denied
        for (rule, severity), k in found:
            self.by_rule[rule] += k
            self.severity[rule] = severity
            if severity == "deny":
                self.deny_findings += k
            elif severity == "warn":
                self.warn_findings += k

    def fails(self, fail_on) -> bool:
        """Whether the run fails ``--fail-on``: ``fail_on`` holds deny (a denied line or deny
        finding), warn (those, or a warn finding) and reject (a rejected record)."""
        kinds = set(fail_on or ())
        if "reject" in kinds and self.rejections:
            return True
        if kinds & {"deny", "warn"} and (self.denied or self.deny_findings):
            return True
        return bool("warn" in kinds and self.warn_findings)

    def unjudged_note(self, fail_on) -> str | None:
        """A note when rejected records do not fail a run that fails on something else."""
        if fail_on and "reject" not in fail_on and self.rejections:
            return (f"note: {plural(self.rejections, 'rejected record')} did not fail this run (nobody judged "
                    "them); add --fail-on reject to fail on them")
        return None


def summary(t: Tally, rejects_path, err):
    click.echo(f"rulecite eval: {plural(t.records, 'record')} read: {plural(t.results, 'result')}, "
               f"{plural(t.rejections, 'rejection')}", file=err)
    denied = click.style(f"{t.denied:,} denied", fg="red" if t.denied else None)
    click.echo(f"  lines: {t.allowed:,} allowed, {denied}", file=err)
    if t.by_rule:
        click.echo("  findings by rule:", file=err)
        width = max(len(r) for r in t.by_rule)
        for rule, n in sorted(t.by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"    {rule:<{width}}  {t.severity[rule]:<4}  {n:>7,}", file=err)
    if t.rejected:
        more = t.rejections - len(t.rejected)
        where = f"; all in {rejects_path}" if rejects_path else ""
        head = f"  rejections{f' (first {len(t.rejected)}{where})' if more else where}:"
        click.echo(head, file=err)
        for r in t.rejected:
            reasons = [plain_text(x) for x in rejection_reasons(r)]
            click.echo(f"    input line {r.input_line} at {reasons[0]}", file=err)
            for reason in reasons[1:]:
                click.echo(f"      {reason}", file=err)


# ---------------------------------------------------------------- writers


def make_writer(kind: str, out, pack):
    """The writer of ``--output KIND`` (``pack``: the checked pack model)."""
    if kind == "csv":
        return CsvWriter(out, pack)
    return {"jsonl": JsonlWriter, "json": JsonWriter, "table": TableWriter}[kind](out, pack.shape)


class JsonlWriter:
    """One line per item: ``to_json() + "\\n"``. Where the output takes UTF-8 bytes
    (``GuardedOutput.utf8``) a result is written as the bytes of that text, made without
    the text (``result_json.json_line``) whenever the fast road gives them."""

    def __init__(self, out, shape):
        self.out = out
        self.utf8 = _utf8(out)

    def write(self, item):
        # to_json, not dumps(d): the same text by definition, made faster (with orjson), and
        # in parallel runs already made by the worker
        if self.utf8:
            data = json_line(item)
            self.out.write_utf8(data if data is not None else self.out.encode(item.to_json() + "\n"))
        else:
            self.out.write(item.to_json() + "\n")

    def write_texts(self, texts):
        """Write items given as their JSON texts (a parallel run's finished chunk)."""
        if texts:
            self._write("\n".join(texts) + "\n")

    def _write(self, text):
        if self.utf8:
            self.out.write_utf8(self.out.encode(text))
        else:
            self.out.write(text)

    def close(self):
        pass


class JsonWriter:
    """A JSON array, one element per line, written as the results come (as bytes where the
    output takes them, like ``JsonlWriter``)."""

    def __init__(self, out, shape):
        self.out = out
        self.first = True
        self.utf8 = _utf8(out)

    def write(self, item):
        head = "[\n" if self.first else ",\n"
        self.first = False
        if self.utf8:
            data = json_bytes(item)
            self.out.write_utf8(head.encode() + data if data is not None else self.out.encode(head + item.to_json()))
        else:
            self.out.write(head + item.to_json())  # see JsonlWriter

    def write_texts(self, texts):
        """Write items given as their JSON texts (a parallel run's finished chunk)."""
        if texts:
            JsonlWriter._write(self, ("[\n" if self.first else ",\n") + ",\n".join(texts))
            self.first = False

    def close(self):
        self.out.write("[]\n" if self.first else "\n]\n")


def _utf8(out) -> bool:
    """Whether ``out`` takes the UTF-8 bytes of results (a ``GuardedOutput`` that says so),
    and they can be made (orjson installed: else every result would be text anyway)."""
    utf8 = getattr(out, "utf8", None)
    return fast_road() and callable(utf8) and utf8()


class CsvWriter:
    """A biller's CSV: one row per claim line and rule that fired on it (one row for a clean
    line), one per record-level finding about no line, one per suggestion, one per reason a
    record was rejected. Columns: input line, the record's id and period, line, code,
    verdict (allow, deny, suggest, rejected), rule, severity, message, the rule's primary
    citation (its first primary-tier source, formatted by ``reports.citations``), the
    suggestion. Every text cell is defused for spreadsheets (see ``_cell``)."""

    def __init__(self, out, pack):
        self.out = out
        self.pack = pack
        self.primary: dict = {}  # source id -> is it primary-tier?
        self.buf = io.StringIO()
        # RFC 4180 line ends: a cell holding a carriage return or a newline is quoted
        self.csv = csv.writer(self.buf, lineterminator="\r\n")
        shape = pack.shape
        self.csv.writerow(["input_line", shape.id, shape.period, "line", "code", "verdict", "rule", "severity",
                           "message", "citation", "suggestion"])
        self._flush()

    def _flush(self):
        self.out.write(self.buf.getvalue())
        self.buf.seek(0)
        self.buf.truncate()

    def _primary_citation(self, f) -> str:
        for c in f.citations:
            name = c.get("source")
            if name not in self.primary:
                src = self.pack.source(name) if name else None
                self.primary[name] = src is not None and tier_of(src.kind) == PRIMARY
            if self.primary[name]:
                return citation_text(c)
        return ""

    def write(self, item):
        row = self.csv.writerow
        if item.kind == "rejection":
            for reason in rejection_reasons(item):
                row([item.input_line, _cell(item.id), _cell(item.period), "", "", "rejected", "", "error",
                     _cell(reason), "", ""])
            self._flush()
            return
        head = [item.input_line, _cell(item.id), _cell(item.period)]
        findings = item.findings
        claimed = set()
        for v in item.lines:
            fired = v.rules + v.warnings
            mine = [f for f in findings if (f.line is not None and f.line == v.line)
                    or (f.line is None and f.rule in fired)]
            line, code = _cell(v.line), _cell(v.code)
            if not mine:
                row(head + [line, code, v.verdict, "", "", "", "", ""])
            for f in mine:
                claimed.add(id(f))
                row(head + [line, code, v.verdict, _cell(f.rule), f.severity, _cell(f.message),
                            _cell(self._primary_citation(f)), _cell(f.suggestion)])
        for f in findings:
            if id(f) not in claimed:
                row(head + [_cell(f.line), "", "", _cell(f.rule), f.severity, _cell(f.message),
                            _cell(self._primary_citation(f)), _cell(f.suggestion)])
        for s in item.suggestions:
            units = f" x{s.units}" if s.units is not None else ""
            row(head + [_cell(s.line), "", "suggest", _cell(s.source), "", _cell(s.reason), "",
                        _cell(f"{s.code}{units}")])
        self._flush()

    def close(self):
        pass


def rejection_reasons(r) -> list:
    """Every reason a record was rejected, as text (``path: reason``), with a last line
    counting the errors the rejection leaves out."""
    out = [f"{path}: {reason}" for path, reason in r.errors]
    if r.errors_left_out:
        out.append(f"(and {plural(r.errors_left_out, 'more problem')} in this record)")
    return out


def _cell(v):
    """A cell's text, defused: a leading = + - @ (or tab, carriage return) would make a
    spreadsheet read it as a formula, so it gets a leading apostrophe (as OWASP advises)."""
    text = "" if v is None else str(v)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class TableWriter:
    """Per record a header, then per claim line its verdict and rule ids, and for each
    denial the message and its citations; wrapped to the terminal."""

    def __init__(self, out, shape):
        self.out = out
        self.shape = shape
        self.width = terminal_width(out)
        self.first = True
        self.style = click.style  # click.echo drops the colours off a terminal and with NO_COLOR

    def write(self, item):
        out = self.out

        def w(text):
            click.echo(text, file=out, nl=False)

        if not self.first:
            w("\n")
        self.first = False
        if item.kind == "rejection":
            who = " ".join(plain_text(x) for x in (item.id, item.period) if x is not None)
            w(self.style("REJECTED", fg="red", bold=True) + f"  input line {item.input_line}"
              + (f"  ({who})" if who else "") + "\n")
            for reason in rejection_reasons(item):
                w(self._wrap(reason, "  "))
            return
        w(self.style(f"{self.shape.id} {plain_text(item.id)}", bold=True) + f"  {self.shape.period} {plain_text(item.period)}"
          + f"  (input line {item.input_line})\n")
        codes = [plain_text(v.code) for v in item.lines] or ["code"]
        cw = max(6, max(len(c) for c in codes))
        lw = max(4, max((len(plain_text(v.line)) for v in item.lines), default=4))
        w(self.style(f"  {'line':<{lw}}  {'code':<{cw}}  verdict  rules", dim=True) + "\n")
        for v in item.lines:
            word = "DENY" if v.verdict == "deny" else "allow"
            verdict = self.style(word, fg="red", bold=True) if v.verdict == "deny" else self.style(word, fg="green")
            rules = ", ".join(v.rules)
            if v.warnings:
                rules += (" " if rules else "") + self.style("warn: " + ", ".join(v.warnings), fg="yellow")
            tail = (" " * (7 - len(word)) + "  " + rules) if rules else ""
            w(f"  {plain_text(v.line):<{lw}}  {plain_text(v.code):<{cw}}  {verdict}{tail}\n")
            for f in item.findings:
                if f.line == v.line and f.line is not None:
                    self._finding(f, " " * (lw + 4))
        record_level = [f for f in item.findings if f.line is None]
        if record_level:
            w("  whole record:\n")
            for f in record_level:
                self._finding(f, "    ")
        for s in item.suggestions:
            units = f" x{s.units}" if s.units is not None else ""
            w(self._wrap(f"suggest {s.code}{units}: {s.reason}", "  "))
        for n in item.notes:
            w(self._wrap("note: " + n, "  "))

    def _finding(self, f, indent):
        colour = {"deny": "red", "warn": "yellow"}.get(f.severity, "blue")
        head = self.style(f"{f.rule}", fg=colour) + f" ({f.severity}): "
        click.echo(self._wrap(f.message, indent, head, len(f.rule) + len(f.severity) + 5), file=self.out, nl=False)
        for c in f.citations:
            text = citation_text(c) + (f"  <{c['url']}>" if c.get("url") else "")
            click.echo(self._wrap(text, indent + "  ", self.style("cite ", dim=True), 5), file=self.out, nl=False)

    def _wrap(self, text, indent, head="", head_len=0):
        """``text`` (untrusted: record and pack values) as wrapped terminal lines."""
        text = plain_text(text)
        width = max(40, self.width - len(indent))
        lines = textwrap.wrap(text, width=width - head_len, break_long_words=False, break_on_hyphens=False) or [""]
        out = indent + head + lines[0] + "\n"
        rest = textwrap.wrap(" ".join(lines[1:]), width=width - 2, break_long_words=False,
                             break_on_hyphens=False) if len(lines) > 1 else []
        return out + "".join(indent + "  " + r + "\n" for r in rest)

    def close(self):
        pass
