"""``rulecite schema facts|results [PACK]``: print a contract's JSON Schema."""

from __future__ import annotations

import click

from rulecite.cli._errors import EXIT_OK
from rulecite.cli._output import stdout_text, write_json
from rulecite.cli._packs import load_rulepack

DEFAULT_PACK = "cms-care-management"


@click.command("schema", short_help="Print the JSON Schema of facts or results.")
@click.argument("which", type=click.Choice(["facts", "results"]), metavar="facts|results")
@click.argument("pack", required=False, metavar="[PACK]")
def command(which: str, pack: str | None) -> int:
    """Print the JSON Schema (2020-12) of the facts a pack reads, or of the results it gives.

    `facts` describes one input record of PACK (default: the bundled
    cms-care-management pack). `results` is Results contract v1; with PACK, its id
    and period keys are the pack's own.
    """
    from rulecite.interpreter.engine.schemas import facts_schema, results_schema

    if which == "facts":
        schema = facts_schema(load_rulepack(pack or DEFAULT_PACK).model)
    else:
        schema = results_schema(load_rulepack(pack).model if pack else None)
    click.echo(write_json(schema), file=stdout_text(), nl=False)
    return EXIT_OK
