"""``rulecite new-version PACK --version V [--until DATE]``: start next year's update of a pack."""

from __future__ import annotations

from pathlib import Path

import click
from rulecite.policy_lang.newversion import NewVersionError, new_version

from rulecite.cli._errors import EXIT_OK, BadInput, why
from rulecite.cli._options import DateParam
from rulecite.cli._output import stdout_text
from rulecite.cli._packs import pack_root, relpath
from rulecite.interpreter.reports.markup import plain_text


@click.command("new-version", short_help="Start the next version of a pack.")
@click.argument("pack", metavar="PACK")
@click.option("--version", "version", required=True, metavar="VERSION",
              help="The new calendar version, e.g. 2027.1.0 (YEAR.MAJOR.PATCH), after the pack's own.")
@click.option("--until", "until", type=DateParam(), default=None, metavar="DATE",
              help="The new last covered service date, written to [coverage] until (default: a year after the "
                   "old one, e.g. 2026-12-31 -> 2027-12-31).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Where to put the copy (default: NAME-VERSION beside the pack, or in the current folder "
                   "for a bundled pack).")
def command(pack: str, version: str, until, out_dir: str | None) -> int:
    """Copy PACK's files to a new version with its history intact, its coverage extended
    and the years of its title updated, and print every step that remains."""
    root = pack_root(pack).resolve()
    bundled = not Path(pack).exists()
    name = _name(root)
    if out_dir is not None and not out_dir.strip():
        raise BadInput("--out is empty: give the folder for the new version, or leave --out out")
    if out_dir is not None:
        dest = Path(out_dir)
    elif bundled:
        dest = Path.cwd() / f"{name}-{version}"
    else:
        dest = root.parent / f"{name}-{version}"
    try:
        made = new_version(root, version, dest, until)
    except NewVersionError:
        raise  # a RuleciteError: main renders it, with its code
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot copy the pack to `{dest}`: {why(e)}") from None
    where = relpath(str(made.dest))
    out = stdout_text()
    t = plain_text  # names, titles and file names come from the pack's folder
    click.echo(f"created {t(where)}: {t(made.name)} {made.version} (from {t(made.old_version)}), "
               f"{len(made.copied)} file(s) copied", file=out)
    if made.until is not None:
        click.echo(f"  coverage extended: until {made.old_until.isoformat()} -> {made.until.isoformat()}", file=out)
    if made.title != made.old_title:
        click.echo(f"  title: \"{t(made.old_title)}\" -> \"{t(made.title)}\"", file=out)
    if made.extends:
        click.echo(f"  extends rewritten to \"{made.extends}\" so it still finds the same pack", file=out)
    if made.left_out:
        more = f" and {len(made.left_out) - 5} more" if len(made.left_out) > 5 else ""
        shown = ", ".join(t(x) for x in made.left_out[:5]) + more
        click.echo(f"  not copied (the loader does not read them): {shown}", file=out)
    old_where = pack if bundled else relpath(str(root))
    click.echo("\nNext steps:", file=out)
    for i, step in enumerate(made.steps(where, old_where), start=1):
        click.echo(f"  {i}. {t(step)}", file=out)
    return EXIT_OK


def _name(root: Path) -> str:
    """The pack's name for the default folder: its folder's name when pack.toml names none
    or a name that is no pack name (``../../x``: the copy would land elsewhere)."""
    import tomllib

    from rulecite.policy_lang.load import NAME_RE

    try:
        name = str(tomllib.loads((root / "pack.toml").read_text(encoding="utf-8-sig"))["pack"]["name"])
    except (OSError, KeyError, TypeError, ValueError):
        return root.name
    return name if NAME_RE.fullmatch(name) else root.name
