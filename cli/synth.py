"""``rulecite synth PACK N``: synthetic records for demos and benchmarks."""

from __future__ import annotations

import click

from rulecite.cli._errors import EXIT_OK, BadInput
from rulecite.cli._options import pack_argument
from rulecite.cli._output import stdout_text
from rulecite.cli._packs import load_rulepack


@click.command("synth", short_help="Write synthetic records for demos and benchmarks.")
@pack_argument
@click.argument("count", type=click.IntRange(min=0), metavar="N")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same records.")
def command(pack: str, count: int, seed: int) -> int:
    """Write N synthetic records as JSON Lines: copies of the pack's test cases with
    fresh ids, moved in time within the pack's coverage and with numbers nudged
    within the facts schema, so clean and faulty cases mix as in the tests."""
    from rulecite.interpreter.engine.results import dumps
    from rulecite.interpreter.tools.synth import SynthError, synthesize

    rp = load_rulepack(pack)
    out = stdout_text()
    try:
        for rec in synthesize(rp, count, seed):
            out.write(dumps(rec) + "\n")
    except SynthError as e:
        raise BadInput(str(e)) from None
    out.flush()
    return EXIT_OK
