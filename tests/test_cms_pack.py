"""The bundled CMS care-management pack: it checks, its own tests pass and cover every rule,
its citations are honest, the DOMAIN §9 scenarios come out as intended, and the example
practice overlay extends it and changes one disputed outcome."""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import pytest

from rulecite.interpreter import evaluate
from rulecite.interpreter.packtest import run_tests
from rulecite.interpreter.results import Rejection
from rulecite.policy_lang import ast, load, render_text
from rulecite.policy_lang.packs import bundled_names

from .cms_support import (OVERLAY_DIR, OVERLAY_NAME, PACK_DIR, PACK_NAME, cms_pack, evaluated_examples,
                          example_records, expectations, expected_verdicts, key_of, overlay_pack, plan_rows,
                          planned_sources, verdicts)

# The only pages DOMAIN.md verifies, both display-copy pages (not Federal Register pages):
# FR17 display-copy p. 278 (DOMAIN §0.1) and FR26 display-copy p. 427 (through seed S000).
VERIFIED_PAGES = {"FR17": re.compile(r"^278 \(display copy"), "FR26": re.compile(r"^427 \(display copy")}

# Where the facts behind the pack live (outside the repository); the quote check is skipped
# when they are not there.
DOMAIN_DIR = Path(os.environ.get("RULECITE_DOMAIN_DIR", "/work/shared"))


def _all_citations(pack):
    for r in pack.rules:
        for c in r.citations:
            yield f"rule {r.id}", c
    for code in pack.codes:
        for c in code.citations:
            yield f"code {code.name}", c
    for ret in pack.retirements:
        for c in ret.citations:
            yield f"retire {ret.rule_id}", c


def _unconditional(rule) -> bool:
    """A rule whose verdict is `when true`: it fires on every line it applies to, by design."""
    return (rule.mode == "when" and isinstance(rule.condition, ast.Literal)
            and rule.condition.value is True)


# ---------------------------------------------------------------- the pack checks

def test_bundled_pack_is_found_by_name():
    assert PACK_NAME in bundled_names()
    assert OVERLAY_NAME in bundled_names()


def test_pack_checks_without_errors():
    loaded = load(PACK_NAME)
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    assert loaded.ok and not errors, render_text(errors, loaded.texts)


# ---------------------------------------------------------------- the pack's own tests

@pytest.fixture(scope="module")
def report():
    return run_tests(cms_pack())


def test_every_pack_test_passes(report):
    failing = [f"{Path(c.file).name}:{c.line} {c.name}: {'; '.join(c.failures)}" for c in report.cases if not c.passed]
    assert not failing, f"{len(failing)} failing pack test(s):\n" + "\n".join(failing)
    assert report.passed >= 250


def test_every_rule_has_a_deny_case(report):
    missing = list(report.coverage.without_deny)
    assert not missing, "rules without a deny (or warn) case: " + ", ".join(missing)


def test_every_rule_has_an_allow_case(report):
    """A rule in force and applicable that does not fire. Rules whose verdict is `when true`
    (they fire on every line they apply to in their window) cannot have one; they are exempt
    here, and still need deny and boundary cases."""
    rules = {r.id: r for r in cms_pack().model.rules}
    exempt = {rid for rid, r in rules.items() if _unconditional(r)}
    assert exempt <= {"fqhc.g0511.fr25-transition-end", "fqhc.g0511.not-payable", "rtm.98986.payment-status"}, \
        f"new unconditional rules: {sorted(exempt)}"
    missing = [rid for rid in report.coverage.without_allow if rid not in exempt]
    assert not missing, "rules without an allow case: " + ", ".join(missing)


def test_every_dated_rule_has_cases_on_both_sides_of_its_dates(report):
    missing = [f"{rid} at {day}" for rid, day in report.coverage.without_boundary]
    assert not missing, "dated rules without a case on each side of a date: " + ", ".join(missing)


