"""Generate the Markdown reference of one checked pack for the documentation site.

Takes a ``Pack`` (the checked model, the same one the interpreter runs); gives Markdown
pages: an index, one page per rule id (every version, with what came before and after
it), the code catalog with a year-by-year timeline, the sources with every rule that
cites each (the reverse index), the facts schema, and what changed between years.
Because the pages come from the model, the site cannot drift from the rules that run.

One module per page kind (``index``, ``rules``, ``codes``, ``sources``, ``schema``,
``changes``); ``common`` holds what they share (windows, anchors, citation lines).

Output is pure and deterministic: sorted, no clock, no absolute paths. Pack text is
untrusted: every string from a pack or its schema goes through ``reports.markup``
(``md_text``: HTML and Markdown escaped; ``nav_text`` for navigation titles), every link
through ``markup.safe_url`` (http and https only), every citation through
``reports.citations``' wording, and rule source sits in a code fence longer than any run
of backticks inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from rulecite.interpreter.reports.markup import nav_text
from rulecite.interpreter.reports.site.changes import change_dates, changes_page, dated_changes, render_diff
from rulecite.interpreter.reports.site.codes import codes_page
from rulecite.interpreter.reports.site.common import family, rule_page, source_href
from rulecite.interpreter.reports.site.index import index_page
from rulecite.interpreter.reports.site.parameters import parameters_page
from rulecite.interpreter.reports.site.rules import render_rule_page
from rulecite.interpreter.reports.site.schema import schema_fields, schema_page
from rulecite.interpreter.reports.site.sources import sources_page
from rulecite.policy_lang.model import Pack


def render_pack_reference(pack: Pack, *, exercised: Mapping | None = None) -> dict:
    """Every page of the pack's reference as ``{relative path: Markdown}``.

    ``exercised`` optionally maps a rule id to the names of the pack tests in which it
    fired (the interpreter knows; the model alone only knows which tests name a rule).
    """
    pages = {
        "index.md": index_page(pack),
        "codes.md": codes_page(pack),
        "sources.md": sources_page(pack),
        "schema.md": schema_page(pack),
        "changes.md": changes_page(pack),
    }
    if pack.parameters:
        pages["parameters.md"] = parameters_page(pack)
    for rule_id in pack.rule_ids:
        pages[rule_page(rule_id)] = render_rule_page(pack, rule_id, exercised or {})
    return dict(sorted(pages.items()))


def write_pack_reference(pack: Pack, out_dir: Path, *, exercised: Mapping | None = None) -> list:
    """Write the pack's reference pages under ``out_dir``; return the paths written,
    sorted. Files are rewritten only when their content changed (so a live-reloading
    docs server does not loop)."""
    out_dir = Path(out_dir)
    written = []
    for rel, text in render_pack_reference(pack, exercised=exercised).items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return sorted(written)


def reference_nav(pack: Pack, prefix: str) -> list:
    """The mkdocs ``nav`` entries of a pack's reference, under ``prefix`` (the folder of
    the pages relative to ``docs/``), rules grouped by the first part of their id."""
    rules_by_family: dict = {}
    for rid in pack.rule_ids:
        rules_by_family.setdefault(family(rid), []).append({nav_text(rid): f"{prefix}/{rule_page(rid)}"})
    return [
        {"Overview": f"{prefix}/index.md"},
        {"Rules": [{nav_text(fam): items} for fam, items in sorted(rules_by_family.items())]},
        {"Code catalog": f"{prefix}/codes.md"},
        {"Sources": f"{prefix}/sources.md"},
        *([{"Dated parameters": f"{prefix}/parameters.md"}] if pack.parameters else []),
        {"What changed": f"{prefix}/changes.md"},
        {"Facts schema": f"{prefix}/schema.md"},
    ]


__all__ = ["change_dates", "dated_changes", "reference_nav", "render_diff", "render_pack_reference", "rule_page",
           "schema_fields", "source_href", "write_pack_reference"]
