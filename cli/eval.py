"""``rulecite eval PACK FACTS``: evaluate records and write one result per record."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import textwrap
from collections import Counter

import click
from rulecite import __version__
from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS, Limits
from rulecite.interpreter.engine.reading import OversizedLine

from rulecite.cli._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    BadInput,
    GuardedOutput,
    RunStopped,
    Progress,
    as_of_option,
    citation_text,
    facts_argument,
    load_rulepack,
    open_facts,
    pack_argument,
    pack_root,
    plural,
    stderr_text,
    stdout_text,
    terminal_width,
    why,
)

REJECTIONS_SHOWN = 10


@click.command("eval", short_help="Evaluate facts against a pack.")
@pack_argument
@facts_argument
@click.option("--output", "-o", type=click.Choice(["jsonl", "json", "table", "csv"]), default="jsonl",
              show_default=True,
              help="jsonl: Results contract v1, one line per input record in input order, rejections "
                   "included; json: the same as one array; table: for people; csv: one row per claim line "
                   "(rejections only in the summary and --rejects).")
@as_of_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Evaluate in N processes; the output is identical to one process.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="dask: evaluate a JSONL file on a Dask cluster, partitioned by subject.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address (with --engine dask); default: a local cluster.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE", help="Also write every rejection to FILE as JSON Lines.")
@click.option("--decision-log", "log_path", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE",
              help="Append one audit line per record to FILE: input hash, pack lock, clock, verdicts "
                   "(see `rulecite verify-log`).")
@click.option("--fail-on", type=click.Choice(["deny", "warn"]), default=None,
              help="Exit 1 when a line is denied (deny) or any deny or warn finding is made (warn). A "
                   "rejected record counts too: nobody judged it.")
@click.option("--max-record-bytes", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_record_bytes,
              show_default=True, metavar="N",
              help="A JSON Lines record longer than N bytes is rejected before it is decoded.")
@click.option("--max-depth", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_depth, show_default=True,
              metavar="N", help="A record whose JSON nests deeper than N levels is rejected.")
@click.option("--max-steps", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_steps, show_default=True,
              metavar="N", help="A record whose evaluation walks more than N items (quantifiers, aggregates, "
                                "`in` over lists) is rejected, naming the rule.")
@click.option("--max-lines", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_lines, show_default=True,
              metavar="N", help="A record with more than N lines (the pack's [record] lines) is rejected.")
@click.option("--max-group", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_group, show_default=True,
              metavar="N", help="A subject's group (its records in a row, which history reads) holds at most N "
                                "records; the next ones form a new group, with a note on their results.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def command(pack, facts, output, as_of, jobs, engine, scheduler, rejects_path, log_path, fail_on,
            max_record_bytes, max_depth, quiet, max_lines=DEFAULT_LIMITS.max_lines,
            max_group=DEFAULT_LIMITS.max_group, max_steps=DEFAULT_LIMITS.max_steps) -> int:
    """Evaluate FACTS against PACK: one result per record, in input order.

    FACTS is a JSON Lines file (streamed), a .json file holding an array of records
    (or one record), or - for stdin. Results go to stdout; the summary (records
    read, results, rejections, lines allowed and denied, findings by rule) and a
    progress line (on a terminal, for long runs) go to stderr. Exits 0, or 1 with
    --fail-on when something failed.
    """
    rp = load_rulepack(pack)
    if engine == "dask" and (facts == "-" or facts.endswith(".json")):
        raise BadInput("--engine dask reads a JSON Lines file; give its path (not - or a .json file)")
    if scheduler and engine != "dask":
        raise BadInput("--scheduler needs --engine dask")
    source = open_facts(facts, max_record_bytes)
    out = GuardedOutput(stdout_text(), "standard output")
    writer = _writer(output, out, rp.model.shape)
    tally = Tally()
    counted = not quiet or fail_on is not None  # the summary and --fail-on read every result
    progress = Progress(source)
    rejects = _open(rejects_path, "w") if rejects_path else None
    rejects = GuardedOutput(rejects, f"`{rejects_path}`") if rejects is not None else None
    dlog = _open_log(log_path) if log_path else None
    logger, stopped = None, None
    try:
        from rulecite.interpreter.tools.audit import DecisionLogWriter, RawTee

        items = RawTee(source.items()) if dlog else source.items()
        limits = Limits(max_record_bytes=max_record_bytes, max_depth=max_depth, max_lines=max_lines,
                        max_group=max_group, max_steps=max_steps)
        if dlog:  # the header now; entries as their subject's group ends; the footer in `finally`
            logger = DecisionLogWriter(dlog, rp, as_of, __version__, limits=limits, logged_at=_now())
        for item in _results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits):
            tally.add(item, counted)
            writer.write(item)
            if rejects is not None and item.kind == "rejection":
                rejects.write(item.to_json() + "\n")
            if logger is not None:
                logger.add(item, items.pop(item.input_line))
            progress.tick()
        if logger is not None:
            logger.finish()
        writer.close()
        out.flush()
    except BaseException as e:
        detail = getattr(e, "message", None)
        stopped = f"the run stopped early ({e.__class__.__name__}{': ' + detail if detail else ''})"
        raise
    finally:
        progress.done()
        source.close()
        if logger is not None:  # the footer: complete only when every entry was written
            try:
                logger.close(reason=stopped)
            except Exception as e:  # noqa: BLE001 - a run already stopping shows its own error; no footer
                if stopped is None:  # then says the log is incomplete
                    if isinstance(e, OSError):
                        raise BadInput(f"cannot write `{log_path}`: {why(e)}") from None
                    raise
        for f in (rejects, dlog):
            if f is not None:
                f.close()
    if not quiet:
        _summary(tally, rejects_path, stderr_text())
    return EXIT_FINDINGS if tally.fails(fail_on) else EXIT_OK


def _results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits):
    if engine != "local" or jobs > 1:
        return _worker_failures(_engine_results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler,
                                                limits))
    return _engine_results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits)


def _worker_failures(results):
    """The results of a parallel run; a worker process that died stops the run with a message."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        yield from results
    except BrokenProcessPool:
        raise RunStopped("a worker process stopped unexpectedly (killed, or out of memory): the output is "
                         "incomplete") from None