# ---------------------------------------------------------------- citations

def test_every_rule_cites_a_declared_source():
    model = cms_pack().model
    declared = {s.name for s in model.sources}
    bad = [r.id for r in model.rules if not r.citations or any(c.source.name not in declared for c in r.citations)]
    assert not bad, "rules without a declared source: " + ", ".join(bad)


def test_every_code_cites_a_declared_source():
    model = cms_pack().model
    declared = {s.name for s in model.sources}
    bad = [c.name for c in model.codes if any(x.source.name not in declared for x in c.citations)]
    assert not bad, "codes citing undeclared sources: " + ", ".join(bad)


def test_pages_are_unverified_except_the_two_display_copy_pages():
    bad = []
    seen = set()
    for where, c in _all_citations(cms_pack().model):
        if c.page is None:
            continue
        pattern = VERIFIED_PAGES.get(c.source.name)
        if pattern is None or not pattern.match(c.page):
            bad.append(f"{where}: {c.source.name} page {c.page!r}")
        else:
            seen.add(c.source.name)
    assert not bad, "pages DOMAIN.md does not verify:\n" + "\n".join(bad)
    assert seen == {"FR17", "FR26"}, f"the verified display-copy pages are cited: {sorted(seen)}"


def test_no_section_names_are_invented():
    """DOMAIN.md gives no section names for any source, so no citation carries one."""
    bad = [f"{where}: {c.source.name} section {c.section!r}" for where, c in _all_citations(cms_pack().model)
           if c.section]
    assert not bad, "\n".join(bad)


def test_federal_register_citations_say_page_unverified_or_give_a_verified_page():
    """FR25/FR26 (and FR17) are cited at document level; a page appears only where verified."""
    for where, c in _all_citations(cms_pack().model):
        if c.source.name in ("FR25", "FR26", "FR17") and c.page is not None:
            assert VERIFIED_PAGES[c.source.name].match(c.page), where


@pytest.mark.skipif(not (DOMAIN_DIR / "DOMAIN.md").is_file(), reason="DOMAIN.md and the seed files are not here")
def test_quotes_are_verbatim_from_domain_or_a_seed():
    texts = [(DOMAIN_DIR / "DOMAIN.md").read_text(encoding="utf-8")]
    texts += [Path(f).read_text(encoding="utf-8") for f in sorted(glob.glob(str(DOMAIN_DIR / "seeds" / "*")))]
    corpus = re.sub(r"\s+", " ", "\n".join(texts))
    # Quotes from sources read outside DOMAIN.md are recorded, with where and when, in
    # tests/data/quotes_read_elsewhere.json; each is allowed for its source only.
    elsewhere = {(q["source"], q["quote"]) for q in json.loads(
        (Path(__file__).parent / "data" / "quotes_read_elsewhere.json").read_text(encoding="utf-8"))}
    bad = [f"{where}: {c.source.name} {c.quote!r}" for where, c in _all_citations(cms_pack().model)
           if c.quote and re.sub(r"\s+", " ", c.quote) not in corpus and (c.source.name, c.quote) not in elsewhere]
    assert not bad, "quotes not found verbatim:\n" + "\n".join(bad)


# ---------------------------------------------------------------- the pack follows its plan

def test_the_pack_has_exactly_the_rules_of_the_plan():
    ids = {r.id for r in cms_pack().model.rules}
    planned = set(plan_rows())
    assert not planned - ids, f"planned rules missing from the pack: {sorted(planned - ids)}"
    assert not ids - planned, f"rules not in the plan: {sorted(ids - planned)}"


