"""``rulecite eval --summary`` (dollars at risk), ``--rates`` and ``--fail-on reject``.

The figures below are computed by hand from the CMS RVU file rows the pack cites (national non-facility
amounts: 2025 at CF 32.3465, 2026 at the non-QP CF 33.4009) and the verdicts that
examples/expectations.json gives for the records picked (hand-written intent, not output).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_support import CMS, EXAMPLES, LIBRARY, assert_bad_input, run, write_jsonl

# Input lines of examples/patient-months.jsonl; each patient here has no other record there,
# so no verdict depends on a month left out.
PICKED = (1, 17, 18, 47, 58, 73, 93, 94)


@pytest.fixture(scope="module")
def picked(tmp_path_factory) -> Path:
    lines = EXAMPLES.read_text().splitlines()
    path = tmp_path_factory.mktemp("money") / "picked.jsonl"
    path.write_text("".join(lines[i - 1] + "\n" for i in PICKED))
    return path


def summary_json(facts, *extra, pack=CMS):
    r = run(["eval", pack, facts, "--summary", "--summary-format", "json", "-q", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_summary_against_hand_computed_figures(picked):
    s = summary_json(picked)
    # CL01-A1101 2026-03, all allowed: G0558 117.24 + G0570 57.78 + 99454 52.11 + 99457 51.77
    #   + 99458 41.42 = 320.32
    # FX01-A1201 2025-07: G0558 107.07 allowed; G0557 48.84 denied (apcm.once-per-month)
    # FX02-A1202 2025-05: G0511 54.67 denied (fqhc.rhc-fqhc-only); unverified (NARHC only)
    # FX30-A1228 2026-04: 98986 allowed but unpriced (carrier-priced); 98980 54.11 denied
    # SC04-A1003 2024-12: rejected (outside coverage), not priced
    # SC18-A1016 2025-05: 99490 60.49 allowed; 99439 x3 units = 3 x 45.93 = 137.79 denied by
    #   ccm.99439.minutes and units.two-a-month
    # SC36-R4002 2025-12 and 2026-01: G0512, unpriced both times (second denied, catalog.window)
    # billed = 320.32 + 155.91 + 54.67 + 54.11 + 60.49 + 137.79 = 783.29
    # allowed = 320.32 + 107.07 + 60.49 = 487.88; at risk = 48.84 + 54.67 + 54.11 + 137.79 = 295.41
    assert s["records"] == 7 and s["rejections"] == 1
    assert s["lines"] == {"total": 14, "units": 16, "priced": 11, "unpriced": 3}
    assert s["totals"] == {"billed": "783.29", "allowed": "487.88", "at_risk": "295.41"}
    # per patient-month: 783.29 / 7 = 111.899 -> 111.90; 487.88 / 7 = 69.697 -> 69.70; 295.41 / 7 = 42.201
    assert s["per_record"] == {"billed": "111.90", "allowed": "69.70", "at_risk": "42.20"}
    assert s["currency"] == "USD" and "non-facility" in s["label"] and s["rates_file"] is None
    codes = {c["code"]: c for c in s["by_code"]}
    assert codes["99439"] == {"code": "99439", "lines": 1, "units": 3, "unpriced_lines": 0, "billed": "137.79",
                              "allowed": "0.00", "at_risk": "137.79"}
    assert codes["G0558"] == {"code": "G0558", "lines": 2, "units": 2, "unpriced_lines": 0,
                              "billed": "224.31", "allowed": "224.31", "at_risk": "0.00"}  # 117.24 + 107.07
    assert codes["G0512"]["unpriced_lines"] == 2 and codes["G0512"]["billed"] == "0.00"
    assert [(r["rule"], r["denied_lines"], r["at_risk"], r["unpriced_lines"]) for r in s["by_rule"]] == [
        ("ccm.99439.minutes", 1, "137.79", 0), ("units.two-a-month", 1, "137.79", 0),
        ("fqhc.rhc-fqhc-only", 1, "54.67", 0), ("rtm.98980.minutes", 1, "54.11", 0),
        ("apcm.once-per-month", 1, "48.84", 0), ("catalog.window", 1, "0.00", 1)]
    assert s["by_rule"][4]["title"] == "One APCM code per patient per month"
    assert s["unpriced"] == {"98986": 1, "G0512": 2}
    assert s["unverified"] == {"lines": 1, "amount": "54.67", "codes": ["G0511"]}


def test_summary_table_for_people(picked):
    r = run(["eval", CMS, picked, "--summary"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "Amounts: Medicare national non-facility fee-schedule amount" in out
    assert "7 record(s) evaluated, 1 rejected (not priced); 14 line(s), 11 priced" in out
    assert out.count("$783.29") == 1 and "$487.88" in out and "$295.41" in out
    assert "per patient_id-month" in out and "$111.90" in out
    assert "ccm.99439.minutes" in out and "$137.79" in out
    assert "unpriced (no amount for the code on the line's date): 98986 x1, G0512 x2" in out
    assert "unverified amounts (no primary source) priced 1 line(s), $54.67: G0511" in out
    assert "records read" in r.stderr  # the run summary still goes to stderr


def test_summary_is_the_same_in_parallel(picked):
    assert summary_json(picked, "--jobs", "2") == summary_json(picked)


def test_rates_override_the_pack_for_their_codes_and_dates(picked, tmp_path):
    rates = tmp_path / "fees.csv"
    # 99439 at 50.00 always; 99490 at 70.00 only in 2026 (SC18's 99490 is in 2025: pack price stays)
    rates.write_text("code,amount,effective,until,note\n99439,50.00,,,our contract\n"
                     "99490,70.00,2026-01-01,2026-12-31,\n")
    s = summary_json(picked, "--rates", rates)
    # at risk: 295.41 - 137.79 + 3 x 50.00 = 307.62; billed: 783.29 - 137.79 + 150.00 = 795.50
    assert s["totals"] == {"billed": "795.50", "allowed": "487.88", "at_risk": "307.62"}
    assert s["rates_file"] == str(rates) and s["rates_lines"] == 1
    # a code the pack cannot price gets a price from the rates file
    rates.write_text("code,amount\nG0512,100\n")
    s = summary_json(picked, "--rates", rates)
    assert s["unpriced"] == {"98986": 1} and s["totals"]["allowed"] == "587.88"  # 487.88 + 100
    assert s["totals"]["at_risk"] == "395.41"  # 295.41 + 100


def test_rates_for_a_pack_without_amounts(tmp_path):
    facts = write_jsonl(tmp_path / "f.jsonl", [{"member_id": "M1", "month": "2026-01",
                                                "loans": [{"line": 1, "item": "BOOK", "units": 2}]}])
    s = summary_json(facts, "--rates", _rates(tmp_path, "code,amount\nBOOK,3.5\n"), pack=LIBRARY)
    assert s["lines"]["priced"] == 1 and s["totals"]["billed"] == "3.50"  # no [amounts]: units not read
    r = run(["eval", LIBRARY, facts, "--summary"])
    assert r.exit_code == 0 and "Amounts: none" in r.stdout and "BOOK x1" in r.stdout


def _rates(tmp_path, text):
    p = tmp_path / "rates.csv"
    p.write_text(text)
    return p


def test_bad_rates_file_is_a_clear_error_with_line_and_caret(picked, tmp_path):
    rates = _rates(tmp_path, "code,amount\n99490,60.49\n99439,$45.93\n99491,-1\n")
    r = run(["eval", CMS, picked, "--summary", "--rates", rates])
    assert_bad_input(r, "E507")
    assert f"{rates}:3:7: error[E507]: amount `$45.93` is not a non-negative decimal" in r.stderr
    assert "   3 | 99439,$45.93\n     |       ^^^^^^" in r.stderr
    assert f"{rates}:4:7: error[E507]: amount `-1` is not a non-negative decimal" in r.stderr
    assert "no currency sign" in r.stderr and r.stdout == ""
    assert_bad_input(run(["eval", CMS, picked, "--summary", "--rates", tmp_path / "nope.csv"]), "nope.csv")
    assert_bad_input(run(["eval", CMS, picked, "--rates", rates]), "--rates prices the --summary")
    assert_bad_input(run(["eval", CMS, picked, "--summary", "-o", "csv"]), "--summary")


# ---------------------------------------------------------------- --fail-on


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """Facts files of the library pack: clean, one denied line, one rejected record, both."""
    from tests.cli_support import library_records

    d = tmp_path_factory.mktemp("failon")
    recs = library_records()
    ok, denied = recs[0], recs[1]
    return {"ok": write_jsonl(d / "ok.jsonl", [ok]),
            "deny": write_jsonl(d / "deny.jsonl", [denied]),
            "reject": write_jsonl(d / "reject.jsonl", [ok], ["not json"]),
            "both": write_jsonl(d / "both.jsonl", [denied], ["not json"])}


@pytest.mark.parametrize("fail_on,expected", [
    ((), {"ok": 0, "deny": 0, "reject": 0, "both": 0}),
    (("deny",), {"ok": 0, "deny": 1, "reject": 0, "both": 1}),
    (("reject",), {"ok": 0, "deny": 0, "reject": 1, "both": 1}),
    (("deny", "reject"), {"ok": 0, "deny": 1, "reject": 1, "both": 1}),
    (("deny,reject",), {"ok": 0, "deny": 1, "reject": 1, "both": 1}),
    (("warn,reject",), {"ok": 0, "deny": 1, "reject": 1, "both": 1}),
])
def test_fail_on_separates_rejections_from_denials(kinds, fail_on, expected):
    args = [a for v in fail_on for a in ("--fail-on", v)]
    got = {name: run(["eval", LIBRARY, f, "-q", *args]).exit_code for name, f in kinds.items()}
    assert got == expected


def test_a_rejection_that_does_not_fail_the_run_is_noted(kinds):
    r = run(["eval", LIBRARY, kinds["reject"], "-q", "--fail-on", "deny"])
    assert r.exit_code == 0
    assert "1 rejected record did not fail this run" in r.stderr and "--fail-on reject" in r.stderr
    assert run(["eval", LIBRARY, kinds["reject"], "-q"]).stderr == ""


def test_fail_on_bad_value(kinds):
    r = run(["eval", LIBRARY, kinds["ok"], "--fail-on", "deny,rejected"])
    assert r.exit_code == 2 and "'rejected' is not one of deny, warn, reject" in r.output


# ---------------------------------------------------------------- the README shows real output


def _readme_block(mark):
    text = (EXAMPLES.parent.parent / "README.md").read_text()
    block = text.split(f"<!-- readme:{mark} -->\n```console\n", 1)[1].split("\n```", 1)[0]
    command, *shown = block.splitlines()
    return command.removeprefix("$ rulecite ").split(), [x for x in shown if x != "..."]


@pytest.mark.parametrize("mark", ["summary", "csv"])
def test_readme_quickstart_output_is_real(mark):
    args, shown = _readme_block(mark)
    r = run(args)
    assert r.exit_code == (1 if mark == "csv" else 0), r.output  # --fail-on deny,reject: the examples deny
    out = r.stdout.replace("\r\n", "\n").splitlines()
    for line in shown:
        assert line in out, line


def test_priced_lines_for_one_result():
    """The per-line amounts other reports show (the evidence packet), as the summary counts them."""
    from decimal import Decimal

    from rulecite.interpreter import evaluate, load_pack
    from rulecite.interpreter.reports.summary import priced_lines

    pack = load_pack(CMS)
    record = json.loads(EXAMPLES.read_text().splitlines()[72])  # SC18-A1016 2025-05
    (result,) = list(evaluate(pack, [record]))
    got = [(p.line.code, p.line.verdict, p.units, str(p.date), p.amount)
           for p in priced_lines(result, record, pack.model.shape, pack.model.amounts)]
    # 99490 60.49 x 1; 99439 45.93 x 3 = 137.79 (RATES.md, CY2025)
    assert got == [("99490", "allow", 1, "2025-05-31", Decimal("60.49")),
                   ("99439", "deny", 3, "2025-05-31", Decimal("137.79"))]


def test_the_summary_table_passes_no_control_character_to_the_terminal(tmp_path):
    # a record's code holding an escape sequence, priced by nothing: it is listed as unpriced
    facts = write_jsonl(tmp_path / "f.jsonl", [{"member_id": "M1", "month": "2026-01",
                                                "loans": [{"line": 1, "item": "BO\u001b[2JOK\nFAKE", "units": 2}]}])
    r = run(["eval", LIBRARY, facts, "--summary"])
    assert "\u001b" not in r.stdout and "\nFAKE" not in r.stdout, r.stdout
    assert "BO\\u001b[2JOK\\u000aFAKE" in r.stdout
