"""``rulecite diff OLD NEW``: what changed between two pack versions, or two service dates."""

from __future__ import annotations

import click

from rulecite.cli._errors import EXIT_OK, BadInput
from rulecite.cli._facts import open_facts
from rulecite.cli._options import DateParam, as_of_option
from rulecite.cli._output import stdout_text, write_json
from rulecite.cli._packs import load_rulepack


@click.command("diff", short_help="Show what changed between two pack versions or dates.")
@click.argument("old", metavar="OLD")
@click.argument("new", required=False, metavar="[NEW]")
@click.option("--date-a", type=DateParam(months=True), default=None, metavar="DATE",
              help="Compare one pack (OLD) between two service dates: the first (YYYY-MM-DD or YYYY-MM).")
@click.option("--date-b", type=DateParam(months=True), default=None, metavar="DATE",
              help="The second service date.")
@click.option("--facts", "facts", default=None, metavar="FILE",
              help="Also evaluate this population under both sides and report every changed verdict, "
                   "grouped by rule.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="markdown reads well in a release note.")
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True, metavar="N",
              help="Example records per rule in the decision impact (JSON also lists every change).")
@click.option("--carry-forward/--no-carry-forward", "carry", default=True, show_default=True,
              help="With --facts: judge the service dates NEW covers after OLD's last covered date with OLD's "
                   "rules and values in force on that date, carried forward (marked in the report); without it "
                   "OLD rejects them.")
@as_of_option
def command(old, new, date_a, date_b, facts, fmt, examples, carry, as_of) -> int:
    """Show what changed between two versions of a pack (OLD NEW), or in one pack
    between two service dates (OLD --date-a A --date-b B): coverage and other pack.toml
    settings that change verdicts; rules added, removed, superseded, retired or changed;
    dated parameter values added, changed or removed (with the citations of both sides);
    definitions added, removed or changed; sets whose members change; codes added, ended
    or replaced; sources added."""
    from rulecite.interpreter.reports import diff as render_diff
    from rulecite.interpreter.reports import impact as render_impact
    from rulecite.policy_lang import diff as pdiff

    if (date_a is None) != (date_b is None):
        raise BadInput("give both --date-a and --date-b, or neither")
    if date_a is not None:
        if new is not None:
            raise BadInput("with --date-a/--date-b give one pack: `rulecite diff PACK --date-a A --date-b B`")
        a = b = load_rulepack(old)
        d = pdiff.diff_dates(a.model, date_a, date_b)
    else:
        if new is None:
            raise BadInput("give two packs (OLD NEW), or one pack with --date-a and --date-b")
        a, b = load_rulepack(old), load_rulepack(new)
        d = pdiff.diff_packs(a.model, b.model)
    impact = None
    if facts is not None:
        from rulecite.interpreter.tools import impact as pimpact

        source = open_facts(facts)
        try:  # read as the evaluations go (between two packs: see decision_impact)
            impact = pimpact.decision_impact(a, b, source.items(), date_a=date_a, date_b=date_b, as_of=as_of,
                                             examples=examples, carry=carry)
        finally:
            source.close()
    out = stdout_text()
    if fmt == "json":
        doc = d.to_dict()
        if impact is not None:
            doc["impact"] = impact.to_dict()
        click.echo(write_json(doc), file=out, nl=False)
    elif fmt == "markdown":
        text = render_diff.render_markdown(d)
        if impact is not None:
            text += "\n" + render_impact.render_markdown(impact)
        click.echo(text, file=out, nl=False)
    else:
        text = render_diff.render_text(d)
        if impact is not None:
            text += render_impact.render_text(impact)
        click.echo(text, file=out, nl=False)
    return EXIT_OK
