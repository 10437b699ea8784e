"""The ``rulecite`` command group: the one place where errors become text and exit codes.

Each command lives in its own module and calls one library function. Commands
return their exit code (0, or 1 for findings the user asked to fail on) and raise a
``RuleciteError`` for anything the user can fix: the CLI's ``BadInput``, or the
library's (``PackError``, ``CompileError``, ``NewVersionError``, ``PackChanged``...).
``render_error`` renders every one of them on stderr, with its code and hints, and
``RuleciteGroup.invoke`` exits with its exit code (2, or 4 for a run that could not
finish). No traceback reaches a user unless ``--debug``.
"""

from __future__ import annotations

import sys

import click
from rulecite import LANGUAGE_VERSION, __version__
from rulecite.policy_lang import PackError, RuleciteError, render_text

from rulecite.cli._errors import EXIT_INTERNAL, EXIT_INTERRUPTED, RunStopped
from rulecite.cli._output import fix_stdout_after_broken_pipe, stderr_text
from rulecite.cli._packs import relative_spans

EPILOG = """\b
Exit codes:
  0  success
  1  findings or failures you asked to fail on (check: errors found;
     test: failing tests; eval: --fail-on; fmt --check: files would
     change; verify-log: decisions differ)
  2  usage error or bad input: an unknown option, an unreadable file,
     malformed JSON, a record that is not there; for every command but
     `check`, a pack with errors
  3  internal error (a bug in Rulecite; --debug shows the traceback)
  4  eval: the run could not finish and its output is incomplete: stdout
     closed early, a full disk, a worker process that died
  130  interrupted (Ctrl-C)

\b
Environment:
  NO_COLOR   set to any value to turn colours off
"""


def render_error(e: RuleciteError, err):
    """An error a user can fix, on stderr: a pack's diagnostics (``PackError``), or one line
    ``rulecite: error[CODE]: message`` (no ``[CODE]`` for a plain error) and its hints."""
    if isinstance(e, PackError):
        diags, texts = relative_spans(e.diagnostics, getattr(e, "texts", {}))
        n = sum(1 for d in diags if d.severity == "error")
        click.echo(render_text([d for d in diags if d.severity == "error"], texts), file=err, nl=False)
        click.echo(click.style(f"rulecite: the pack has {n} error(s); `rulecite check` lists them all", fg="red"),
                   file=err)
        return
    head = f"rulecite: error[{e.code}]: " if e.code else "rulecite: error: "
    click.echo(click.style(head, fg="red", bold=True) + (e.message or str(e)), file=err)
    for h in e.hints:
        click.echo(f"  hint: {h}", file=err)


class RuleciteGroup(click.Group):
    """A group that renders every error of its commands, once."""

    def list_commands(self, ctx):
        return list(self.commands)  # the order of a pack's life, not the alphabet

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        err = stderr_text()
        try:
            code = super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            fix_stdout_after_broken_pipe()
            ctx.exit(0)
        except RunStopped as e:
            click.echo(click.style("rulecite: stopped: ", fg="red", bold=True) + e.message, file=err)
            ctx.exit(e.code)
        except KeyboardInterrupt:
            click.echo(click.style("rulecite: interrupted", fg="red", bold=True)
                       + " (Ctrl-C): the output is incomplete", file=err)
            ctx.exit(EXIT_INTERRUPTED)
        except RuleciteError as e:  # every error a user can fix, library or CLI: rendered here only
            render_error(e, err)
            ctx.exit(e.exit_code)
        except Exception as e:  # noqa: BLE001 - the one place a bug becomes a message
            if debug:
                raise
            first = str(e).splitlines()[0][:300] if str(e) else ""
            click.echo(click.style("rulecite: internal error: ", fg="red", bold=True)
                       + f"{e.__class__.__name__}: {first}", file=err)
            click.echo("  this is a bug in Rulecite; run again with --debug to see the traceback", file=err)
            ctx.exit(EXIT_INTERNAL)
        if isinstance(code, int) and code:
            ctx.exit(code)
        return code


@click.group(cls=RuleciteGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="rulecite",
                      message=f"%(prog)s %(version)s (policy language {LANGUAGE_VERSION})")
@click.option("--debug", is_flag=True, help="Show a Python traceback when something fails unexpectedly.")
@click.pass_context
def cli(ctx: click.Context, debug: bool):
    """Rulecite: billing-compliance rules as code, with citations.

    Check and test rule packs, evaluate facts against them, explain a decision,
    compare pack versions, and keep an audit trail. PACK is a pack folder (holding
    pack.toml) or the name of a bundled pack; FACTS is a JSON Lines file, a .json
    file holding an array of records, or - for stdin.
    """
    import os

    if os.environ.get("NO_COLOR"):
        ctx.color = False


def _register():
    from rulecite.cli import (check, diff, docs, evidence, explain, fmt, lsp, new_version, schema, site, sources, synth,
                              test, verify_log)
    from rulecite.cli import eval as eval_

    for module in (check, fmt, test, eval_, explain, diff, schema, docs, site, synth, new_version, evidence,
                   verify_log, sources, lsp):
        cli.add_command(module.command)


_register()


def main(argv=None):
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="rulecite")
    except BrokenPipeError:
        fix_stdout_after_broken_pipe()
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
