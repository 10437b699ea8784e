"""Dated parameters: a named value that changes by date of service, each value cited."""

from __future__ import annotations

import datetime as _dt
import shutil

import pytest

from rulecite.interpreter import evaluate, explain, load_pack
from rulecite.policy_lang import PackError

from .conftest import LIBRARY

PARAM = """
parameter max_items {{
  title "Most items a member may borrow a month"
  from 2025-01-01 value 10 cite BYLAWS2025 section "2. Limits"
  from {second} value 12 cite BYLAWS2026 section "2. Limits"
}}

let total_units = sum(l.units for l in loans)

rule loans.limit {{
  title "At most the monthly limit of items"
  cite BYLAWS2025 section "2. Limits"
  for l in loans where l.item in ANY_ITEM
  deny unless total_units <= max_items
  message "{{total_units}} items this month; the limit is {{max_items}}"
}}
"""


def make(tmp_path, policy: str):
    d = tmp_path / "p"
    d.mkdir(parents=True)
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        shutil.copy(LIBRARY / name, d / name)
    (d / "rules.policy").write_text(policy)
    return d


def books(month, n):
    return {"member_id": "M1", "month": month, "loans": [{"line": 1, "item": "BOOK", "units": n}]}


def result(pack, record, **kw):
    (r,) = list(evaluate(pack, [record], **kw))
    return r


def test_the_value_in_force_on_the_service_date_is_used(tmp_path):
    pack = load_pack(make(tmp_path, PARAM.format(second="2026-01-01")))
    assert result(pack, books("2025-06", 11)).lines[0].verdict == "deny"
    assert result(pack, books("2026-06", 11)).lines[0].verdict == "allow"
    assert result(pack, books("2026-06", 13)).lines[0].verdict == "deny"
    line_dated = books("2025-12", 11)
    line_dated["loans"][0]["date"] = "2025-12-31"
    assert result(pack, line_dated).lines[0].verdict == "deny"


def test_a_finding_cites_the_value_it_used(tmp_path):
    pack = load_pack(make(tmp_path, PARAM.format(second="2026-01-01")))
    (f,) = result(pack, books("2026-06", 13)).findings
    assert [c["source"] for c in f.citations] == ["BYLAWS2025", "BYLAWS2026"]
    assert "the limit is 12" in f.message
    (f,) = result(pack, books("2025-06", 11)).findings
    assert [c["source"] for c in f.citations] == ["BYLAWS2025"]
    assert "the limit is 10" in f.message


def test_as_of_keeps_the_previous_value_until_the_new_source_is_published(tmp_path):
    pack = load_pack(make(tmp_path, PARAM.format(second="2026-01-01")))
    published = pack.model.source("BYLAWS2026").published
    before = published - _dt.timedelta(days=1)
    r = result(pack, books("2026-06", 11), as_of=before)
    assert r.lines[0].verdict == "deny"  # the 2026 value is not known yet: 10 stays in force
    (f,) = r.findings
    assert [c["source"] for c in f.citations] == ["BYLAWS2025"]
    assert result(pack, books("2026-06", 11), as_of=published).lines[0].verdict == "allow"


def test_explain_reads_the_parameter(tmp_path):
    pack = load_pack(make(tmp_path, PARAM.format(second="2026-01-01")))
    out = explain(pack, books("2026-06", 13))
    (trace,) = [r for r in out["rules"] if r["rule"] == "loans.limit"]
    assert trace["condition"]["children"][1] == {"expr": "max_items", "value": 12}


def errors(tmp_path, policy):
    with pytest.raises(PackError) as e:
        load_pack(make(tmp_path, policy))
    return e.value.diagnostics


def test_dates_out_of_order_are_an_error(tmp_path):
    diags = errors(tmp_path, PARAM.format(second="2024-06-01"))
    codes = [d.code for d in diags]
    assert codes.count("E405") == 2  # before the value above it, and outside the coverage


def test_values_of_two_types_are_an_error(tmp_path):
    diags = errors(tmp_path, PARAM.format(second="2026-01-01").replace("value 12", 'value "12"'))
    assert any(d.code == "E309" for d in diags)


def test_a_value_citing_an_unknown_source_is_an_error(tmp_path):
    diags = errors(tmp_path, PARAM.format(second="2026-01-01").replace("cite BYLAWS2026", "cite BYLAWS2027"))
    assert any(d.code == "E204" and "BYLAWS2027" in d.message for d in diags)


def test_the_site_shows_each_parameters_timeline(tmp_path):
    from rulecite.interpreter.reports.site import reference_nav, render_pack_reference

    pack = load_pack(make(tmp_path, PARAM.format(second="2026-01-01").replace(
        'title "Most items', 'title "Most <b>items')))
    pages = render_pack_reference(pack.model)
    page = pages["parameters.md"]
    assert "| 2025-01-01 | 2025-12-31 | <code>10</code> |" in page
    assert "| 2026-01-01 | open-ended | <code>12</code> |" in page
    assert "Value from 2026-01-01 cites:" in page and "section 2\\. Limits" in page
    assert "[loans.limit](" in page
    assert "<b>" not in page  # pack text is escaped
    assert {"Dated parameters": "ref/parameters.md"} in reference_nav(pack.model, "ref")


def test_a_top_level_let_reads_the_parameter_on_the_records_day(tmp_path):
    policy = PARAM.format(second="2025-06-15").replace(
        "deny unless total_units <= max_items", "deny unless total_units <= limit_this_month").replace(
        "let total_units", "let limit_this_month = max_items\nlet total_units")
    pack = load_pack(make(tmp_path, policy))
    rec = books("2025-06", 11)
    rec["loans"][0]["date"] = "2025-06-20"  # the line's day has 12; the record's day (06-01) has 10
    assert result(pack, rec).lines[0].verdict == "deny"
    assert explain(pack, rec)["rules"][0]["fires"] is True
