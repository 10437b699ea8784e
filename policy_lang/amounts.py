"""Amounts per code: a pack's table of money amounts for its codes, by date, checked at load.

A pack may declare, in ``pack.toml``::

    [amounts]
    file = "amounts.csv"          # inside the pack folder, read through PackFiles
    label = "what the amounts are" # shown wherever an amount is shown
    currency = "USD"
    units = "units"               # the line field that counts units (absent: 1 per line)

The file is CSV (UTF-8, one row a line; ``#`` lines are comments) with the header
``code,from,until,amount,source,verified,basis``. The core gives these amounts no
meaning: the pack's ``label`` says what they are (a fee schedule, a price list...).
``load_pack_amounts`` checks every row (error ``E507`` with file, line, column and
hint): the code is in the pack's catalog; ``from``/``until`` are dates, in order,
inside the pack's coverage; rows of one code do not overlap; the amount is a
non-negative decimal; every ``source`` (ids separated by ``;``) is a source the pack
declares; ``verified`` is ``yes`` or ``no``, and a row whose sources are all outside the
primary tier must say ``no`` (a figure only a secondary source gives is never passed off
as verified). An extending pack without ``[amounts]`` inherits its parent's.

A user's own table (``rulecite eval --rates FILE``: ``code,amount`` and optionally
``from``/``effective``, ``until``, ``note``) is read by ``read_rates``; its rows win over
the pack's for the codes and dates they cover (``Amounts.with_rates``).

``Amounts.amount_for(code, date, units)`` is the one lookup every report uses.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import re
import stat
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from attrs import evolve, field, frozen

from rulecite.policy_lang.authority import PRIMARY, tier_of
from rulecite.policy_lang.errors import Diagnostic, RuleciteError, did_you_mean, render_text
from rulecite.policy_lang.files import MAX_FILE_BYTES, UnsafeFile
from rulecite.policy_lang.model import Window
from rulecite.policy_lang.syntax.nodes import Span

CODE = "E507"
PACK_COLUMNS = ("code", "from", "until", "amount", "source", "verified", "basis")
RATES_COLUMNS = ("code", "amount", "from", "effective", "until", "note")
SETTINGS = ("file", "label", "currency", "units")
AMOUNT_RE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,4})?$")
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LINE_END = re.compile(r"\r\n|\r|\n")
ROW_HINT = "one cell per column of the header; quote a cell that holds a comma (amounts have no thousands separator)"
AMOUNT_HINT = "write a plain decimal such as 60.49: no currency sign, no thousands separator, not negative"


@frozen
class AmountRow:
    """One amount: a code, the dates it applies to, how much, on what sources."""

    code: str
    window: Window
    amount: Decimal
    sources: tuple = ()  # source ids of the pack (empty for a user's --rates row)
    verified: bool = True
    basis: str = ""  # how the figure was obtained, as the table says
    origin: str = ""  # the file it came from
    line: int = 0


@frozen
class Amounts:
    """A checked table of amounts per code; ``overrides`` (a user's rates) win over ``rows``."""

    label: str
    currency: str
    units_field: str | None
    rows: tuple  # AmountRow, in file order
    file: str = ""
    overrides: tuple = ()
    override_file: str | None = None
    _by_code: dict = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self):
        index: dict = {}
        for rank, rows in enumerate((self.overrides, self.rows)):
            for r in rows:
                index.setdefault(r.code, ([], []))[rank].append(r)
        object.__setattr__(self, "_by_code", index)

    def row_for(self, code, date: _dt.date) -> AmountRow | None:
        """The row that prices ``code`` on ``date``: a user's rate first, else the pack's; None
        when neither has one."""
        for rows in self._by_code.get(str(code), ((), ())):
            for r in rows:
                if r.window.contains(date):
                    return r
        return None

    def amount_for(self, code, date: _dt.date, units=1) -> Decimal | None:
        """The amount for ``units`` of ``code`` served on ``date`` (amount x units), or None when no
        row prices the code on that date (the caller says so; never a guessed zero)."""
        row = self.row_for(code, date)
        if row is None:
            return None
        return row.amount * Decimal(units)

    def with_rates(self, rows: tuple, name: str) -> "Amounts":
        """These amounts with a user's rows (from ``read_rates``) put first."""
        return evolve(self, overrides=tuple(rows), override_file=name)

    @classmethod
    def rates_only(cls, rows: tuple, name: str, units_field: str | None) -> "Amounts":
        """A user's rates for a pack that has no amounts of its own."""
        return cls(f"amounts from {Path(name).name}", "", units_field, (), "", tuple(rows), name)


