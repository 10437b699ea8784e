"""``rulecite lsp``: a language server for .policy files, on standard input and output.

The server itself (``server.py``, on pygls and lsprotocol) and what it knows
(``workspace.py``) are imported only when the command runs: they need the ``lsp``
extra, and without it the command says so and exits 2.
"""

from __future__ import annotations

import click

from rulecite.cli._errors import BadInput


@click.command("lsp", short_help="Serve .policy files to an editor (Language Server Protocol).")
@click.option("--stdio", is_flag=True, help="Talk JSON-RPC on standard input and output (the default and only "
              "transport; accepted because editors pass it).")
def command(stdio: bool) -> int:
    """Start a language server for .policy files on standard input and output.

    An editor starts this command and talks to it in the Language Server Protocol: it
    gets the checker's diagnostics as you type (for every file of the pack, with the
    pack's facts schema), hovers, go to definition, find references, document
    symbols, completion and formatting. See docs/guides/editor.md for VS Code,
    Neovim, Emacs and Helix.

    Needs the `lsp` extra: pip install 'rulecite[lsp]'.
    """
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError as e:
        raise BadInput(f"`rulecite lsp` needs the `lsp` extra, which is not installed ({e.name} is missing)",
                       ("install it with: pip install 'rulecite[lsp]'",)) from None
    from rulecite.cli.lsp.server import serve

    serve()
    return 0
