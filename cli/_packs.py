"""Finding and loading the pack a command names (a folder or a bundled name)."""

from __future__ import annotations

from pathlib import Path

import attrs
import click
from rulecite.policy_lang import bundled_names, did_you_mean, resolve_pack_path
from rulecite.policy_lang.load import shadowed_folder

from rulecite.cli._errors import BadInput, short, why


_NOTED: set = set()  # names already given the note below in this process


def pack_root(path_or_name: str) -> Path:
    """The folder of a pack given as a path or a bundled name, or ``BadInput``."""
    try:
        root = resolve_pack_path(path_or_name)
    except (OSError, ValueError) as e:  # a name too long for the file system, say
        raise BadInput(f"no pack at `{short(path_or_name)}`: {why(e)}") from None
    shadowed = shadowed_folder(path_or_name)
    if shadowed is not None and path_or_name not in _NOTED:
        _NOTED.add(path_or_name)
        click.echo(f"note: `{path_or_name}` is the bundled pack; the folder ./{path_or_name} of the same name is "
                   f"not used (write ./{path_or_name} for the folder, bundled:{path_or_name} to say the bundled "
                   "pack and silence this note)", err=True)
    if root is None:
        raise BadInput(f"no pack at `{short(path_or_name)}`: give a folder holding pack.toml, or a bundled pack "
                       f"name ({', '.join(bundled_names()) or 'none installed'})",
                       did_you_mean(str(path_or_name), bundled_names()))
    return root


def load_rulepack(path_or_name: str):
    """Load, check and compile a pack; a pack with errors raises ``PackError`` (exit 2)."""
    from rulecite.interpreter import load_pack

    pack_root(path_or_name)
    return load_pack(path_or_name)


def relpath(name: str) -> str:
    """A file name relative to the working directory when it lies inside it."""
    try:
        p = Path(name)
        return p.relative_to(Path.cwd()).as_posix() if p.is_absolute() and p.is_relative_to(Path.cwd()) else name
    except (ValueError, OSError):
        return name


def relative_spans(diagnostics, texts: dict):
    """Diagnostics and texts with file names relative to the working directory, when inside it."""
    diags = [attrs.evolve(d, span=attrs.evolve(d.span, file=relpath(d.span.file))) for d in diagnostics]
    return diags, {relpath(k): v for k, v in (texts or {}).items()}