class RatesError(RuleciteError):
    """A rates file that cannot be used; ``diagnostics`` hold every problem (code E507)."""

    code = CODE

    def __init__(self, diagnostics, texts: dict):
        self.diagnostics = tuple(diagnostics)
        shown = render_text(self.diagnostics[:10], texts).rstrip("\n")
        more = len(self.diagnostics) - 10
        super().__init__(f"the rates file cannot be used:\n{shown}" + (f"\n... and {more} more" if more > 0 else ""),
                         hints=("columns: code,amount and optionally from (or effective), until, note",))


# ---------------------------------------------------------------- reading CSV with positions


def _rows(text: str, name: str, diags: list):
    """(line number, line text, cells) of each non-comment, non-blank line."""
    for n, line in enumerate(LINE_END.split(text.removeprefix("\ufeff")), 1):  # CR LF, LF, or an old Mac's CR
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            cells = next(csv.reader([line], strict=True))
        except (csv.Error, StopIteration) as e:
            diags.append(Diagnostic(CODE, f"not a CSV row: {e}", Span(name, n, 1, n, len(line) + 1),
                                    ("one row a line; quote a cell that holds a comma",)))
            continue
        yield n, line, [c.strip() for c in cells]


def _cell_span(name: str, n: int, line: str, cells: list, i: int) -> Span:
    """The span of cell ``i`` in its line (found by its text; the row start when not found)."""
    start = 0
    for k in range(i + 1):
        if k >= len(cells):
            break
        at = line.find(cells[k], start) if cells[k] else -1
        if k == i:
            if at < 0:
                return Span(name, n, start + 1, n, start + 2)
            return Span(name, n, at + 1, n, at + len(cells[k]) + 1)
        if at >= 0:
            start = at + len(cells[k])
        start = line.find(",", start) + 1 if line.find(",", start) >= 0 else len(line)
    return Span(name, n, 1, n, max(2, len(line) + 1))


def _header(rows, name: str, allowed: tuple, required: tuple, diags: list):
    first = next(rows, None)
    if first is None:
        diags.append(Diagnostic(CODE, "the file has no header row", Span(name, 1, 1, 1, 1),
                                ("the first line names the columns: " + ",".join(allowed),)))
        return None
    n, line, cells = first
    cols = [c.lower() for c in cells]
    for i, c in enumerate(cols):
        if c not in allowed:
            diags.append(Diagnostic(CODE, f"unknown column `{cells[i]}`", _cell_span(name, n, line, cells, i),
                                    did_you_mean(c, allowed) or ("the columns: " + ",".join(allowed),)))
        elif cols.index(c) != i:
            diags.append(Diagnostic(CODE, f"column `{c}` is named twice", _cell_span(name, n, line, cells, i)))
    missing = [c for c in required if c not in cols]
    if missing:
        diags.append(Diagnostic(CODE, "the header lacks " + ", ".join(f"`{c}`" for c in missing),
                                Span(name, n, 1, n, len(line) + 1), ("the columns: " + ",".join(allowed),)))
        return None
    return cols


def _date(text: str, span: Span, what: str, diags: list) -> _dt.date | None:
    try:
        if len(text) != 10:
            raise ValueError
        return _dt.date.fromisoformat(text)
    except ValueError:
        diags.append(Diagnostic(CODE, f"`{what}` is not a date: `{text[:40]}`", span, ("write YYYY-MM-DD",)))
        return None


def _amount(text: str, span: Span, diags: list) -> Decimal | None:
    if not AMOUNT_RE.match(text):
        diags.append(Diagnostic(CODE, f"amount `{text[:40]}` is not a non-negative decimal", span, (AMOUNT_HINT,)))
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        diags.append(Diagnostic(CODE, f"amount `{text[:40]}` is not a decimal", span, (AMOUNT_HINT,)))
        return None


def _overlaps(rows: list, name: str, diags: list):
    """A diagnostic for each row that prices a code on days an earlier row (by start day)
    already prices, naming that row: one sweep per code in date order, so a table of one
    code repeated 100,000 times is 100,000 comparisons and at most one diagnostic a row,
    not one per pair."""
    by_code: dict = {}
    for r in rows:
        by_code.setdefault(r.code, []).append(r)
    found = []
    for code_rows in by_code.values():
        reach = None  # the row seen so far that reaches furthest
        for r in sorted(code_rows, key=lambda x: (x.window.start or _dt.date.min, x.line)):
            if reach is not None and (r.window.start or _dt.date.min) <= (reach.window.end or _dt.date.max):
                first, here = sorted((reach, r), key=lambda x: x.line)
                found.append((here.line, first.line, Diagnostic(
                    CODE, f"two rows price `{r.code}` on the same days ({first.window} on line {first.line}, "
                    f"{here.window} here)", Span(name, here.line, 1, here.line, 2),
                    ("give each row of a code its own dates",))))
            if reach is None or (r.window.end or _dt.date.max) > (reach.window.end or _dt.date.max):
                reach = r
    diags.extend(d for _, _, d in sorted(found, key=lambda x: x[:2]))