def _engine_results(rp, pack, facts, source, items, as_of, jobs, engine, scheduler, limits):
    if engine == "dask":
        pack_root(pack)
        return _parallel().evaluate_dask(pack, facts, scheduler=scheduler, as_of=as_of, limits=limits)
    if jobs > 1:
        lines = (i if isinstance(i, (bytes, str, OversizedLine)) else json.dumps(i, ensure_ascii=False)
                 for i in items)
        return _parallel().evaluate_parallel(pack, lines, jobs=jobs, as_of=as_of, limits=limits)
    from rulecite.interpreter import evaluate

    return evaluate(rp, items, as_of=as_of, limits=limits)


def _parallel():
    try:
        from rulecite.interpreter.engine import parallel
    except ImportError:
        raise BadInput("--jobs and --engine dask need rulecite.interpreter.engine.parallel, which this installation "
                       "lacks") from None
    return parallel


def _open(path: str, mode: str):
    try:
        return open(path, mode, encoding="utf-8", newline="\n")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot write `{path}`: {why(e)}") from None


def _open_log(path: str):
    """The decision log, opened to append and to read its last line (which the run chains to)."""
    try:
        return open(path, "a+b")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot write `{path}`: {why(e)}") from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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

    def fails(self, fail_on) -> bool:
        if fail_on is None:
            return False
        bad = self.denied or self.deny_findings or self.rejections
        return bool(bad or (fail_on == "warn" and self.warn_findings))


def _summary(t: Tally, rejects_path, err):
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
            click.echo(f"    input line {r.input_line} at {r.path}: {r.reason}", file=err)


# ---------------------------------------------------------------- writers


