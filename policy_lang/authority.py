"""How much a source weighs: the fixed set of source kinds, grouped into tiers.

A pack declares each source's ``kind``; the checker accepts only the kinds below, every
rule must rest on at least one ``primary`` source (a warning, or an error when the
pack's ``[citations] require_primary = true``), and citations are shown in authority
order everywhere (results, the CLI, evidence packets, the site, the editor): primary,
then contractor, then secondary, each tier in the order written.

The tiers say who speaks: ``primary`` is the law and the agency that applies it
(statutes, regulations, Final Rules and their corrections, the agency's manuals and
guidance, the code set's own descriptors); ``contractor`` is a contractor applying it in
its region (articles, local coverage determinations); ``secondary`` is everyone else
(proposed rules, which are not policy; trade and professional bodies, law firms,
vendors, payers, other pages). The kinds are general; a pack's sources say which
statute or agency they are.
"""

from __future__ import annotations

# tier -> (kind -> what it is), in authority order
TIERS: dict = {
    "primary": {
        "statute": "a statute (an act, a section of a code of laws)",
        "regulation": "a regulation as codified (e.g. a section of the Code of Federal Regulations)",
        "final_rule": "a final rule as published (e.g. in the Federal Register)",
        "correction": "a correction or correcting amendment of a final rule",
        "manual": "the agency's own manual",
        "guidance": "the agency's guidance: booklets, FAQs, fact sheets, its web pages",
        "descriptor": "a code set's own descriptor of a code",
    },
    "contractor": {
        "mac_article": "a contractor's article or billing guide",
        "lcd": "a contractor's local coverage determination",
    },
    "secondary": {
        "proposed_rule": "a proposed rule (not policy until finalised)",
        "trade": "a trade or professional association",
        "law_firm": "a law firm's alert or article",
        "vendor": "a vendor's article, guide or tool",
        "payer": "another payer's policy",
        "other": "any other page",
    },
}
KINDS: dict = {kind: tier for tier, kinds in TIERS.items() for kind in kinds}
TIER_ORDER: tuple = tuple(TIERS)
PRIMARY = "primary"


def tier_of(kind: str | None) -> str | None:
    """The tier of a source kind, or None for a kind outside the fixed set."""
    return KINDS.get(kind or "")


def rank(kind: str | None) -> int:
    """0 for primary, 1 contractor, 2 secondary, 3 for a kind outside the set."""
    tier = tier_of(kind)
    return TIER_ORDER.index(tier) if tier else len(TIER_ORDER)


def by_authority(citations) -> list:
    """Citations (anything with ``.source.kind``) ordered by their source's tier, then as
    written: a stable sort, so equal tiers keep the author's order."""
    return [c for _, c in sorted(enumerate(citations), key=lambda ic: (rank(ic[1].source.kind), ic[0]))]


def has_primary(citations) -> bool:
    return any(tier_of(c.source.kind) == PRIMARY for c in citations)
