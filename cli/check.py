"""``rulecite check PACK``: every error and warning of a pack, at once."""

from __future__ import annotations

import click
from rulecite import LANGUAGE_VERSION, __version__
from rulecite.policy_lang import load, render_text
from rulecite.interpreter.codegen.compiler import CompiledPack
from rulecite.interpreter.reports.sarif import to_sarif

from rulecite.cli._errors import EXIT_FINDINGS, EXIT_OK
from rulecite.cli._options import pack_argument
from rulecite.cli._output import stdout_text, write_json
from rulecite.cli._packs import pack_root, relative_spans


@click.command("check", short_help="Report every error and warning in a pack.")
@pack_argument
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="text for people; json for scripts; sarif (2.1.0) for code hosts that annotate pull requests.")
@click.option("--dump-python", is_flag=True,
              help="Print the Python module the pack compiles to (what evaluation runs) instead of the "
                   "diagnostics, when the pack has no errors. Each function and inlined rule block opens with a "
                   "`# rule ID file:line` comment naming the policy it came from.")
@click.option("--quiet", "-q", is_flag=True,
              help="Errors only: no warnings (in every format) and no summary line on stderr.")
def command(pack: str, fmt: str, dump_python: bool = False, quiet: bool = False) -> int:
    """Check a pack: report every error and warning, with file:line:col.

    Exits 0 when the pack has no errors (warnings allowed), 1 when it has errors. With
    --dump-python, a pack without errors prints its generated Python module instead.
    """
    pack_root(pack)
    loaded = load(pack)
    diags, texts = relative_spans(loaded.diagnostics, loaded.texts)
    if quiet:
        diags = [d for d in diags if d.severity == "error"]
    errors = sum(1 for d in diags if d.severity == "error")
    warnings = len(diags) - errors
    out = stdout_text()
    if dump_python and not errors and loaded.pack is not None:
        click.echo(CompiledPack(loaded.pack).source, file=out, nl=False)
        return EXIT_OK
    if fmt == "sarif":
        click.echo(write_json(to_sarif(diags, __version__, LANGUAGE_VERSION)), file=out, nl=False)
    elif fmt == "json":
        model = loaded.pack
        doc = {"pack": {"name": model.name, "version": model.version, "sha256": model.lock} if model else None,
               "errors": errors, "warnings": warnings, "diagnostics": [d.to_dict() for d in diags]}
        click.echo(write_json(doc), file=out, nl=False)
    else:
        _text(diags, texts, out)
        if quiet:
            return EXIT_FINDINGS if errors else EXIT_OK
        who = f"{loaded.pack.name} {loaded.pack.version}" if loaded.pack else pack
        colour = "red" if errors else ("yellow" if warnings else "green")
        click.echo(click.style(f"{who}: {errors} error(s), {warnings} warning(s)", fg=colour), err=True)
    return EXIT_FINDINGS if errors else EXIT_OK


def _text(diags, texts, out):
    """The rendered diagnostics, with severities and carets coloured on a terminal."""
    text = render_text(diags, texts)
    for line in text.splitlines():
        if ": error[" in line:
            line = _tint(line, "error", "red")
        elif ": warning[" in line:
            line = _tint(line, "warning", "yellow")
        elif line.rstrip().endswith("^") and "| " in line:
            bar = line.index("| ") + 2
            line = line[:bar] + click.style(line[bar:], fg="red", bold=True)
        click.echo(line, file=out)


def _tint(line: str, word: str, colour: str) -> str:
    i = line.find(f": {word}[") + 2
    return line[:i] + click.style(line[i:i + len(word)], fg=colour, bold=True) + line[i + len(word):]