def _writer(kind: str, out, shape):
    return {"jsonl": JsonlWriter, "json": JsonWriter, "csv": CsvWriter, "table": TableWriter}[kind](out, shape)


class JsonlWriter:
    def __init__(self, out, shape):
        self.out = out

    def write(self, item):
        # to_json, not dumps(d): the same text by definition, made faster (with orjson), and
        # in parallel runs already made by the worker
        self.out.write(item.to_json() + "\n")

    def close(self):
        pass


class JsonWriter:
    """A JSON array, one element per line, written as the results come."""

    def __init__(self, out, shape):
        self.out = out
        self.first = True

    def write(self, item):
        self.out.write(("[\n" if self.first else ",\n") + item.to_json())  # see JsonlWriter
        self.first = False

    def close(self):
        self.out.write("[]\n" if self.first else "\n]\n")


class CsvWriter:
    """One row per claim line: who, when, which line, the verdict, the rules and their citations."""

    def __init__(self, out, shape):
        self.out = out
        self.buf = io.StringIO()
        self.csv = csv.writer(self.buf, lineterminator="\n")
        self.csv.writerow(["input_line", shape.id, shape.period, "line", "code", "verdict", "rules", "warnings",
                           "citations"])
        self._flush()

    def _flush(self):
        self.out.write(self.buf.getvalue())
        self.buf.seek(0)
        self.buf.truncate()

    def write(self, item):
        if item.kind == "rejection":
            return
        for v in item.lines:
            cites = []
            for f in item.findings:
                if f.severity == "deny" and f.rule in v.rules and f.line in (v.line, None):
                    cites.extend(citation_text(c) for c in f.citations)
            self.csv.writerow([item.input_line, _cell(item.id), item.period, _cell(v.line), _cell(v.code), v.verdict,
                               ";".join(v.rules), ";".join(v.warnings), " | ".join(dict.fromkeys(cites))])
        self._flush()

    def close(self):
        pass


def _cell(v):
    text = "" if v is None else str(v)
    # A leading = + - @ would make a spreadsheet run the cell as a formula.
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
            who = " ".join(str(x) for x in (item.id, item.period) if x is not None)
            w(self.style("REJECTED", fg="red", bold=True) + f"  input line {item.input_line}"
              + (f"  ({who})" if who else "") + "\n")
            w(self._wrap(f"{item.path}: {item.reason}", "  "))
            return
        w(self.style(f"{self.shape.id} {item.id}", bold=True) + f"  {self.shape.period} {item.period}"
          + f"  (input line {item.input_line})\n")
        codes = [str(v.code) for v in item.lines] or ["code"]
        cw = max(6, max(len(c) for c in codes))
        lw = max(4, max((len(str(v.line)) for v in item.lines), default=4))
        w(self.style(f"  {'line':<{lw}}  {'code':<{cw}}  verdict  rules", dim=True) + "\n")
        for v in item.lines:
            word = "DENY" if v.verdict == "deny" else "allow"
            verdict = self.style(word, fg="red", bold=True) if v.verdict == "deny" else self.style(word, fg="green")
            rules = ", ".join(v.rules)
            if v.warnings:
                rules += (" " if rules else "") + self.style("warn: " + ", ".join(v.warnings), fg="yellow")
            tail = (" " * (7 - len(word)) + "  " + rules) if rules else ""
            w(f"  {str(v.line):<{lw}}  {str(v.code):<{cw}}  {verdict}{tail}\n")
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
        width = max(40, self.width - len(indent))
        lines = textwrap.wrap(text, width=width - head_len, break_long_words=False, break_on_hyphens=False) or [""]
        out = indent + head + lines[0] + "\n"
        rest = textwrap.wrap(" ".join(lines[1:]), width=width - 2, break_long_words=False,
                             break_on_hyphens=False) if len(lines) > 1 else []
        return out + "".join(indent + "  " + r + "\n" for r in rest)

    def close(self):
        pass
