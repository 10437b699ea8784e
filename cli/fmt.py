"""``rulecite fmt PATH...``: print .policy files in the one canonical style."""

from __future__ import annotations

import difflib
from pathlib import Path

import click
from rulecite.policy_lang import format_text, render_text

from rulecite.cli._errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, BadInput, short, why
from rulecite.cli._facts import stdin_bytes
from rulecite.cli._output import stderr_text, stdout_text
from rulecite.cli._packs import relative_spans


@click.command("fmt", short_help="Format .policy files in the canonical style.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if any file would be reformatted.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff of what would change.")
def command(paths, check: bool, show_diff: bool) -> int:
    """Format .policy files in place (folders are searched for *.policy).

    `-` formats standard input to standard output. With --check or --diff nothing is
    written. Exits 1 with --check when a file would change; 2 when a file cannot be
    read or does not parse.
    """
    out = stdout_text()
    err = stderr_text()
    files = _expand(paths)
    changed = broken = 0
    for f in files:
        text = _read(f)
        formatted, diags = format_text(text, "<stdin>" if f == "-" else str(f))
        if formatted is None:
            rel, texts = relative_spans(diags, {"<stdin>" if f == "-" else str(f): text})
            click.echo(render_text(rel, texts), file=err, nl=False)
            broken += 1
            continue
        name = "<stdin>" if f == "-" else str(f)
        if f == "-" and not (check or show_diff):
            click.echo(formatted, file=out, nl=False)
            continue
        if formatted == text:
            continue
        changed += 1
        if show_diff:
            click.echo("".join(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                                    f"a/{name}", f"b/{name}")), file=out, nl=False)
        if check:
            click.echo(f"would reformat {name}", file=err)
        elif not show_diff:
            Path(f).write_text(formatted, encoding="utf-8", newline="\n")
            click.echo(f"reformatted {name}", file=err)
    if not check and not show_diff and files != ["-"]:
        click.echo(f"{changed} file(s) reformatted, {len(files) - changed - broken} unchanged"
                   + (f", {broken} not parsed" if broken else ""), file=err)
    if broken:
        return EXIT_BAD_INPUT
    return EXIT_FINDINGS if (check and changed) else EXIT_OK


def _expand(paths) -> list:
    files = []
    for p in paths:
        if p == "-":
            files.append("-")
            continue
        path = Path(p)
        try:
            if path.is_dir():
                files.extend(sorted(path.rglob("*.policy")))
                continue
            if path.is_file():
                files.append(path)
                continue
        except (OSError, ValueError) as e:
            raise BadInput(f"cannot read `{short(p)}`: {why(e)}") from None
        raise BadInput(f"no such file or folder: `{short(p)}`")
    if not files:
        raise BadInput("no .policy files found in " + ", ".join(f"`{p}`" for p in paths))
    return files


def _read(f) -> str:
    try:
        data = stdin_bytes().read() if f == "-" else Path(f).read_bytes()
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadInput(f"`{f}` is not UTF-8 text (byte {e.start})") from None
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read `{f}`: {why(e)}") from None
