"""Shared helpers for the CMS care-management pack tests (test_cms_pack.py, test_examples.py).

The bundled pack is loaded by name, as a vendor would. The examples (105 patient-months and
their intended verdicts) live in ``examples/``; the rule plan the pack was written from is
``docs-dev/cms-care-management-plan.md``, whose §5 tables give each rule's severity,
dates and the sources it must cite.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from rulecite.interpreter import evaluate, load_pack
from rulecite.interpreter.engine.results import Rejection

ROOT = Path(__file__).resolve().parent.parent
PACK_NAME = "cms-care-management"
OVERLAY_NAME = "example-practice-overlay"
PACK_DIR = ROOT / "packs" / PACK_NAME
OVERLAY_DIR = ROOT / "packs" / OVERLAY_NAME
EXAMPLES = ROOT / "examples" / "patient-months.jsonl"
EXPECTATIONS = ROOT / "examples" / "expectations.json"
PLAN = ROOT / "docs-dev" / "cms-care-management-plan.md"


@functools.lru_cache(maxsize=None)
def cms_pack():
    return load_pack(PACK_NAME)


@functools.lru_cache(maxsize=None)
def overlay_pack():
    return load_pack(OVERLAY_NAME)


def example_records() -> list:
    with EXAMPLES.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def expectations() -> dict:
    return json.loads(EXPECTATIONS.read_text(encoding="utf-8"))


def key_of(record_or_result) -> str:
    if isinstance(record_or_result, dict):
        return f"{record_or_result['patient_id']}|{record_or_result['month']}"
    return f"{record_or_result.id}|{record_or_result.period}"


@functools.lru_cache(maxsize=None)
def evaluated_examples() -> tuple:
    """Every example record evaluated in one run (so history is seen): (results by key,
    rejections by key, number of records read)."""
    records = example_records()
    results, rejections = {}, {}
    for out, rec in zip(evaluate(cms_pack(), records), records):
        if isinstance(out, Rejection):
            rejections[key_of(rec)] = out
        else:
            results[key_of(out)] = out
    return results, rejections, len(records)


def verdicts(result) -> tuple:
    """(per line: (verdict, sorted deny rules)), sorted warn/info rule ids of the record."""
    lines = {str(v.line): (v.verdict, sorted(v.rules)) for v in result.lines}
    warns = sorted({f.rule for f in result.findings if f.severity != "deny"})
    return lines, warns


def expected_verdicts(exp: dict) -> tuple:
    lines = {n: (d["verdict"], sorted(d["rules"])) for n, d in exp["lines"].items()}
    return lines, sorted(exp["warn_rules"])


@functools.lru_cache(maxsize=None)
def plan_rows() -> dict:
    """Rule id -> the row of the plan's §5 table ({column title: cell text})."""
    text = PLAN.read_text(encoding="utf-8")
    section = text[text.index("## 5. Rules by family"):text.index("## 6. Suggestions")]
    header, rows = None, {}
    for line in section.splitlines():
        if line.startswith("| Rule id"):
            header = [c.strip() for c in line.strip().strip("|").split("|")]
            continue
        m = re.match(r"\| `([a-z0-9][a-z0-9.\-]*)` \|", line)
        if m and header:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            assert len(cells) == len(header), f"plan row {m.group(1)} has {len(cells)} cells, not {len(header)}"
            rows[m.group(1)] = dict(zip(header, cells))
    return rows


def planned_sources(rule_id: str, declared: set) -> set:
    """The source ids the plan's Cite column names for a rule (among the declared sources)."""
    cite = plan_rows()[rule_id]["Cite"]
    return set(re.findall(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", cite)) & declared
