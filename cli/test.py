"""``rulecite test PACK``: run the tests written inside a pack (``-k`` for some of them),
and ``--boundaries``: the pack's test records moved across each date where the pack changes."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK, BadInput
from rulecite.cli._options import pack_argument
from rulecite.cli._output import stdout_text, write_json
from rulecite.cli._packs import load_rulepack, relpath
from rulecite.interpreter.reports.markup import plain_text
from rulecite.interpreter.tools.packtest import outcomes, run_tests
from rulecite.policy_lang import did_you_mean


@click.command("test", short_help="Run the tests written inside a pack.")
@pack_argument
@click.option("-k", "select", multiple=True, metavar="TEXT",
              help="Run only the tests whose name, or whose file name, holds TEXT (ignoring case); "
                   "repeat to run the tests matching any. Selecting none, or an empty TEXT, is an error.")
@click.option("--coverage", is_flag=True,
              help="Also list rules without a deny case, an allow case, or a case on each side of each "
                   "effective date (of the selected tests, with -k).")
@click.option("--update", is_flag=True,
              help="Re-record the expect lines of failing tests from what the pack now decides "
                   "(review the change with git diff).")
@click.option("--boundaries", is_flag=True,
              help="Instead of checking expectations: move each test's records to just before and onto "
                   "every date where a rule, a code or a dated value starts, ends or changes, and list each "
                   "line whose verdict changes across it (the rules and citations on each side), and the "
                   "dates no test record reaches.")
@click.option("--output", "output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="With --boundaries: the report as text or as JSON.")
def command(pack: str, select: tuple, coverage: bool, update: bool, boundaries: bool, output: str) -> int:
    """Run the pack's tests: for each failure one FAIL line, what each line of the record got
    (the rules that fired, with severity) beside what the test expected, and the
    `rulecite explain` command that shows why; then `N passed, N failed`.

    Exits 1 when a test fails (after --update: when one still fails), 2 when -k selects
    no test. With --boundaries, exits 0 and reports (see `Boundary cases` in the
    yearly-update guide).
    """
    if any(not k.strip() for k in select):
        raise BadInput("-k is empty: it would select every test (was a variable left unset?)",
                       hints=("give -k a piece of a test's name or file name, or leave -k out to run every test",))
    if boundaries and (update or coverage):
        raise BadInput("--boundaries runs on its own: leave out --update and --coverage")
    if output != "text" and not boundaries:
        raise BadInput("--output is for --boundaries; the test run itself writes text")
    rp = load_rulepack(pack)
    if boundaries:
        return _boundaries(rp, select, output)
    report = _run(rp, select)
    out = stdout_text()
    if update and report.failed:
        from rulecite.interpreter.tools.rerecord import rerecord

        texts = rerecord(rp, report)
        for path, text in texts.items():
            Path(path).write_text(text, encoding="utf-8", newline="\n")
            click.echo(f"re-recorded expectations in {relpath(path)}", err=True)
        rp = load_rulepack(pack)
        report = _run(rp, select)
    for case in report.cases:
        if not case.passed:
            _failure(pack, rp, case, out)
    if coverage:
        _coverage(report.coverage, out)
    colour = "red" if report.failed else "green"
    summary = f"{report.passed} passed, {report.failed} failed"
    if select:
        summary += f" ({len(report.cases)} selected, {report.deselected} deselected by -k)"
    click.echo(click.style(summary, fg=colour), file=out)
    return EXIT_FINDINGS if report.failed else EXIT_OK


def _run(rp, select):
    report = run_tests(rp, select=select)
    if select and not report.cases:
        raise _nothing_selected(rp, select, report.deselected)
    return report


def _nothing_selected(rp, select, total) -> BadInput:
    ks = " ".join(f"-k {shlex.quote(k)}" for k in select)
    own = [t for t in rp.model.tests if t.pack == rp.model.name]
    names = [t.name for t in own] + sorted({Path(t.file).name for t in own})
    hints = tuple(h for k in select for h in did_you_mean(k, names))
    return BadInput(f"{ks} selects none of the {total} tests of {rp.model.name}: nothing was run",
                    hints or ("-k matches a piece of a test's name or of its file's name, ignoring case",))


def explain_command(pack: str, case) -> str:
    """The ``rulecite explain`` command line that traces a failing case, ready to paste."""
    cmd = ["rulecite", "explain", pack, "--test", case.name]
    line = next((ln for ln in case.failed_lines if ln is not None), None)
    if line is not None:
        cmd += ["--line", str(line)]
    return " ".join(shlex.quote(str(c)) for c in cmd)


def _failure(pack: str, rp, case, out):
    where = f"{relpath(case.file)}:{case.line}"
    subject = _subject(rp, case.result)
    for failure in case.failures:
        click.echo(f"{click.style('FAIL', fg='red', bold=True)} {where} {case.name!r}{plain_text(subject)}: "
                   f"{plain_text(failure)}", file=out)
    for o in outcomes(case):
        mark = click.style("x", fg="red", bold=True) if o.failed else " "
        fired = ("fired " + ", ".join(f"{r} v{v} ({sev})" for r, v, sev in o.fired)) if o.fired else "no rule fired"
        if o.line is None and o.verdict == "rejected":
            click.echo(f"  {mark} record: rejected", file=out)
        elif o.line is None:
            click.echo(f"  {mark} record: {fired}", file=out)
        else:
            click.echo(f"  {mark} line {plain_text(o.line)} {plain_text(o.code)}: got {o.verdict}; {fired}", file=out)
        if o.expected:
            click.echo(f"      expected: {'; '.join(_short_expect(e, o.line) for e in o.expected)}", file=out)
    if case.test is not None and case.test.pack == rp.model.name:
        click.echo(f"    see why: {explain_command(pack, case)}", file=out)


def _short_expect(text: str, line) -> str:
    """``expect line 1 deny x`` -> ``deny x`` on the line's row; ``expect finding x`` ->
    ``finding x`` on the record's."""
    prefix = f"expect line {line} " if line is not None else "expect "
    return text.removeprefix(prefix)


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


def _boundaries(rp, select, output: str) -> int:
    from rulecite.interpreter.reports.boundaries import boundaries_text
    from rulecite.interpreter.tools.boundaries import boundary_report

    report = boundary_report(rp, select=select)
    if select and not report.tests:
        raise _nothing_selected(rp, select, report.deselected)
    out = stdout_text()
    if output == "json":
        click.echo(write_json(report.to_dict()), file=out, nl=False)
    else:
        click.echo(boundaries_text(report), file=out, nl=False)
    return EXIT_OK
