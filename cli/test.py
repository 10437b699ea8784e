"""``rulecite test PACK``: run the tests written inside a pack."""

from __future__ import annotations

from pathlib import Path

import click
from rulecite.interpreter.tools.packtest import run_tests

from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK
from rulecite.cli._options import pack_argument
from rulecite.cli._output import stdout_text
from rulecite.cli._packs import load_rulepack, relpath


@click.command("test", short_help="Run the tests written inside a pack.")
@pack_argument
@click.option("--coverage", is_flag=True,
              help="Also list rules without a deny case, an allow case, or a case on each side of each "
                   "effective date.")
@click.option("--update", is_flag=True,
              help="Re-record the expect lines of failing tests from what the pack now decides "
                   "(review the change with git diff).")
def command(pack: str, coverage: bool, update: bool) -> int:
    """Run the pack's tests: one line per failure, then `N passed, N failed`.

    Exits 1 when a test fails (after --update: when one still fails).
    """
    rp = load_rulepack(pack)
    report = run_tests(rp)
    out = stdout_text()
    if update and report.failed:
        from rulecite.interpreter.tools.rerecord import rerecord

        texts = rerecord(rp, report)
        for path, text in texts.items():
            Path(path).write_text(text, encoding="utf-8", newline="\n")
            click.echo(f"re-recorded expectations in {relpath(path)}", err=True)
        rp = load_rulepack(pack)
        report = run_tests(rp)
    for case in report.cases:
        if case.passed:
            continue
        where = f"{relpath(case.file)}:{case.line}"
        subject = _subject(rp, case.result)
        for failure in case.failures:
            click.echo(f"{click.style('FAIL', fg='red', bold=True)} {where} {case.name!r}{subject}: {failure}",
                       file=out)
    if coverage:
        _coverage(report.coverage, out)
    colour = "red" if report.failed else "green"
    click.echo(click.style(f"{report.passed} passed, {report.failed} failed", fg=colour), file=out)
    return EXIT_FINDINGS if report.failed else EXIT_OK


def _subject(rp, result) -> str:
    shape = rp.model.shape
    rec = getattr(result, "record", None)
    if isinstance(rec, dict):
        return f" [{shape.id} {rec.get(shape.id)}, {shape.period} {rec.get(shape.period)}]"
    if result is not None and getattr(result, "id", None) is not None:
        return f" [{shape.id} {result.id}, {shape.period} {result.period}]"
    return ""


def _coverage(cov, out):
    if cov.complete:
        click.echo("coverage: every rule has a deny case, an allow case and cases on both sides of its dates",
                   file=out)
        return
    click.echo("coverage:", file=out)
    if cov.without_deny:
        click.echo(f"  rules without a deny case ({len(cov.without_deny)}):", file=out)
        for r in cov.without_deny:
            click.echo(f"    {r}", file=out)
    if cov.without_allow:
        click.echo(f"  rules without an allow case ({len(cov.without_allow)}):", file=out)
        for r in cov.without_allow:
            click.echo(f"    {r}", file=out)
    if cov.without_boundary:
        click.echo(f"  rules without a case on each side of a date ({len(cov.without_boundary)}):", file=out)
        for r, d in cov.without_boundary:
            click.echo(f"    {r}  {d}", file=out)
    if cov.without_unit_case:
        click.echo(f"  unit-limit rules (tag units) without a case breaking the limit for a code "
                   f"({len(cov.without_unit_case)}):", file=out)
        for r, code in cov.without_unit_case:
            click.echo(f"    {r}  {code}", file=out)