def test_rules_have_the_planned_severity_dates_and_sources():
    model = cms_pack().model
    declared = {s.name for s in model.sources}
    bad = []
    for r in model.rules:
        row = plan_rows()[r.id]
        start = r.declared_window.start.isoformat() if r.declared_window.start else "—"
        end = r.declared_window.end.isoformat() if r.declared_window.end else "—"
        if (r.severity, start, end) != (row["Sev"], row["From"], row["Until"]):
            bad.append(f"{r.id}: {(r.severity, start, end)} but the plan says {(row['Sev'], row['From'], row['Until'])}")
        missing = planned_sources(r.id, declared) - {c.source.name for c in r.citations}
        if missing:
            bad.append(f"{r.id}: does not cite {sorted(missing)}")
    assert not bad, "\n".join(bad)


def test_disputed_choices_name_the_other_side():
    """Every conflict of DOMAIN §8 that the plan encodes as a rule carries a `dispute` note."""
    rules = {r.id: r for r in cms_pack().model.rules}
    disputed = ["fqhc.g0511.fr25-transition-end", "fqhc.g0511.not-payable", "apcm.addon.no-standalone-bh",
                "apcm.bundled.other-practitioner", "apcm.initiating-visit", "pcm.condition-duration",
                "rpm.99445.period-before-2026", "cocm.99492.subsequent-month", "apcm.addon.g0568.subsequent-month",
                "apcm.no-activity", "apcm.addon.documented", "rpm.99453.device-criteria"]
    missing = [rid for rid in disputed if not rules[rid].disputes]
    assert not missing, "disputed rules without a dispute note: " + ", ".join(missing)
    g0511 = rules["fqhc.g0511.fr25-transition-end"]
    assert any(d.source is not None and d.source.name == "FR25" for d in g0511.disputes)


def test_unsure_rules_warn():
    """UNSURE facts are warnings (DOMAIN §10): the rules the plan builds on them never deny."""
    rules = {r.id: r for r in cms_pack().model.rules}
    unsure = ["apcm.addon.one-pathway", "apcm.addon.no-standalone-bh", "apcm.addon.g0568.subsequent-month",
              "apcm.no-activity", "apcm.bundled.other-practitioner", "fqhc.g0511.fr25-transition-end",
              "rtm.98986.payment-status", "rpm.99445.period-before-2026", "rpm.99453.device-criteria",
              "consent.practitioner", "consent.other-programs", "consent.addon-bh", "cocm.99492.subsequent-month",
              "cocm.team", "pcm.ccm-other-practitioner", "excl.part-a-inpatient.partial"]
    assert [rid for rid in unsure if rules[rid].severity != "warn"] == []


# ---------------------------------------------------------------- DOMAIN §9 scenarios

SCENARIOS = sorted({e["scenario"] for e in expectations().values() if e.get("scenario")})


def test_all_43_scenarios_are_encoded_in_the_examples():
    assert SCENARIOS == [f"SC-{n:02d}" for n in range(1, 44)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario):
    results, rejections, _ = evaluated_examples()
    cases = {k: e for k, e in expectations().items() if e.get("scenario") == scenario}
    assert cases
    for key, exp in sorted(cases.items()):
        if exp.get("rejected"):
            assert key in rejections, f"{key}: expected a rejection, got a result"
            assert rejections[key].path == "$.month"
            continue
        assert key in results, f"{key}: rejected ({rejections.get(key)})"
        assert verdicts(results[key]) == expected_verdicts(exp), f"{key} ({scenario})"


# ---------------------------------------------------------------- suggestions

