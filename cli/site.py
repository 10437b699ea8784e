"""``rulecite site PACK... --out DIR``: publish the packs' reference as a documentation site."""

from __future__ import annotations

from pathlib import Path

import click

from rulecite.cli._errors import EXIT_OK, BadInput
from rulecite.cli._packs import load_rulepack, relpath


@click.command("site", short_help="Build the documentation site of one or more packs.")
@click.argument("packs", metavar="PACK...", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the built site (created when missing; it must be empty or hold only a site "
                   "built here before, whose files are replaced: a file put there since stops the build).")
def command(packs, out_dir) -> int:
    """Build the complete documentation site (HTML, mkdocs-material, with search) of
    each PACK: overview, one page per rule with its citations and tests, the code
    catalog, the sources, what changed and the facts schema. The pages are the ones
    the project's own site has for the bundled packs. Serve DIR with any static web
    server. Needs the `docs` extra (mkdocs-material)."""
    from rulecite.interpreter.reports.site.publish import build_site

    if not out_dir.strip():
        raise BadInput("--out is empty: give the folder to build the site in", hints=("e.g. --out site",))
    rps, seen = [], set()
    for p in packs:
        rp = load_rulepack(p)
        if rp.name in seen:
            raise BadInput(f"pack `{rp.name}` is given twice", hints=("give each pack once",))
        seen.add(rp.name)
        rps.append(rp)
    exercised = {rp.name: _exercised(rp) for rp in rps}
    pages = build_site([rp.model for rp in rps], Path(out_dir), exercised=exercised)
    names = ", ".join(f"{rp.name} {rp.version}" for rp in rps)
    click.echo(f"built {len(pages)} page(s) for {names} in {relpath(str(Path(out_dir).resolve()))}", err=True)
    return EXIT_OK


def _exercised(rp) -> dict:
    """rule id -> names of the pack tests in which the rule fired, for the pages' test tables."""
    from rulecite.interpreter.tools.packtest import rules_fired

    return rules_fired(rp)
