"""Start the next version of a pack: copy its folder and bump the version in pack.toml.

Takes a pack folder, a new calendar version and a destination; gives the new
folder, with every file as it was (the rules' history stays intact: the analyst adds
what changed with new effective dates, ``supersedes``, ``retire`` and code
``until`` lines). Only two things change: ``[pack] version``, and a relative
``extends`` path, rewritten so it still points at the same pack from the new place.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import attrs

from rulecite.policy_lang.errors import RuleciteError
from rulecite.policy_lang.load import VERSION_RE

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".DS_Store")


class NewVersionError(RuleciteError, ValueError):
    """The copy cannot be made (a bad version, an existing destination, an unreadable pack.toml)."""

    code = "new-version"


@attrs.frozen
class NewVersion:
    name: str
    old_version: str
    version: str
    source: Path
    dest: Path
    extends: str | None  # the rewritten extends path, when it changed


def version_key(v: str) -> tuple:
    return tuple(int(p) for p in v.split("."))


def new_version(src: Path, version: str, dest: Path) -> NewVersion:
    """Copy the pack at ``src`` to ``dest`` as ``version``."""
    src = Path(src).resolve()
    dest = Path(dest)
    if not VERSION_RE.match(version):
        raise NewVersionError(f"version `{version}` is not calendar-based: write YEAR.MAJOR.PATCH, e.g. 2027.1.0")
    toml_path = src / "pack.toml"
    try:
        text = toml_path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise NewVersionError(f"cannot read {toml_path}: {e}") from None
    pk = data.get("pack", {})
    old = str(pk.get("version", ""))
    name = str(pk.get("name", src.name))
    if VERSION_RE.match(old) and version_key(version) <= version_key(old):
        raise NewVersionError(f"version {version} is not after the pack's version {old}")
    if dest.resolve() == src or dest.resolve().is_relative_to(src):
        raise NewVersionError(f"`{dest}` is inside the pack it would copy; choose a folder outside it with --out")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise NewVersionError(f"`{dest}` already exists; choose another folder with --out")
    new_text = _set_key(text, "version", version)
    extends = pk.get("extends")
    rewritten = None
    if extends and (src / extends / "pack.toml").is_file():
        target = (src / extends).resolve()
        rel = Path(os.path.relpath(target, dest.resolve())).as_posix()
        if rel != extends:
            new_text = _set_key(new_text, "extends", rel)
            rewritten = rel
    shutil.copytree(src, dest, ignore=_IGNORE, dirs_exist_ok=True)
    (dest / "pack.toml").write_text(new_text, encoding="utf-8", newline="\n")
    return NewVersion(name, old, version, src, dest.resolve(), rewritten)


def _set_key(text: str, key: str, value: str) -> str:
    """Set ``key = "value"`` in the ``[pack]`` table, keeping every other byte."""
    lines = text.splitlines(keepends=True)
    table = None
    pat = re.compile(rf'^(\s*{key}\s*=\s*)(".*?"|\'.*?\')(.*)$', re.S)
    end_of_pack = None
    for i, line in enumerate(lines):
        head = re.match(r"^\s*\[([^\]]+)\]", line)
        if head:
            if table == "pack" and end_of_pack is None:
                end_of_pack = i
            table = head.group(1).strip()
            continue
        if table == "pack":
            m = pat.match(line)
            if m:
                lines[i] = m.group(1) + f'"{value}"' + m.group(3)
                return "".join(lines)
    insert = f'{key} = "{value}"\n'
    if end_of_pack is None:
        end_of_pack = len(lines)
    lines.insert(end_of_pack, insert)
    return "".join(lines)
