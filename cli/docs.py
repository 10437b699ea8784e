"""``rulecite docs PACK --out DIR``: write a pack's reference pages."""

from __future__ import annotations

from pathlib import Path

import click

from rulecite.cli._errors import EXIT_OK, BadInput, why
from rulecite.cli._options import pack_argument
from rulecite.cli._packs import load_rulepack, relpath


@click.command("docs", short_help="Generate a pack's reference pages.")
@pack_argument
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the generated Markdown pages (created when missing).")
def command(pack: str, out_dir: str) -> int:
    """Generate the pack's reference pages (Markdown, for the documentation site):
    every rule with its citations, the code catalog, sources and sets."""
    try:
        from rulecite.interpreter.reports.site import write_pack_reference
    except ImportError:
        raise BadInput("this installation has no documentation generator (rulecite.interpreter.reports.site)") from None
    rp = load_rulepack(pack)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot create `{out_dir}`: {why(e)}") from None
    written = write_pack_reference(rp.model, out, exercised=_exercised(rp))
    count = len(written) if isinstance(written, (list, tuple, set, dict)) else None
    what = f"{count} page(s)" if count is not None else "the reference pages"
    click.echo(f"wrote {what} for {rp.name} {rp.version} to {relpath(str(out.resolve()))}", err=True)
    return EXIT_OK


def _exercised(rp) -> dict:
    """rule id -> names of the pack tests in which the rule fired, for the pages' test tables."""
    from rulecite.interpreter.tools.packtest import rules_fired

    return rules_fired(rp)
