"""Start the next version of a pack: copy its files, bump the version, extend the coverage.

Takes a pack folder, a new calendar version, a destination and the new last covered day
(default: a year after the old one); gives a ``NewVersion``: the new folder and what was
done, and ``steps()``, every step that remains. The rules' history stays intact: the
analyst adds what changed with new effective dates, ``supersedes``, ``retire`` and code
``until`` lines. In ``pack.toml`` only these change, every other byte kept:
``[pack] version``; ``[coverage] until``; the years of the title when it names a range
or list of years ending with the old last year ("CY 2025 and CY 2026" gains "CY 2027",
"2025-2026" becomes "2025-2027"); and a relative ``extends``, rewritten so it still
points at the same pack from the new place.

Only the pack's files are copied, as the loader reads them: ``pack.toml``, the facts
schema, every ``.policy`` file, every file the loader reads besides (a test's facts file,
an amounts table) and the ``tests/`` folder; planning notes and anything else stay
behind, and ``left_out`` names them.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tomllib
from pathlib import Path

import attrs

from rulecite.policy_lang.errors import RuleciteError
from rulecite.policy_lang.files import PackFiles, UnsafeFile
from rulecite.policy_lang.load import VERSION_RE, load

_SKIP = ("__pycache__", ".git", ".DS_Store")


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
    old_until: _dt.date | None = None  # the old last covered day (None: open or not in this pack.toml)
    until: _dt.date | None = None  # the new one, when the coverage was extended
    coverage_note: str | None = None  # why the coverage was not extended, when it was not
    old_title: str = ""
    title: str = ""  # the new title (the old one when it was not changed)
    title_note: str | None = None  # why the title was not changed, when it names years
    copied: tuple = ()  # relative paths
    left_out: tuple = ()  # relative paths of the files not copied
    stale_comments: tuple = ()  # (line number, text) of pack.toml comments naming the old last year
    parameters: tuple = ()  # (name, last value's start, last value) of each dated parameter
    amounts_file: str | None = None  # the pack's amounts table, relative to the pack

    def steps(self, where: str, old_where: str) -> list:
        """Every step that remains, in order, as lines of text (``where``: how to name the
        new folder on a command line; ``old_where``: the old pack)."""
        out = []
        if self.until is None:
            out.append(f"Extend the coverage: {self.coverage_note or 'set [coverage] until in pack.toml'}.")
        if self.title_note:
            out.append(f"Update the title in pack.toml: {self.title_note}.")
        if self.stale_comments:
            lines = ", ".join(str(n) for n, _ in self.stale_comments)
            out.append(f"Review pack.toml's comments that still name {self.old_until.year} (line {lines}).")
        year = (self.until or self.old_until or _dt.date.today()).year
        out += [
            f"Add the source behind the {year} changes (the Final Rule or its equivalent) as a `source` "
            "with its `published` and `effective` dates, and cite it; cite only pages you have read.",
            "Add what changed, dated: a new rule with `effective` and `supersedes OLD`, "
            "`retire RULE { from DATE ... }`, `effective` on new codes, `until` and `replaced_by` on codes "
            "that end. Keep the old declarations: the pack still judges earlier service dates.",
            f"Update the dated values that change in {year}: give each parameter that changes a new "
            f"`from {year}-01-01 value ... cite NEW_SOURCE` line (rule ids stay as they are)"
            + (": " + ", ".join(f"{n} (now {v!r} from {d})" for n, d, v in self.parameters)
               if self.parameters else "") + ".",
            *([f"Add {year} rows to {self.amounts_file} (amounts per code), each with its source."]
              if self.amounts_file else []),
            "Declare new codes with `program NAME`: sets written `{program NAME}` take them in; "
            "`rulecite check` warns (W705) about a code its program's rules never read.",
            f"Add tests on both sides of every new date, and for {year} service dates.",
            f"rulecite check {where}",
            f"rulecite test {where} --coverage",
            f"rulecite test {where} --boundaries  (the pack's tests moved to both sides of every date "
            "where a rule, code or value changes: each verdict that flips, and the dates no test reaches)",
            f"rulecite diff {old_where} {where} --facts FACTS.jsonl  (every verdict that changes, by rule; "
            "dates only the new version covers are judged by the old one's rules carried forward)",
            f"rulecite diff {where} --date-a {year - 1}-12-31 --date-b {year}-01-01 --format markdown",
        ]
        return out


def version_key(v: str) -> tuple:
    return tuple(int(p) for p in v.split("."))


def next_year(d: _dt.date) -> _dt.date:
    """The same day a year later (28 February for a 29th)."""
    try:
        return d.replace(year=d.year + 1)
    except ValueError:
        return _dt.date(d.year + 1, 2, 28)


def new_version(src: Path, version: str, dest: Path, until: _dt.date | None = None) -> NewVersion:
    """Copy the pack at ``src`` to ``dest`` as ``version``, its coverage extended to
    ``until`` (default: a year after its last covered day)."""
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
    new_text = set_key(text, "pack", "version", f'"{version}"')
    # the coverage
    cov = data.get("coverage")
    old_until = _as_date(cov.get("until")) if isinstance(cov, dict) else None
    new_until, cov_note = None, None
    if not isinstance(cov, dict):
        cov_note = ("pack.toml has no [coverage] table (the coverage comes from the pack it extends, or is "
                    "open): extend it there, or add [coverage] with `from` and `until`")
    elif old_until is None:
        cov_note = "pack.toml's [coverage] has no readable `until` date; set it to the new last covered day"
    else:
        if until is None and old_until.year >= _dt.MAXYEAR:
            raise NewVersionError(f"the pack's coverage ends on {old_until.isoformat()}: there is no next year to "
                                  "extend it to; set [coverage] until to the pack's real last covered day")
        new_until = until or next_year(old_until)
        if new_until <= old_until:
            raise NewVersionError(f"--until {new_until.isoformat()} is not after the pack's last covered day "
                                  f"({old_until.isoformat()})")
        quoted = isinstance(cov.get("until"), str)
        new_text = set_key(new_text, "coverage", "until",
                           f'"{new_until.isoformat()}"' if quoted else new_until.isoformat())
    if until is not None and new_until is None:
        raise NewVersionError(f"--until {until.isoformat()}: {cov_note}")
    # the title
    old_title = str(pk.get("title", ""))
    title, title_note = old_title, None
    if old_until is not None and new_until is not None and new_until.year > old_until.year:
        bumped = bump_title(old_title, old_until.year, new_until.year)
        if bumped is not None:
            title = bumped
            new_text = set_key(new_text, "pack", "title", _toml_string(title))
        elif re.search(r"\b(19|20|21)\d\d\b", old_title):
            title_note = (f"it names years (\"{old_title}\") but no range or list ending with {old_until.year} "
                          f"that could gain {new_until.year}")
    stale = ()
    if old_until is not None and new_until is not None and new_until.year > old_until.year:
        stale = tuple((n, line.strip()) for n, line in enumerate(new_text.splitlines(), start=1)
                      if line.lstrip().startswith("#") and str(old_until.year) in line
                      and str(new_until.year) not in line)
    # extends
    extends = pk.get("extends")
    rewritten = None
    if extends and (src / extends / "pack.toml").is_file():
        target = (src / extends).resolve()
        rel = Path(os.path.relpath(target, dest.resolve())).as_posix()
        if rel != extends:
            new_text = set_key(new_text, "pack", "extends", f'"{rel}"')
            rewritten = rel
    copied, left_out, loaded = _pack_files(src)
    for rel in copied:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "pack.toml").write_text(new_text, encoding="utf-8", newline="\n")
    params, amounts_file = (), None
    if loaded is not None and loaded.pack is not None:
        params = tuple((p.name, p.values[-1].start.isoformat(), p.values[-1].value)
                       for p in sorted(loaded.pack.parameters, key=lambda p: p.name)
                       if p.values and p.pack == loaded.pack.name)
        own_amounts = loaded.pack.amounts
        if own_amounts is not None and own_amounts.file:
            amounts_file = own_amounts.file
    return NewVersion(name, old, version, src, dest.resolve(), rewritten, old_until, new_until, cov_note,
                      old_title, title, title_note, copied, left_out, stale, params, amounts_file)


def pack_files(root: Path) -> tuple:
    """(files to copy, files left out): relative paths under ``root``, sorted. The pack's
    files are what the loader reads (found by loading it: pack.toml, the schema, .policy
    files, test facts files, amounts tables), every ``.policy`` file and the facts schema
    even when the pack does not load, and the ``tests/`` folder."""
    copied, left_out, _ = _pack_files(root)
    return copied, left_out


def _pack_files(root: Path) -> tuple:
    """``pack_files`` and the ``LoadedPack`` it read them with (None when loading failed)."""
    root = Path(root).resolve()
    files = PackFiles()
    loaded = None
    try:
        loaded = load(root, files=files)
    except (OSError, ValueError, RecursionError, UnsafeFile):  # a broken pack still copies what it has
        pass
    keep = set()
    for path, _ in files.digests():
        p = Path(path)
        if p.is_relative_to(root):
            keep.add(p.relative_to(root).as_posix())
    every = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part in _SKIP or part.startswith(".") for part in rel.parts) or not p.is_file() or p.is_symlink():
            continue
        every.append(rel.as_posix())
    for rel in every:
        if rel in ("pack.toml", "facts.schema.json") or rel.endswith(".policy") or rel.startswith("tests/"):
            keep.add(rel)
    return tuple(sorted(keep)), tuple(r for r in every if r not in keep), loaded


def bump_title(title: str, old_year: int, new_year: int) -> str | None:
    """``title`` with its years running on to ``new_year``, or None when it names no range
    or list of years ending with ``old_year``: "2025-2026" -> "2025-2027", "2025 to 2026"
    -> "2025 to 2027", "CY 2025 and CY 2026" -> "CY 2025, CY 2026 and CY 2027"."""
    old = str(old_year)
    ranged = re.compile(rf"\b((?:19|20|21)\d\d)(\s*(?:-|–|—|to|through)\s*)((?:[A-Z]{{1,5}}\s)?){old}\b")
    m = ranged.search(title)
    if m and int(m.group(1)) < old_year:
        return title[:m.start()] + f"{m.group(1)}{m.group(2)}{m.group(3)}{new_year}" + title[m.end():]
    listed = re.compile(rf"((?:[A-Z]{{1,5}}\s)?)((?:19|20|21)\d\d)(\s+and\s+)((?:[A-Z]{{1,5}}\s)?){old}\b")
    m = listed.search(title)
    if m and int(m.group(2)) < old_year:
        prefix = m.group(4)
        years = [f"{prefix}{y}" for y in range(old_year, new_year + 1)]
        tail = ", ".join(years[:-1]) + f" and {years[-1]}"
        return title[:m.start()] + f"{m.group(1)}{m.group(2)}, {tail}" + title[m.end():]
    return None


def _as_date(v) -> _dt.date | None:
    if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
        return v
    try:
        return _dt.date.fromisoformat(str(v)) if isinstance(v, str) else None
    except ValueError:
        return None


def _toml_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_key(text: str, table: str, key: str, value: str) -> str:
    """Set ``key = value`` (``value``: TOML text) in ``[table]``, keeping every other byte
    (a comment after the value too); the key is added at the end of the table when absent."""
    lines = text.splitlines(keepends=True)
    current = None
    pat = re.compile(rf'^(\s*{re.escape(key)}\s*=\s*)("(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s#]+)(.*)$', re.S)
    end_of_table = None
    for i, line in enumerate(lines):
        head = re.match(r"^\s*\[([^\]]+)\]", line)
        if head:
            if current == table and end_of_table is None:
                end_of_table = i
            current = head.group(1).strip()
            continue
        if current == table:
            m = pat.match(line)
            if m:
                lines[i] = m.group(1) + value + m.group(3)
                return "".join(lines)
    if end_of_table is None:
        end_of_table = len(lines)
    lines.insert(end_of_table, f"{key} = {value}\n")
    return "".join(lines)
