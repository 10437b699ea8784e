"""``rulecite verify-log FILE PACK FACTS``: re-evaluate logged decisions and report any that differ."""

from __future__ import annotations

import click

from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    BadInput,
    load_rulepack,
    open_facts,
    pack_argument,
    plural,
    stdout_text,
    why,
    write_json,
)

SHOWN = 50


@click.command("verify-log", short_help="Re-check logged decisions against a pack.")
@click.argument("log_file", metavar="FILE", type=click.Path(dir_okay=False))
@pack_argument
@click.argument("facts", metavar="FACTS")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(log_file, pack, facts, fmt) -> int:
    """Re-evaluate every decision in a decision log (from `eval --decision-log`) with
    PACK and FACTS, each with its logged clock, and report any that differ.

    Decisions are matched by the hash of their input record (and of its history),
    so FACTS may be in another order. Exits 1 when a decision differs, its input is
    missing from FACTS, or a log line is unreadable.
    """
    from rulecite.interpreter import evaluate
    from rulecite.interpreter.audit import verify

    rp = load_rulepack(pack)
    try:
        with open(log_file, "rb") as f:
            log_lines = f.read().splitlines()
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read decision log `{log_file}`: {why(e)}") from None
    open_facts(facts).close()  # fail early, before any evaluation, on an unreadable file

    def items():
        source = open_facts(facts)
        try:
            yield from source.items()
        finally:
            source.close()

    report = verify(log_lines, rp, items, evaluate)
    out = stdout_text()
    if fmt == "json":
        click.echo(write_json({
            "ok": report.ok, "checked": report.checked, "same": report.same,
            "pack_now": report.pack_now, "packs_logged": list(report.packs_logged),
            "differ": [{"input_line": m.entry.get("input_line"), "id": m.entry.get("id"),
                        "period": m.entry.get("period"), "differences": list(m.differences)}
                       for m in report.mismatches],
            "missing": [{"input_line": m.entry.get("input_line"), "id": m.entry.get("id"),
                         "period": m.entry.get("period")} for m in report.missing],
            "bad_lines": [{"line": n, "reason": r} for n, r in report.bad_entries]}), file=out, nl=False)
    else:
        _text(report, out)
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _text(report, out):
    now = report.pack_now
    for p in report.packs_logged:
        if isinstance(p, dict) and p.get("sha256") != now["sha256"]:
            click.echo(f"note: decisions were logged with {p.get('name')} {p.get('version')} "
                       f"(lock {str(p.get('sha256'))[:12]}); verifying with {now['name']} {now['version']} "
                       f"(lock {now['sha256'][:12]})", file=out)
    for m in report.mismatches[:SHOWN]:
        e = m.entry
        click.echo(click.style("DIFFERS", fg="red", bold=True)
                   + f" {e.get('id')} {e.get('period')} (logged input line {e.get('input_line')}):", file=out)
        for d in m.differences:
            click.echo(f"    {d}", file=out)
    for m in report.missing[:SHOWN]:
        e = m.entry
        click.echo(click.style("MISSING", fg="yellow", bold=True)
                   + f" {e.get('id')} {e.get('period')} (logged input line {e.get('input_line')}): "
                   + m.differences[0], file=out)
    for n, reason in report.bad_entries[:SHOWN]:
        click.echo(click.style("BAD", fg="red") + f" log line {n}: {reason}", file=out)
    shown = len(report.mismatches) + len(report.missing) + len(report.bad_entries)
    if shown > 3 * SHOWN:
        click.echo(f"  ... (first {SHOWN} of each kind shown)", file=out)
    colour = "green" if report.ok else "red"
    click.echo(click.style(f"{plural(report.checked, 'decision')} checked: {report.same:,} reproduced, "
                           f"{len(report.mismatches):,} differ, {len(report.missing):,} missing"
                           + (f", {len(report.bad_entries):,} unreadable" if report.bad_entries else ""),
                           fg=colour), file=out)
