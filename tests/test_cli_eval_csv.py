"""``rulecite eval -o csv``: the biller's CSV, read back with the csv module.

Expected rows are written out by hand from the records of examples/patient-months.jsonl and
the rules of the CMS pack (messages are the rules' templates filled with the record's
values; citations are each rule's first primary source as the citation formatter words it).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from rulecite.cli.eval_writers import rejection_reasons

from tests.cli_support import CMS, EXAMPLES, LIBRARY, run, write_jsonl

HEADER = ["input_line", "patient_id", "month", "line", "code", "verdict", "rule", "severity", "message",
          "citation", "suggestion"]


@pytest.fixture(scope="module")
def rows():
    r = run(["eval", CMS, EXAMPLES, "-o", "csv", "-q"])
    assert r.exit_code == 0, r.output
    return list(csv.reader(io.StringIO(r.stdout)))


def of(rows, input_line):
    return [x for x in rows[1:] if x[0] == str(input_line)]


def test_header(rows):
    assert rows[0] == HEADER
    assert all(len(x) == len(HEADER) for x in rows)


def test_a_clean_record_one_row_per_line_and_its_suggestion(rows):
    # CL01-A1101 2026-03: five allowed lines; RPM time 25 + 20 = 45 minutes, so the pack's
    # suggest.rpm-mgmt.99458 (for the 99457 line, line 4) suggests floor((45 - 20) / 20) = 1 unit
    head = ["1", "CL01-A1101", "2026-03"]
    assert of(rows, 1) == [
        head + ["1", "G0558", "allow", "", "", "", "", ""],
        head + ["2", "G0570", "allow", "", "", "", "", ""],
        head + ["3", "99454", "allow", "", "", "", "", ""],
        head + ["4", "99457", "allow", "", "", "", "", ""],
        head + ["5", "99458", "allow", "", "", "", "", ""],
        head + ["4", "", "suggest", "suggest.rpm-mgmt.99458", "",
                "45 RPM management minutes support 99457 + 1 unit(s) of 99458 (2026 RPM code guides)", "",
                "99458 x1"],
    ]


def test_a_denied_line_with_its_message_and_primary_citation(rows):
    # FX01-A1201 2025-07: G0558 (line 1) then G0557 (line 2) on the same day: apcm_units through
    # line 2 is 2. apcm.once-per-month cites FR25 (final rule, 89 FR 97710, page unverified)
    # first, then FAIRPATH_APCM_BH and W_RHIH (secondary): only FR25 is the primary citation.
    head = ["17", "FX01-A1201", "2025-07"]
    assert of(rows, 17) == [
        head + ["1", "G0558", "allow", "", "", "", "", ""],
        head + ["2", "G0557", "deny", "apcm.once-per-month", "deny",
                "only one APCM code per patient per month; 2 APCM unit(s) billed through line 2 (G0558, G0557)",
                "89 FR 97710, page unverified", ""],
    ]


def test_one_row_per_rule_that_fired_with_the_suggestion(rows):
    # SC18-A1016 2025-05: 99439 x3 with 75 clinical-staff minutes: 3 units need 20 + 3 x 20 = 80.
    # The MUE of 2 also fires; the CMS_MUE_2026Q2 source (guidance) is its primary citation.
    head = ["73", "SC18-A1016", "2025-05"]
    got = of(rows, 73)
    assert got[0] == head + ["1", "99490", "allow", "", "", "", "", ""]
    assert got[1] == head + ["2", "99439", "deny", "ccm.99439.minutes", "deny",
                             "3 unit(s) of 99439 need 80 clinical-staff CCM minutes; 75 documented in 2025-05",
                             "85 FR 84472, page unverified",
                             "bill one unit of 99439 per full 20 minutes beyond the first 20"]
    assert got[2][:8] == head + ["2", "99439", "deny", "units.two-a-month", "deny"]
    assert got[2][9:] == ["MCR_MUE_PractitionerServices_Eff_04-01-2026, page unverified",
                          "bill at most 2 units of 99439"]
    # (75 - 20) // 20 = 2 units supported
    assert got[3][3:] == ["1", "", "suggest", "suggest.ccm-99439-units", "",
                          "75 clinical-staff CCM minutes support 2 unit(s) of 99439 (at most 2); 3 billed "
                          "(Mobile Health Providers)", "", "99439 x2"]
    assert len(got) == 4


def test_a_rejected_record_is_a_row_with_its_reason(rows):
    # SC04-A1003 2024-12 is before the pack's coverage (2025-01-01..2026-12-31)
    assert of(rows, 58) == [["58", "SC04-A1003", "2024-12", "", "", "rejected", "", "error",
                             "$.month: 2024-12 is outside the service dates this pack covers "
                             "(2025-01-01..2026-12-31); the pack cannot judge it", "", ""]]


def test_every_record_has_rows_and_every_denied_line_a_rule(rows):
    n = len(EXAMPLES.read_text().splitlines())
    assert {x[0] for x in rows[1:]} == {str(i) for i in range(1, n + 1)}
    assert all(x[6] for x in rows[1:] if x[5] == "deny")


def test_all_reasons_of_a_rejection_and_the_count_of_those_left_out():
    from rulecite.interpreter.engine.results import Rejection

    one = Rejection(1, "$.month", "bad month")
    assert rejection_reasons(one) == ["$.month: bad month"]
    many = Rejection(1, "$.month", "bad month", other_errors=2,
                     errors=(("$.month", "bad month"), ("$.claims[0].code", "missing"), ("$.x", "too long")))
    assert rejection_reasons(many) == ["$.month: bad month", "$.claims[0].code: missing", "$.x: too long"]
    cut = Rejection(1, "$.month", "bad month", other_errors=4, errors=(("$.month", "bad month"), ("$.x", "y")))
    assert rejection_reasons(cut) == ["$.month: bad month", "$.x: y", "(and 3 more problems in this record)"]


def test_every_error_of_a_rejected_record_is_a_row_and_a_summary_line(tmp_path):
    bad = json.dumps({"member_id": "M9", "month": "2026-01", "ehr_encounter_id": "E1",
                      "loans": [{"line": 1, "item": "BOOK", "units": "two", "date": "2026-01-02"}]})
    f = write_jsonl(tmp_path / "f.jsonl", [], [bad])
    r = run(["eval", LIBRARY, f, "-o", "csv"])
    rows = [x for x in csv.reader(io.StringIO(r.stdout))][1:]
    reasons = sorted(x[8] for x in rows if x[5] == "rejected")
    assert len(reasons) == 2
    assert reasons[0].startswith("$.ehr_encounter_id: unknown field `ehr_encounter_id`")
    assert reasons[1].startswith("$.loans[0].units: ")
    # the summary on stderr lists both under the record's input line
    assert "input line 1 at $.ehr_encounter_id: unknown field" in r.stderr
    assert "      $.loans[0].units: " in r.stderr


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\t=1", "\r=1"]


def test_hostile_cells_cannot_become_formulas(tmp_path):
    recs = [{"member_id": h, "month": "2026-01", "loans": [{"line": i + 1, "item": h}]}
            for i, h in enumerate(HOSTILE)]
    bad_month = json.dumps({"member_id": "=1+1", "month": "=2026", "loans": []})
    f = write_jsonl(tmp_path / "f.jsonl", recs, [bad_month])
    r = run(["eval", LIBRARY, f, "-o", "csv", "-q"])
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[1][1] == "'" + HOSTILE[0] and rows[1][4] == "'" + HOSTILE[0]
    ids = {x[1] for x in rows[1:]}
    assert {"'" + h for h in HOSTILE} | {"'=1+1"} <= ids
    rejected = [x for x in rows if x[5] == "rejected"]
    assert rejected and rejected[0][2] == "'=2026"
    for row in rows:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
