"""The bundled CMS care-management pack: it checks, its own tests pass and cover every rule,
its citations are honest (a primary source for every rule, no invented page, section or quote),
nothing internal reaches a user, the intended verdicts of the example patient-months hold, and
the example practice overlay extends it and changes one disputed outcome. Everything it reads
is inside the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rulecite.interpreter import evaluate
from rulecite.interpreter.tools.packtest import run_tests
from rulecite.interpreter.engine.results import Rejection
from rulecite.policy_lang import load, render_text
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.load import bundled_names

from .cms_support import (OVERLAY_DIR, OVERLAY_NAME, PACK_DIR, PACK_NAME, cms_pack, evaluated_examples,
                          example_records, expectations, expected_verdicts, key_of, overlay_pack, plan_rows,
                          planned_sources, verdicts)

# Source kinds, in three tiers.
PRIMARY_KINDS = {"statute", "regulation", "final_rule", "correction", "manual", "guidance", "descriptor"}
CONTRACTOR_KINDS = {"mac_article", "lcd"}
SECONDARY_KINDS = {"proposed_rule", "trade", "law_firm", "vendor", "payer", "other"}

# Pages a source read shows. None: no Federal Register provision page was read, and the
# display-copy pages known (FR17 p. 278, FR26 p. 427) are leads nobody read, so every
# citation of a rule says "page unverified".
VERIFIED_PAGES: dict = {}

# Sections a source read shows: the table of contents of the Claims Processing Manual, ch. 9,
# and of the CCM booklet MLN909188.
VERIFIED_SECTIONS = {
    "CPM_CH9": {"70.7 Virtual Communication Services",
                "70.8 General Care Management Services - Chronic Care and Psychiatric Collaborative Care Model "
                "(CoCM) Services"},
    "MLN909188": {"Initiating Visit", "Patient Consent", "Comprehensive Care Plan"},
}

# Quotes, each with the source it was read in, where and when (verified against the text read).
QUOTES = Path(__file__).parent / "data" / "cms_quotes_read.json"

# Words that name internal material and must not reach a user through any file of the pack.
INTERNAL = re.compile(r"DOMAIN|§|RULES-PLAN|/work/|\bseeds?\b|\bS00[0-4]\b|\b[0-9a-f]{3}_[0-9a-f]{16}\b"
                      r"|\b(?:CAT|EXCL|TIME|ELIG|CONS|PLAN|FQ|SC)-\d")


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


def test_every_source_has_a_known_kind():
    kinds = PRIMARY_KINDS | CONTRACTOR_KINDS | SECONDARY_KINDS
    bad = [f"{s.name}: {s.kind}" for s in cms_pack().model.sources if s.kind not in kinds]
    assert not bad, "sources with a kind outside the three tiers: " + ", ".join(bad)


def test_every_rule_cites_a_primary_source_first():
    bad = []
    for r in cms_pack().model.rules:
        tiers = [0 if c.source.kind in PRIMARY_KINDS else 1 if c.source.kind in CONTRACTOR_KINDS else 2
                 for c in r.citations]
        if not tiers or tiers[0] != 0:
            bad.append(f"{r.id}: no primary source first")
        elif tiers != sorted(tiers):
            bad.append(f"{r.id}: a secondary source is cited before a primary one")
    assert not bad, "\n".join(bad)


def test_every_code_cites_a_primary_source():
    bad = [c.name for c in cms_pack().model.codes if not any(x.source.kind in PRIMARY_KINDS for x in c.citations)]
    assert not bad, "codes without a primary source: " + ", ".join(bad)


def test_the_establishing_final_rules_are_declared():
    sources = {s.name: s for s in cms_pack().model.sources}
    for name in ["FR15", "FR17", "FR18", "FR19", "FR20", "FR21", "FR22", "FR24", "FR25", "FR26"]:
        assert sources[name].kind == "final_rule", name
    assert sources["FR17"].document == "2016-26668" and sources["FR17"].citation == "81 FR 80170"
    g2058 = next(c for c in cms_pack().model.codes if c.name == "G2058")
    assert g2058.replaced_by == ("99439",) and "FR21" in {x.source.name for x in g2058.citations}


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
    assert not bad, "pages no source read shows:\n" + "\n".join(bad)
    assert seen <= set(VERIFIED_PAGES)


def test_no_section_names_are_invented():
    """Only section titles read in a table of contents appear, each for its own source."""
    bad = [f"{where}: {c.source.name} section {c.section!r}" for where, c in _all_citations(cms_pack().model)
           if c.section and c.section not in VERIFIED_SECTIONS.get(c.source.name, set())]
    assert not bad, "\n".join(bad)


def test_federal_register_citations_are_document_level():
    """Every Final Rule is cited at document level (page unverified) unless a display-copy page was read."""
    for where, c in _all_citations(cms_pack().model):
        if c.source.kind in ("final_rule", "correction", "proposed_rule") and c.page is not None:
            assert c.page == "unverified" or VERIFIED_PAGES.get(c.source.name, re.compile("$^")).match(c.page), where


def test_quotes_are_recorded_with_where_they_were_read():
    recorded = json.loads(QUOTES.read_text(encoding="utf-8"))
    assert all(q["where"] and q["read"] and q["how"] for q in recorded)
    known = {(q["source"], re.sub(r"\s+", " ", q["quote"])) for q in recorded}
    bad = [f"{where}: {c.source.name} {c.quote!r}" for where, c in _all_citations(cms_pack().model)
           if c.quote and (c.source.name, re.sub(r"\s+", " ", c.quote)) not in known]
    assert not bad, "quotes not recorded as read:\n" + "\n".join(bad)


def test_no_internal_reference_reaches_a_user():
    """No file of the pack (rules, notes, comments, test names, pack.toml, schema) names the
    internal research material, its row ids, the seed articles' ids or file names, the planning
    file or a machine path."""
    bad = []
    for path in sorted(PACK_DIR.rglob("*")):
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INTERNAL.search(line):
                bad.append(f"{path.relative_to(PACK_DIR)}:{n}: {line.strip()[:120]}")
    assert not bad, "internal references in the pack:\n" + "\n".join(bad)
    assert not (PACK_DIR / "RULES-PLAN.md").exists()


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
    """Every conflict between sources that the plan encodes as a rule carries a `dispute` note."""
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
    """Facts the sources leave unsettled are warnings: the rules built on them never deny."""
    rules = {r.id: r for r in cms_pack().model.rules}
    unsure = ["apcm.addon.one-pathway", "apcm.addon.no-standalone-bh", "apcm.addon.g0568.subsequent-month",
              "apcm.no-activity", "apcm.bundled.other-practitioner", "fqhc.g0511.fr25-transition-end",
              "rtm.98986.payment-status", "rpm.99445.period-before-2026", "rpm.99453.device-criteria",
              "consent.practitioner", "consent.other-programs", "consent.addon-bh", "cocm.99492.subsequent-month",
              "pcm.ccm-other-practitioner", "excl.part-a-inpatient.partial", "record.line-date-outside-month"]
    assert [rid for rid in unsure if rules[rid].severity != "warn"] == []


# ---------------------------------------------------------------- the 43 scenarios of the example patient-months

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
    # The practice's house rule rests on its own policy only, and the checker says so.
    assert [(d.code, d.message.split("`")[1]) for d in loaded.diagnostics] == \
        [("W702", "practice.care-plan-reviewed")]
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


def test_every_unit_limit_rule_has_a_case_breaking_the_limit_for_each_code():
    """`rulecite test --coverage` lists unit-limit rules (tag `units`) without a case that
    breaks the limit for a code; the CMS pack has none left."""
    from rulecite.interpreter.tools.packtest import UNITS_TAG, run_tests

    pack = cms_pack()
    report = run_tests(pack)
    tagged = [r for r in pack.model.rules if UNITS_TAG in r.tags and r.codes]
    assert len(tagged) >= 3
    assert report.coverage.without_unit_case == ()
    # the check can fail: without the tests of one code, that code is reported
    code = sorted(tagged[0].codes)[0]
    kept = tuple(c for c in report.cases if not any(
        tagged[0].id in v.rules + v.warnings and v.code == code
        for v in (c.result.lines if hasattr(c.result, "lines") else ())))
    from rulecite.interpreter.tools.packtest import coverage

    assert (tagged[0].id, code) in coverage(pack, kept).without_unit_case