# ---------------------------------------------------------------- the pack's table


def _setting_span(toml_file: str, text: str, key: str | None) -> Span:
    table = None
    for i, line in enumerate(text.split("\n"), 1):
        m = re.match(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]", line)
        if m:
            table = m.group(1)
            if key is None and table == "amounts":
                return Span(toml_file, i, m.start(1) + 1, i, m.end(1) + 1)
            continue
        if table == "amounts" and key is not None:
            k = re.match(r"^(\s*)(" + re.escape(key) + r")\s*=", line)
            if k:
                return Span(toml_file, i, len(k.group(1)) + 1, i, k.end(2) + 1)
    return Span(toml_file, 1, 1, 1, 1)


def load_pack_amounts(root: Path, toml_text: str, pack, parent, files, texts: dict) -> tuple:
    """``(Amounts or None, diagnostics)`` for the checked ``pack`` in folder ``root``:
    its ``[amounts]`` table (or its parent's amounts when it declares none)."""
    toml_file = str(root / "pack.toml")
    try:
        table = tomllib.loads(toml_text).get("amounts")
    except tomllib.TOMLDecodeError:  # already reported by the loader
        return None, []
    if table is None:
        return (parent.amounts if parent is not None else None), []
    diags: list = []
    if not isinstance(table, dict):
        return None, [Diagnostic(CODE, "`amounts` in pack.toml must be a table (`[amounts]`)",
                                 _setting_span(toml_file, toml_text, None))]
    for k in table:
        if k not in SETTINGS:
            diags.append(Diagnostic(CODE, f"`[amounts] {k}` is not an amounts setting",
                                    _setting_span(toml_file, toml_text, k), did_you_mean(k, SETTINGS)))
    rel = table.get("file")
    if (not isinstance(rel, str) or not rel or Path(rel).is_absolute() or rel.startswith(("/", "\\"))
            or any(c < " " for c in rel)):  # a NUL (or another control character) is no file name
        diags.append(Diagnostic(CODE, "`[amounts] file` must name a file inside the pack folder",
                                _setting_span(toml_file, toml_text, "file" if "file" in table else None),
                                ('e.g. file = "amounts.csv"',)))
        return None, diags
    for k in ("label", "currency"):
        if k in table and not isinstance(table[k], str):
            diags.append(Diagnostic(CODE, f"`[amounts] {k}` must be a string", _setting_span(toml_file, toml_text, k)))
    units = table.get("units")
    if units is not None and not (isinstance(units, str) and FIELD_RE.match(units)):
        diags.append(Diagnostic(CODE, "`[amounts] units` must name a field of a line",
                                _setting_span(toml_file, toml_text, "units"), ('e.g. units = "units"',)))
        units = None
    path = root / rel
    try:
        text = files.read(path, root).decode("utf-8-sig")
    except UnsafeFile as e:
        return None, diags + [Diagnostic("E505", f"`{rel}` was not read: {e}", _setting_span(toml_file, toml_text,
                                                                                             "file"))]
    except UnicodeDecodeError as e:
        return None, diags + [Diagnostic("E505", f"cannot read `{rel}` as UTF-8 text ({e.__class__.__name__})",
                                         Span(str(path), 1, 1, 1, 1))]
    texts[str(path)] = text
    rows = _pack_rows(text, str(path), pack, diags)
    label = table.get("label") if isinstance(table.get("label"), str) else "amounts per code"
    currency = table.get("currency") if isinstance(table.get("currency"), str) else ""
    return Amounts(label, currency, units, tuple(rows), rel), diags


