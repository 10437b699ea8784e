"""Amounts per code (policy_lang/amounts.py): the pack's [amounts] table checked at load,
the CMS pack's figures against the CMS National PFS Relative Value File rows the pack cites
(sources PFS_RVU25A/25D/26A), and a user's rates file."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import pytest
from rulecite.policy_lang import load
from rulecite.policy_lang.amounts import parse_rates

from .cli_support import CMS
from .conftest import BRANCH, LIBRARY

D = dt.date


def test_cms_pack_amounts_are_the_rates_research_figures():
    a = load(CMS).pack.amounts
    assert a.currency == "USD" and "non-facility" in a.label and a.units_field == "units"
    # RATES.md CY2025: 99490 total NF RVU 1.87 x CF 32.3465 = 60.4880 -> $60.49
    assert a.amount_for("99490", D(2025, 8, 31)) == Decimal("60.49")
    # CY2026 non-QP: 1.98 x 33.4009 = 66.1338 -> $66.13
    assert a.amount_for("99490", D(2026, 1, 31)) == Decimal("66.13")
    # add-on codes are per unit: 2 x 99439 in 2025 = 2 x 45.93
    assert a.amount_for("99439", D(2025, 3, 31), 2) == Decimal("91.86")
    # G0558 2025: 3.31 x 32.3465 = 107.0669 -> $107.07 (not the rounded "$110" of the projections)
    assert a.amount_for("G0558", D(2025, 7, 31)) == Decimal("107.07")
    row = a.row_for("G0558", D(2026, 3, 31))
    assert row.amount == Decimal("117.24") and row.sources == ("PFS_RVU26A",) and row.verified


def test_cms_pack_leaves_out_what_no_source_gives():
    a = load(CMS).pack.amounts
    assert a.amount_for("98986", D(2026, 5, 31)) is None  # carrier-priced
    assert a.amount_for("G0512", D(2025, 5, 31)) is None  # RHC/FQHC rate unconfirmed
    assert a.amount_for("G0071", D(2025, 5, 31)) is None
    assert a.amount_for("G0511", D(2026, 1, 31)) is None  # no 2026 row
    assert a.amount_for("G0568", D(2025, 12, 31)) is None  # a 2026-only code
    g0511 = a.row_for("G0511", D(2025, 5, 31))
    assert g0511.amount == Decimal("54.67") and not g0511.verified  # only NARHC (trade) states it


def _with_amounts(tmp_path, csv_text, table=None, extra_policy=None):
    pack = tmp_path / "lib"
    shutil.copytree(LIBRARY, pack)
    toml = (pack / "pack.toml").read_text()
    table = table if table is not None else '[amounts]\nfile = "amounts.csv"\nlabel = "replacement cost"\n'
    (pack / "pack.toml").write_text(toml + "\n" + table)
    (pack / "amounts.csv").write_text(csv_text)
    if extra_policy:
        (pack / "extra.policy").write_text(extra_policy)
    return load(pack)


def _errors(loaded):
    return [(d.code, d.span.file.rsplit("/", 1)[-1], d.span.line, d.span.column, d.message)
            for d in loaded.diagnostics if d.severity == "error"]


HEADER = "code,from,until,amount,source,verified,basis\n"


def test_a_good_table_loads_and_an_extending_pack_inherits_it(tmp_path):
    loaded = _with_amounts(tmp_path, "# a comment\n" + HEADER + "BOOK,2025-01-01,2026-12-31,12.50,BYLAWS2025,yes,list\n")
    assert loaded.ok, _errors(loaded)
    a = loaded.pack.amounts
    assert a.label == "replacement cost" and a.units_field is None
    assert a.amount_for("BOOK", D(2026, 2, 1), 3) == Decimal("37.50")
    assert a.amount_for("DVD", D(2026, 2, 1)) is None
    branch = tmp_path / "branch"
    shutil.copytree(BRANCH, branch)
    (branch / "pack.toml").write_text((branch / "pack.toml").read_text().replace("../library", "../lib"))
    child = load(branch)
    assert child.ok and child.pack.amounts.amount_for("BOOK", D(2025, 6, 1)) == Decimal("12.50")


def test_every_bad_row_is_an_error_with_its_line_and_column(tmp_path):
    rows = [
        "BOKO,2025-01-01,2025-12-31,1.00,BYLAWS2025,yes,x",  # 2 unknown code
        "BOOK,2025-13-01,2025-12-31,1.00,BYLAWS2025,yes,x",  # 3 bad date
        "DVD,2025-06-01,2025-05-01,1.00,BYLAWS2025,yes,x",  # 4 until before from
        "MAGAZINE,2024-01-01,2024-12-31,1.00,BYLAWS2025,yes,x",  # 5 outside coverage
        "EBOOK,2025-01-01,2025-12-31,-5,BYLAWS2025,yes,x",  # 6 negative
        "STREAM,2025-01-01,2025-12-31,\"1,50\",BYLAWS2025,yes,x",  # 7 thousands/decimal comma
        "STREAM,2026-01-01,2026-12-31,2.00,BYLAWZ2025,yes,x",  # 8 unknown source
        "BOOK,2025-01-01,2025-06-30,2.00,BLOG,yes,x",  # 9 secondary only, says verified
        "BOOK,2025-06-01,2025-12-31,2.00,BYLAWS2025,maybe,x",  # 10 verified not yes/no
        "DVD,2026-01-01,2026-12-31,2.00",  # 11 too few cells
        "EBOOK,2026-01-01,2026-06-30,2.00,BYLAWS2026,yes,x",  # 12 ok
        "EBOOK,2026-06-01,2026-12-31,3.00,BYLAWS2026,yes,x",  # 13 overlaps line 12
    ]
    blog = 'source BLOG {\n  title "A blog"\n  url "https://blog.example.org/x"\n  kind vendor\n}\n'
    loaded = _with_amounts(tmp_path, HEADER + "\n".join(rows) + "\n", extra_policy=blog)
    assert not loaded.ok
    errs = _errors(loaded)
    assert all(e[0] == "E507" and e[1] == "amounts.csv" for e in errs), errs
    by_line = {}
    for _, _, line, col, msg in errs:
        by_line.setdefault(line, []).append((col, msg))
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]  # the header is line 1; line 12 is good
    assert by_line[2] == [(1, "code `BOKO` is not in the pack's catalog")]
    assert by_line[3] == [(6, "`from` is not a date: `2025-13-01`")]
    assert by_line[4] == [(16, "`until` 2025-05-01 is before `from` 2025-06-01")]
    assert "not inside the pack's coverage" in by_line[5][0][1]
    assert by_line[6] == [(29, "amount `-5` is not a non-negative decimal")]
    assert by_line[7][0][1] == "amount `1,50` is not a non-negative decimal"
    assert by_line[8] == [(35, "`BYLAWZ2025` is not a source the pack declares")]
    assert [d.span.end_column for d in loaded.diagnostics if d.span.line == 8] == [45]  # under the id
    assert by_line[9] == [(38, "`BOOK`: a figure no primary source gives must say verified = no")]
    assert "`verified` is yes or no" in by_line[10][0][1]
    assert "4 cells" in by_line[11][0][1]
    assert "two rows price `EBOOK` on the same days" in by_line[13][0][1] and "line 12" in by_line[13][0][1]
    hints = {d.span.line: d.hints for d in loaded.diagnostics}
    assert hints[2] == ("did you mean `BOOK` or `EBOOK`?",) and hints[8] == ("did you mean `BYLAWS2025` or `BYLAWS2026`?",)


def test_a_secondary_figure_marked_unverified_loads(tmp_path):
    blog = 'source BLOG {\n  title "A blog"\n  url "https://blog.example.org/x"\n  kind vendor\n}\n'
    loaded = _with_amounts(tmp_path, HEADER + "BOOK,2025-01-01,2025-12-31,2.00,BLOG,no,blog says\n",
                           extra_policy=blog)
    assert loaded.ok, _errors(loaded)
    assert not loaded.pack.amounts.row_for("BOOK", D(2025, 3, 1)).verified


def test_bad_settings_and_files(tmp_path):
    loaded = _with_amounts(tmp_path / "a", HEADER, table='[amounts]\nfile = "/etc/passwd"\nlable = "x"\n')
    errs = _errors(loaded)
    assert ("E507", "pack.toml", 26, 1, "`[amounts] lable` is not an amounts setting") in errs, errs
    assert any(e[4] == "`[amounts] file` must name a file inside the pack folder" for e in errs)
    loaded = _with_amounts(tmp_path / "b", HEADER, table='[amounts]\nfile = "../outside.csv"\n')
    assert any(e[0] == "E505" and "outside the pack folder" in e[4] for e in _errors(loaded))
    loaded = _with_amounts(tmp_path / "c", "code,amount\n")
    assert [e[4] for e in _errors(loaded)] == ["the header lacks `from`, `until`, `source`, `verified`, `basis`"]


def test_rates_file_rows_and_errors_with_line_numbers():
    rows, diags = parse_rates("code,amount,effective,until\n99490,70.00,2026-01-01,2026-12-31\n99439,40\n",
                              "rates.csv")
    assert diags == [] and [(r.code, r.amount, r.window.start) for r in rows] == [
        ("99490", Decimal("70.00"), D(2026, 1, 1)), ("99439", Decimal("40"), None)]
    rows, diags = parse_rates("code,amount\n99490,$70\n99439,40\n,5\n99439,41\n", "rates.csv")
    got = [(d.code, d.span.line, d.span.column, d.message) for d in diags]
    assert got == [("E507", 2, 7, "amount `$70` is not a non-negative decimal"),
                   ("E507", 4, 1, "the row has no code"),
                   ("E507", 5, 1, "two rows price `99439` on the same days (always..open on line 3, "
                                  "always..open here)")]
    _, diags = parse_rates("code,price\n", "r.csv")
    assert [d.message for d in diags] == ["unknown column `price`", "the header lacks `amount`"]


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_rates_file_without_header(text):
    _, diags = parse_rates(text, "r.csv")
    assert [d.message for d in diags] == ["the file has no header row"]


def test_the_pack_cache_keeps_amounts_and_sees_an_edited_table(tmp_path, monkeypatch):
    from rulecite.policy_lang import cache as pc

    monkeypatch.setenv("RULECITE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RULECITE_CACHE_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.delenv("RULECITE_NO_CACHE", raising=False)
    loaded = _with_amounts(tmp_path, HEADER + "BOOK,2025-01-01,2026-12-31,12.50,BYLAWS2025,yes,list\n")
    root = tmp_path / "lib"
    first, how1 = pc.load_cached(root)
    again, how2 = pc.load_cached(root)
    assert (how1, how2) == ("stored", "hit"), (how1, how2)
    assert again.pack.amounts == loaded.pack.amounts
    assert again.pack.amounts.amount_for("BOOK", D(2025, 2, 1)) == Decimal("12.50")  # the index survives pickling
    (root / "amounts.csv").write_text(HEADER + "BOOK,2025-01-01,2026-12-31,13.00,BYLAWS2025,yes,list\n")
    edited, _ = pc.load_cached(root)
    assert edited.pack.amounts.amount_for("BOOK", D(2025, 2, 1)) == Decimal("13.00")
