"""``rulecite sources``: the citation report, sources by authority tier and the rules citing
each, checked against the pack model it is built from."""

from __future__ import annotations

import json
import shutil

from rulecite.policy_lang import load
from rulecite.policy_lang.authority import TIER_ORDER, tier_of

from .cli_support import CMS, LIBRARY, run


def test_json_lists_every_rule_with_its_citations_in_authority_order():
    r = run(["sources", "cms-care-management", "--format", "json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    pack = load(CMS).pack
    assert [x["id"] for x in report["rules"]] == pack.rule_ids
    for rule in report["rules"]:
        tiers = [TIER_ORDER.index(c["tier"]) for c in rule["citations"]]
        assert tiers == sorted(tiers), rule["id"]  # authority order
        assert rule["primary"] and rule["citations"][0]["tier"] == "primary", rule["id"]
        for c in rule["citations"]:
            assert set(c) <= {"source", "kind", "tier", "page", "section", "quote", "restates"}
    t = report["totals"]
    assert t["rules"] == len(pack.rule_ids) and t["rules_with_primary"] == t["rules"]
    assert t["rules_secondary_only"] == []
    keys = [s["key"] for s in report["sources"]]
    assert sorted(keys) == sorted(s.name for s in pack.sources)
    assert report["sources"][0]["kind"] == "final_rule"  # Final Rules first
    for s in report["sources"]:
        assert s["tier"] == tier_of(s["kind"])
        cited = {x["id"] for x in report["rules"] if any(c["source"] == s["key"] for c in x["citations"])}
        assert set(s["cited_by"]) == cited, s["key"]


def test_no_citation_invents_a_page():
    """A page appears only where the pack's citation gives one; every other citation says
    'unverified'."""
    report = json.loads(run(["sources", "cms-care-management", "--format", "json"]).stdout)
    pack = load(CMS).pack
    pages = {(r.id, c.source.name, c.page) for r in pack.rules for c in r.citations}
    for rule in report["rules"]:
        for c in rule["citations"]:
            given = c["page"] if c["page"] != "unverified" else None
            assert (rule["id"], c["source"], given) in pages


def test_text_groups_sources_by_tier_and_gives_the_totals():
    r = run(["sources", "cms-care-management"])
    assert r.exit_code == 0
    out = r.stdout
    assert out.index("\nPRIMARY\n") < out.index("\nCONTRACTOR\n") < out.index("\nSECONDARY\n")
    assert "Rules with a primary citation:" in out and "Rules resting on secondary sources only: none" in out


def test_require_primary_fails_for_a_rule_on_secondary_sources_only(tmp_path):
    pack = tmp_path / "library"
    shutil.copytree(LIBRARY, pack)
    report = json.loads(run(["sources", pack, "--format", "json"]).stdout)
    weak = report["totals"]["rules_secondary_only"] + report["totals"]["rules_without_citation"]
    r = run(["sources", pack, "--require-primary"])
    assert r.exit_code == (1 if weak else 0)
    for f in pack.glob("*.policy"):  # every source becomes a vendor page: nothing primary is left
        f.write_text("\n".join(ln.replace("kind ", "kind vendor #") if ln.strip().startswith("kind ") else ln
                               for ln in f.read_text().split("\n")))
    r = run(["sources", pack, "--require-primary", "--format", "json"])
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["totals"]["rules_with_primary"] == 0


def test_sources_cited_by_data_are_not_reported_as_cited_by_nothing():
    # The CMS pack's amounts table cites the RVU files; no rule does. The report keeps the
    # old key (cited by no rule) and says what else cites them.
    report = json.loads(run(["sources", "cms-care-management", "--format", "json"]).stdout)
    by_key = {s["key"]: s for s in report["sources"]}
    rvu = by_key["PFS_RVU26A"]
    assert rvu["cited_by"] == [] and rvu["also_cited_by"].get("amount row", 0) > 0
    totals = report["totals"]
    assert "PFS_RVU26A" in totals["sources_cited_by_no_rule"]
    assert "PFS_RVU26A" not in totals["sources_cited_by_nothing"]
    assert set(totals["sources_cited_by_nothing"]) <= set(totals["sources_cited_by_no_rule"])
    for key in totals["sources_cited_by_nothing"]:
        assert not by_key[key]["cited_by"] and not by_key[key]["also_cited_by"]
    text = run(["sources", "cms-care-management"]).stdout
    assert "Sources nothing cites: " in text and "PFS_RVU26A" not in text.split("Sources nothing cites: ")[1]
