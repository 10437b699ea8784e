"""``rulecite verify-log FILE PACK FACTS``: check a decision log's chain and runs, and re-evaluate its decisions."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import click

from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK, BadInput, why
from rulecite.cli._facts import open_facts, stdin_bytes
from rulecite.cli._options import pack_argument
from rulecite.cli._output import plural, stdout_text, write_json
from rulecite.cli._packs import load_rulepack
from rulecite.interpreter.reports.markup import plain_text

SHOWN = 50


@click.command("verify-log", short_help="Re-check a decision log and its decisions against a pack.")
@click.argument("log_file", metavar="FILE", type=click.Path(dir_okay=False))
@pack_argument
@click.argument("facts", metavar="FACTS")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--allow-other-pack", is_flag=True,
              help="A run logged with another pack (name, version or lock) is a note, not a failure: to see "
                   "which decisions a new pack version changes.")
@click.option("--subset", is_flag=True,
              help="The log covers only part of FACTS: do not report facts records with no entry.")
def command(log_file, pack, facts, fmt, allow_other_pack, subset) -> int:
    """Check a decision log (from `eval --decision-log`): its hash chain, each run's
    header and footer, and every decision, re-evaluated with PACK and FACTS at its
    logged clock.

    Decisions are matched by the hash of their input record (and of its history),
    so FACTS may be in another order. FACTS may be - (stdin): it is kept in a
    temporary file while the log is checked, as it is read once per clock. Exits 1 when the chain is broken (a line
    deleted, repeated, moved or edited), a run has no footer or wrong counts or
    stopped early, a run was logged with another pack (unless --allow-other-pack),
    a decision differs, its input is missing from FACTS, a facts record has no
    entry (unless --subset), one run logged a record twice, or a log line is
    unreadable. A log of format 1 (no chain) is checked with a warning: tampering
    cannot be seen in it.
    """
    rp = load_rulepack(pack)
    try:
        with open(log_file, "rb") as f:
            log_lines = f.read().split(b"\n")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read decision log `{log_file}`: {why(e)}") from None
    if facts == "-":  # read once per clock in the log: stdin is copied to a file it can be read from again
        with _stdin_copy() as copy:
            return _verify(log_lines, rp, copy, fmt, allow_other_pack, subset)
    return _verify(log_lines, rp, facts, fmt, allow_other_pack, subset)


@contextlib.contextmanager
def _stdin_copy():
    with tempfile.TemporaryDirectory(prefix="rulecite-verify-") as tmp:
        path = os.path.join(tmp, "facts")
        try:
            with open(path, "wb") as f:
                shutil.copyfileobj(stdin_bytes(), f, 1 << 20)
        except OSError as e:
            raise BadInput(f"cannot keep the facts read from stdin: {why(e)}") from None
        yield path


def _verify(log_lines, rp, facts, fmt, allow_other_pack, subset) -> int:
    from rulecite.interpreter import evaluate
    from rulecite.interpreter.tools.verify import verify

    open_facts(facts).close()  # fail early, before any evaluation, on an unreadable file

    def items():
        source = open_facts(facts)
        try:
            yield from source.items()
        finally:
            source.close()

    report = verify(log_lines, rp, items, evaluate, allow_other_pack=allow_other_pack, subset=subset)
    out = stdout_text()
    if fmt == "json":
        click.echo(write_json(_json(report)), file=out, nl=False)
    else:
        _text(report, out)
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _where(e: dict) -> dict:
    return {"input_line": e.get("input_line"), "id": e.get("id"), "period": e.get("period")}


def _json(report) -> dict:
    last = report.last_line
    return {
        "ok": report.ok, "checked": report.checked, "same": report.same,
        "pack_now": report.pack_now, "packs_logged": list(report.packs_logged),
        "runs": report.runs, "unchained_lines": len(report.unchained),
        "last_line": None if last is None else {"line": last[0], "sha256": last[1]},
        "log_problems": [{"line": p.line, "kind": p.kind, "message": p.message} for p in report.problems],
        "pack_changes": [{"line": n, "pack": p, "allowed": report.allow_other_pack} for n, p in report.pack_changes],
        "differ": [{"log_line": m.line, **_where(m.entry), "differences": list(m.differences)}
                   for m in report.mismatches],
        "missing": [{"log_line": m.line, **_where(m.entry)} for m in report.missing],
        "unlogged": [_where(e) for e in report.unlogged],
        "twice": [{"log_line": m.line, **_where(m.entry), "first": m.differences[0]} for m in report.twice],
        "bad_lines": [{"line": n, "reason": r} for n, r in report.bad_entries]}


def _pack(p) -> str:
    if not isinstance(p, dict):
        return str(p)
    return plain_text(f"{p.get('name')} {p.get('version')} (lock {str(p.get('sha256'))[:12]})")


def _text(report, out):
    def say(text):
        click.echo(text, file=out)

    now = report.pack_now
    if report.unchained:
        say(click.style("warning:", fg="yellow", bold=True)
            + f" unchained log (format 1), log lines {report.unchained[0]}-{report.unchained[-1]}: tamper checks "
              "not possible (a deleted, repeated, reordered or edited entry cannot be seen); the decisions are "
              "still re-evaluated")
    for n, p in report.pack_changes:
        what = f"the run at log line {n}" if _is_run(report, n) else f"decisions from log line {n}"
        text = f"was logged with {_pack(p)}; verifying with {_pack(now)}"
        if isinstance(p, dict) and (p.get("name"), p.get("version")) == (now["name"], now["version"]):
            text += ": same name and version, another lock (the pack was changed without a new version)"
        if report.allow_other_pack:
            say(f"note: {what} {text}")
        else:
            subject = "the run" if _is_run(report, n) else "decisions"
            say(click.style("PACK", fg="red", bold=True) + f" log line {n}: {subject} {text}")
    for p in report.problems[:SHOWN]:
        where = f" log line {p.line}" if p.line is not None else ""
        say(click.style(p.kind, fg="red", bold=True) + f"{where}: {plain_text(p.message)}")
    for m in report.mismatches[:SHOWN]:
        e = m.entry
        say(click.style("DIFFERS", fg="red", bold=True)
            + f" {_who(e)} (logged input line {e.get('input_line')}, log line {m.line}):")
        for d in m.differences:
            say(f"    {plain_text(d)}")
    for m in report.missing[:SHOWN]:
        e = m.entry
        say(click.style("MISSING", fg="yellow", bold=True)
            + f" {_who(e)} (logged input line {e.get('input_line')}, log line {m.line}): "
            + m.differences[0])
    for e in report.unlogged[:SHOWN]:
        say(click.style("UNLOGGED", fg="red", bold=True)
            + f" {_who(e)} (facts input line {e.get('input_line')}): no entry in the log "
              "(it was deleted, or the run did not log it)")
    for m in report.twice[:SHOWN]:
        e = m.entry
        say(click.style("TWICE", fg="red", bold=True) + f" {_who(e)}: {m.differences[0]}")
    for n, reason in report.bad_entries[:SHOWN]:
        say(click.style("BAD", fg="red") + f" log line {n}: {reason}")
    kinds = (report.problems, report.mismatches, report.missing, report.unlogged, report.twice, report.bad_entries)
    if any(len(k) > SHOWN for k in kinds):
        say(f"  ... (first {SHOWN} of each kind shown; --format json lists all)")
    colour = "green" if report.ok else "red"
    extra = "".join(f", {len(v):,} {word}" for v, word in (
        (report.unlogged, "unlogged"), (report.twice, "twice"), (report.bad_entries, "unreadable"),
        (report.problems, "log problems" if len(report.problems) != 1 else "log problem")) if v)
    say(click.style(f"{plural(report.checked, 'decision')} checked: {report.same:,} reproduced, "
                    f"{len(report.mismatches):,} differ, {len(report.missing):,} missing{extra}", fg=colour))
    if report.last_line is not None:
        n, h = report.last_line
        say(f"log: {plural(report.runs, 'run')}; last line (log line {n}) sha256 {h}")


def _who(e: dict) -> str:
    """A logged subject and period on one line of text (they come from the records)."""
    return f"{plain_text(e.get('id'))} {plain_text(e.get('period'))}"


def _is_run(report, n) -> bool:
    return n not in report.unchained
