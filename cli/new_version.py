"""``rulecite new-version PACK --version V``: start next year's update of a pack."""

from __future__ import annotations

from pathlib import Path

import click
from rulecite.policy_lang.newversion import NewVersionError, new_version

from rulecite.cli._errors import EXIT_OK, BadInput, why
from rulecite.cli._output import stdout_text
from rulecite.cli._packs import pack_root, relpath


@click.command("new-version", short_help="Start the next version of a pack.")
@click.argument("pack", metavar="PACK")
@click.option("--version", "version", required=True, metavar="VERSION",
              help="The new calendar version, e.g. 2027.1.0 (YEAR.MAJOR.PATCH), after the pack's own.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Where to put the copy (default: NAME-VERSION beside the pack, or in the current folder "
                   "for a bundled pack).")
def command(pack: str, version: str, out_dir: str | None) -> int:
    """Copy PACK to a new version with its history intact, so you edit only what changed."""
    root = pack_root(pack).resolve()
    bundled = not Path(pack).exists()
    name = _name(root)
    if out_dir is not None:
        dest = Path(out_dir)
    elif bundled:
        dest = Path.cwd() / f"{name}-{version}"
    else:
        dest = root.parent / f"{name}-{version}"
    try:
        made = new_version(root, version, dest)
    except NewVersionError:
        raise  # a RuleciteError: main renders it, with its code
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot copy the pack to `{dest}`: {why(e)}") from None
    where = relpath(str(made.dest))
    out = stdout_text()
    click.echo(f"created {where}: {made.name} {made.version} (from {made.old_version})", file=out)
    if made.extends:
        click.echo(f"  extends rewritten to \"{made.extends}\" so it still finds the same pack", file=out)
    click.echo(f"""
Next steps:
  1. Add what changed, dated: new rules or new versions of a rule with `effective`,
     `supersedes OLD` or `retire RULE {{ from DATE }}`, and `until` / `replaced_by` on codes
     that end. Keep the old declarations: the pack still judges earlier service dates.
  2. Add the new Final Rule as a `source`, and cite it.
  3. rulecite check {where}
  4. rulecite test {where} --coverage
  5. rulecite diff {relpath(str(root)) if not bundled else pack} {where} --format markdown""", file=out)
    return EXIT_OK


def _name(root: Path) -> str:
    import tomllib

    try:
        return str(tomllib.loads((root / "pack.toml").read_text(encoding="utf-8-sig"))["pack"]["name"])
    except (OSError, KeyError, ValueError):
        return root.name