# Record -> the suggestions (code, units) it should get, exactly. The language can expect a
# suggestion but not its absence, so the "nothing else" part is checked here.
EXPECTED_SUGGESTIONS = {
    "SC01-A1001|2025-02": {("G0557", 1)},             # G0558 without QMB (SC-02)
    "SC03-A1002|2025-03": {("G0556", 1)},             # G0558 with one condition (SC-03)
    "SC20-A1018|2025-06": {("G0556", 1)},             # CCM with one condition (SC-20)
    "FX01-A1201|2025-07": set(),                      # the fitting tier is already billed
    "SC07-A1005|2025-04": set(),
    "SC17-A1015|2025-05": {("99439", 1)},             # 45 minutes (SC-17)
    "SC18-A1016|2025-05": {("99439", 2)},             # 75 minutes, billed x3 (SC-18)
    "SC24-A1023|2025-08": set(),                      # 99490 with complex CCM: no 99439 units
    "SC29-A1028|2026-01": {("99445", 1)},             # 99454 with 10 days (SC-29)
    "SC30-A1029|2025-11": set(),                      # nothing is billable for 10 days in 2025
    "SC31-A1030|2026-02": {("99470", 1)},             # 99457 with 14 minutes (SC-31)
    "SC13-A1011|2026-02": {("G0569", 1)},             # G0568 again (SC-13)
    "SC33-F3001|2025-05": set(),                      # G0511 inside the FR25 transition
    "SC35-R4001|2025-11": {("99490", 1)},             # G0511 retired (SC-35)
    "SC36-R4002|2026-01": {("99492", None), ("99493", None), ("99494", None), ("G2214", None)},
    "SC37-F3003|2026-02": {("98016", None), ("G2250", None), ("G2251", None), ("G2252", None)},
}


@pytest.mark.parametrize("key", sorted(EXPECTED_SUGGESTIONS))
def test_suggestions(key):
    results, _, _ = evaluated_examples()
    got = {(s.code, s.units) for s in results[key].suggestions}
    assert got == EXPECTED_SUGGESTIONS[key]
    assert all(s.reason for s in results[key].suggestions)


def test_g0071_candidates_are_marked_unverified():
    results, _, _ = evaluated_examples()
    for s in results["SC37-F3003|2026-02"].suggestions:
        assert "not verified" in s.reason and "candidate" in s.reason


# ---------------------------------------------------------------- the example practice overlay

def test_overlay_loads_and_extends_the_bundled_pack():
    loaded = load(OVERLAY_DIR)
    assert loaded.ok, render_text(loaded.diagnostics, loaded.texts)
    assert not loaded.diagnostics
    model = overlay_pack().model
    assert model.name == OVERLAY_NAME and model.version.startswith("2026.")
    owners = {r.id: r.pack for r in model.rules}
    assert owners["apcm.g0558.qmb"] == PACK_NAME          # inherited
    assert owners["practice.care-plan-reviewed"] == OVERLAY_NAME
    assert owners["apcm.addon.no-standalone-bh"] == OVERLAY_NAME  # overridden
    assert model.coverage == cms_pack().model.coverage


def test_overlay_rules_cite_its_own_source():
    model = overlay_pack().model
    own = [r for r in model.rules if r.pack == OVERLAY_NAME]
    assert own and all(any(c.source.name == "MAPLE_POLICY" for c in r.citations) for r in own)
    override = next(r for r in own if r.id == "apcm.addon.no-standalone-bh")
    assert override.severity == "deny" and override.disputes


def test_overlay_tests_pass_with_full_coverage():
    rep = run_tests(overlay_pack())
    failing = [f"{c.name}: {'; '.join(c.failures)}" for c in rep.cases if not c.passed]
    assert not failing, "\n".join(failing)
    assert rep.coverage.complete, rep.coverage
    names = {c.name for c in rep.cases}
    assert any("denied here (the CMS pack only warns" in n for n in names)


def test_overlay_override_changes_the_outcome_of_sc15():
    record = next(r for r in example_records() if key_of(r) == "SC15-A1013|2026-03")
    line = next(c["line"] for c in record["claims"] if c["code"] == "99484")

    def verdict(pack):
        (result,) = list(evaluate(pack, [record]))
        assert not isinstance(result, Rejection)
        return next(v for v in result.lines if v.line == line)

    base, practice = verdict(cms_pack()), verdict(overlay_pack())
    assert base.verdict == "allow" and "apcm.addon.no-standalone-bh" in base.warnings
    assert practice.verdict == "deny" and "apcm.addon.no-standalone-bh" in practice.rules