def _pack_rows(text: str, name: str, pack, diags: list) -> list:
    rows_in = _rows(text, name, diags)
    cols = _header(rows_in, name, PACK_COLUMNS, PACK_COLUMNS, diags)
    if cols is None:
        return []
    out = []
    codes = [c.name for c in pack.codes]
    sources = [s.name for s in pack.sources]
    for n, line, cells in rows_in:
        if len(cells) != len(cols):
            diags.append(Diagnostic(CODE, f"the row has {len(cells)} cells; the header names {len(cols)}",
                                    Span(name, n, 1, n, len(line) + 1), (ROW_HINT,)))
            continue
        v = dict(zip(cols, cells))

        def at(col):
            return _cell_span(name, n, line, cells, cols.index(col))

        before = len(diags)
        code = pack.code(v["code"])
        if code is None:
            diags.append(Diagnostic(CODE, f"code `{v['code'][:40]}` is not in the pack's catalog", at("code"),
                                    did_you_mean(v["code"], codes)))
        start = _date(v["from"], at("from"), "from", diags)
        end = _date(v["until"], at("until"), "until", diags)
        if start and end:
            if end < start:
                diags.append(Diagnostic(CODE, f"`until` {end} is before `from` {start}", at("until")))
            elif not (pack.coverage.contains(start) and pack.coverage.contains(end)):
                diags.append(Diagnostic(CODE, f"{start}..{end} is not inside the pack's coverage ({pack.coverage})",
                                        at("from"), ("an amount applies only to dates the pack judges",)))
        amount = _amount(v["amount"], at("amount"), diags)
        ids = [s.strip() for s in v["source"].split(";") if s.strip()]
        if not ids:
            diags.append(Diagnostic(CODE, "the row names no source", at("source"),
                                    ("every amount rests on a source the pack declares",)))
        tiers = []
        for sid in ids:
            src = pack.source(sid)
            if src is None:
                cell = at("source")
                col = line.find(sid, cell.column - 1)
                span = Span(name, n, col + 1, n, col + 1 + len(sid)) if col >= 0 else cell
                diags.append(Diagnostic(CODE, f"`{sid[:40]}` is not a source the pack declares", span,
                                        did_you_mean(sid, sources)))
            else:
                tiers.append(tier_of(src.kind))
        verified = v["verified"].lower()
        if verified not in ("yes", "no"):
            diags.append(Diagnostic(CODE, f"`verified` is yes or no, not `{v['verified'][:20]}`", at("verified")))
        elif verified == "yes" and tiers and PRIMARY not in tiers:
            diags.append(Diagnostic(CODE, f"`{v['code']}`: a figure no primary source gives must say verified = no",
                                    at("verified"), ("only " + ", ".join(ids) + " give it, none of them primary",)))
        if len(diags) == before:
            out.append(AmountRow(v["code"], Window(start, end), amount, tuple(ids), verified == "yes", v["basis"],
                                 name, n))
    _overlaps(out, name, diags)
    return out


# ---------------------------------------------------------------- a user's rates


def read_rates(path: str) -> tuple:
    """The rows of a user's rates file, or ``RatesError`` naming every bad row."""
    name = str(path)
    try:
        # Opened without blocking (a FIFO no one writes to would block open() for ever), and
        # read only when it is a regular file, as a pack's own files are.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RuleciteError(f"cannot read `{name}`: it is not a regular file (a FIFO, device or folder is "
                                "never read)", code=CODE, hints=("save the table as a file and name that file",))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise RuleciteError(f"cannot read `{name}`: {getattr(e, 'strerror', None) or 'not a file name'}",
                            code=CODE) from None
    if len(data) > MAX_FILE_BYTES:
        raise RuleciteError(f"`{name}` is larger than {MAX_FILE_BYTES:,} bytes", code=CODE)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RuleciteError(f"`{name}` is not UTF-8 text", code=CODE,
                            hints=("save the spreadsheet as CSV UTF-8",)) from None
    rows, diags = parse_rates(text, name)
    if diags:
        raise RatesError(diags, {name: text})
    return rows


def parse_rates(text: str, name: str) -> tuple:
    """``(rows, diagnostics)`` of a rates file's text (see ``read_rates``)."""
    diags: list = []
    rows_in = _rows(text, name, diags)
    cols = _header(rows_in, name, RATES_COLUMNS, ("code", "amount"), diags)
    if cols is None:
        return (), diags
    if "from" in cols and "effective" in cols:
        diags.append(Diagnostic(CODE, "`from` and `effective` are the same column; keep one", Span(name, 1, 1, 1, 1)))
    out = []
    for n, line, cells in rows_in:
        if len(cells) > len(cols) or len(cells) < 1 + max(cols.index("code"), cols.index("amount")):
            diags.append(Diagnostic(CODE, f"the row has {len(cells)} cells; the header names {len(cols)}",
                                    Span(name, n, 1, n, len(line) + 1), (ROW_HINT,)))
            continue
        v = dict(zip(cols, cells + [""] * (len(cols) - len(cells))))  # optional cells may be left off
        before = len(diags)
        if not v["code"]:
            diags.append(Diagnostic(CODE, "the row has no code", _cell_span(name, n, line, cells, cols.index("code"))))
        amount = _amount(v["amount"], _cell_span(name, n, line, cells, cols.index("amount")), diags)
        start = end = None
        for col in ("from", "effective", "until"):
            if v.get(col):
                d = _date(v[col], _cell_span(name, n, line, cells, cols.index(col)), col, diags)
                if col == "until":
                    end = d
                else:
                    start = d
        if start and end and end < start:
            diags.append(Diagnostic(CODE, f"`until` {end} is before {start}",
                                    _cell_span(name, n, line, cells, cols.index("until"))))
        if len(diags) == before:
            out.append(AmountRow(v["code"], Window(start, end), amount, (), True, v.get("note", ""), name, n))
    _overlaps(out, name, diags)
    return tuple(out), diags
