"""``rulecite sources PACK``: the citation report, sources by authority and the rules citing each."""

from __future__ import annotations

import click

from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK
from rulecite.cli._options import pack_argument
from rulecite.cli._output import stdout_text, write_json
from rulecite.cli._packs import load_rulepack


@click.command("sources", short_help="Report every source by authority and the rules citing each.")
@pack_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people; json for scripts (rules, sources, totals).")
@click.option("--require-primary", is_flag=True, default=False,
              help="Exit 1 when a rule rests on secondary sources only (or cites nothing).")
def command(pack: str, fmt: str, require_primary: bool) -> int:
    """The citation report of PACK: sources grouped by tier (primary: statutes, regulations,
    Final Rules and corrections, manuals, guidance, code descriptors; contractor; secondary)
    with title, citation, dates, address and the rules citing each; every rule's citations
    in authority order; and the totals: rules with a primary citation, rules resting on
    secondary sources only.
    """
    from rulecite.interpreter.reports.sources import citation_report, render_text

    report = citation_report(load_rulepack(pack).model)
    out = stdout_text()
    if fmt == "json":
        click.echo(write_json(report), file=out, nl=False)
    else:
        click.echo(render_text(report), file=out, nl=False)
    t = report["totals"]
    weak = t["rules_secondary_only"] + t["rules_without_citation"]
    return EXIT_FINDINGS if require_primary and weak else EXIT_OK
